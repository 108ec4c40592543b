"""Alert bodies: Slack's Block Kit within Slack's limits however long or many the alerts,
and the generic webhook body as the README documents it."""

from __future__ import annotations

from gateway.observability.alerting.alert import Alert, slack_messages, webhook_body
from support.slack_blocks import block_kit_problems

SOURCE = {"service": "gateway", "host": "gw-1", "pid": "7"}


def alert(index: int = 0, **fields: object) -> Alert:
    values: dict[str, object] = {
        "type": "cooldown_deployment",
        "subject": f"dep-{index}",
        "severity": "warning",
        "title": f"Deployment dep-{index} cooling down",
        "summary": "Taken out of rotation for 60s: 3 failures within 60s, last: timeout.",
        "action": "GET /health shows every deployment.",
        "since": 1_800_000_000.0,
        "where": {"model_group": "gpt-4o", "deployment": f"dep-{index}"},
        "figures": {"cooling_s": 60.0, "failures": 3},
        "link": "https://gw.example/health",
    }
    values.update(fields)
    return Alert(**values)  # type: ignore[arg-type]


def test_many_alerts_are_split_into_messages_slack_accepts() -> None:
    messages = slack_messages([alert(i) for i in range(30)], SOURCE)
    assert len(messages) == 4  # 8 alerts a message
    for message in messages:
        assert block_kit_problems(message) == []
        assert len(message["blocks"]) <= 50
    headers = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "header"]
    assert headers == [f"Deployment dep-{i} cooling down" for i in range(30)]


def test_long_and_markup_laden_text_is_clipped_and_escaped() -> None:
    long = alert(
        title="T" * 400,
        summary="<!channel> & " + "x" * 5000,
        where={f"k{i}": "v" * 3000 for i in range(14)},
    )
    [message] = slack_messages([long], SOURCE)
    assert block_kit_problems(message) == []
    header, summary = message["blocks"][0], message["blocks"][1]
    assert len(header["text"]["text"]) == 150
    assert summary["text"]["text"].startswith(":warning: &lt;!channel&gt; &amp; ")
    fields = message["blocks"][2]["fields"]
    assert len(fields) == 10


def test_a_recovery_is_marked_resolved_and_green() -> None:
    [message] = slack_messages([alert(state="resolved", severity="info")], SOURCE)
    assert message["blocks"][1]["text"]["text"].startswith(":large_green_circle:")
    assert "resolved" in message["blocks"][-1]["elements"][0]["text"]


def test_the_webhook_body_has_the_documented_fields() -> None:
    body = webhook_body([alert()], SOURCE)
    assert body["version"] == 1 and body["source"] == SOURCE
    [one] = body["alerts"]
    assert set(one) == {
        "type", "state", "severity", "subject", "title", "summary", "action", "link",
        "since", "raised_at", "where", "figures",
    }  # fmt: skip
    assert one["since"] == "2027-01-15T08:00:00Z"
    assert one["state"] == "firing"
