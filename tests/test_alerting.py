"""Alerts over real connections: two gateway processes on one Redis, a Slack receiver that
validates Block Kit as Slack does, and a generic webhook receiver.

The alert types are driven by real traffic: a deployment failing on both processes at once
(one cooldown alert for the fleet, then one recovery), a virtual key crossing 50% and 80% of
its budget, a request slower than ``alerting_threshold`` (and hanging meanwhile), the
ledger's database unreachable, and a spend report. A receiver that hangs or is gone slows
no request and is counted in ``gateway_alerts_total``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.clients import CLIENT_TIMEOUT_S, sdk_client
from support.control import Admin, control_db, fleet_env, wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import Fail, Reply
from support.redis_server import SHARED_REDIS_URL, shared_redis_prefix
from support.slack_blocks import SlackReceiver, block_kit_problems
from support.webhook_receiver import WebhookReceiver

__all__ = ["control_db", "shared_redis_prefix"]

PROMPT = "the confidential merger memo"
MESSAGES = [{"role": "user", "content": PROMPT}]
SLACK_PATH = "/services/T000/B000/slack-secret-token"
# Alerts gather for batch_window before they are sent; give them this long to arrive.
ARRIVAL_S = 15.0


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    server = SlackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def alert_env(hook: WebhookReceiver, slack: SlackReceiver | None = None) -> dict[str, str]:
    env = {"WEBHOOK_URL": f"{hook.url}/alerts", "PROXY_BASE_URL": "https://gateway.example"}
    if slack is not None:
        env["SLACK_WEBHOOK_URL"] = f"{slack.origin}{SLACK_PATH}"
    return env


def alerting(*types: str, channels: tuple[str, ...] = ("webhook",), **args: Any) -> dict[str, Any]:
    return {
        "alerting": list(channels),
        "alert_types": list(types),
        "alerting_args": {"batch_window": 0.2, **args},
    }


def alerts(hook: WebhookReceiver, alert_type: str, state: str | None = None) -> list[Any]:
    found = [
        alert
        for body in hook.bodies("/alerts")
        for alert in body["alerts"]
        if alert["type"] == alert_type and (state is None or alert["state"] == state)
    ]
    return found


def wait_alerts(
    hook: WebhookReceiver, alert_type: str, count: int = 1, state: str | None = None
) -> list[Any]:
    deadline = time.monotonic() + ARRIVAL_S
    while time.monotonic() < deadline:
        found = alerts(hook, alert_type, state)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{count} {alert_type} alert(s) did not arrive: {hook.received}")


def alert_counts(gateway: GatewayProcess) -> dict[tuple[str, str, str], float]:
    text = httpx.get(f"{gateway.base_url}/metrics", timeout=CLIENT_TIMEOUT_S).text
    return {
        (s.labels["type"], s.labels["channel"], s.labels["result"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "gateway_alerts"
        for s in family.samples
        if s.name == "gateway_alerts_total"
    }


def chat(http: httpx.Client, gateway: GatewayProcess, model: str) -> httpx.Response:
    return http.post(
        f"{gateway.v1_url}/chat/completions",
        headers=gateway.auth_headers(),
        json={"model": model, "messages": MESSAGES},
    )


def no_secrets(text: str, *secrets: str) -> None:
    for secret in (PROMPT, "slack-secret-token", *secrets):
        assert secret not in text, f"{secret!r} leaked into an alert"


def test_two_processes_seeing_one_deployment_fail_send_one_cooldown_alert_then_one_recovery(
    fleet: UpstreamFleet,
    start_gateway: StartGateway,
    shared_redis_prefix: str,
    hook: WebhookReceiver,
    slack: SlackReceiver,
) -> None:
    config = {
        "model_list": [fleet.deployment("flaky", "flaky-a"), fleet.deployment("spare", "spare-a")],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 2,
            "fallbacks": [{"flaky": ["spare"]}],
            "redis_key_prefix": shared_redis_prefix,
        },
        "general_settings": alerting(
            "cooldown_deployment", "outage_alerts", channels=("slack", "webhook")
        ),
    }
    env = {"REDIS_URL": SHARED_REDIS_URL, **alert_env(hook, slack)}
    one, other = start_gateway(config, env=env), start_gateway(config, env=env)
    flaky = fleet["flaky-a"]
    # Slow failures: both requests are at the upstream before either process cools it.
    flaky.default = Fail(500, "boom", type="server_error", delay=0.5)
    served: list[str] = []
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        threads = [
            threading.Thread(
                target=lambda g=g: served.append(
                    chat(http, g, "flaky").headers["x-gateway-model-group"]
                )
            )
            for g in (one, other)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert served == ["spare", "spare"]
        assert flaky.calls() == 2
        wait_for(
            lambda: (
                "deployment cooling down" in one.log_text()
                and "deployment cooling down" in other.log_text()
            ),
            "both processes cooling the deployment",
        )
        [cooled] = wait_alerts(hook, "cooldown_deployment", state="firing")
        # Recovery: the deployment answers again; after cooldown_time a probe brings it back.
        flaky.default = Reply(content="flaky is back")
        deadline = time.monotonic() + ARRIVAL_S
        while time.monotonic() < deadline:
            groups = {chat(http, g, "flaky").headers["x-gateway-model-group"] for g in (one, other)}
            if "flaky" in groups:
                break
            time.sleep(0.2)
        [recovered] = wait_alerts(hook, "cooldown_deployment", state="resolved")
        # Both processes now send to flaky: a second recovery would have arrived by now.
        for gateway in (one, other, one, other):
            assert chat(http, gateway, "flaky").status_code == 200
        time.sleep(1.0)

    assert len(alerts(hook, "cooldown_deployment", "firing")) == 1
    assert len(alerts(hook, "cooldown_deployment", "resolved")) == 1
    assert cooled["subject"] == "flaky-a" and cooled["severity"] == "warning"
    assert cooled["where"]["model_group"] == "flaky"
    assert cooled["where"]["deployment"] == "flaky-a"
    assert cooled["where"]["provider"] == "openai"
    assert "1 failures within" in cooled["summary"] and "upstream" in cooled["summary"]
    assert cooled["link"] == "https://gateway.example/health"
    assert "GET /health" in cooled["action"]
    assert recovered["severity"] == "info" and recovered["subject"] == "flaky-a"
    # The group's only deployment was cooling: an outage alert, once.
    [outage] = alerts(hook, "outage_alerts")
    assert outage["subject"] == "flaky" and outage["severity"] == "critical"
    assert "/admin/overrides/flaky" in outage["action"]
    body = hook.received[0][2]
    assert body["version"] == 1 and set(body["source"]) == {"service", "host", "pid"}
    # The fleet's counts: one delivery of each alert, the other process deduplicated.
    counts = [alert_counts(one), alert_counts(other)]
    sent = sum(c.get(("cooldown_deployment", "webhook", "sent"), 0) for c in counts)
    deduplicated = sum(c.get(("cooldown_deployment", "all", "deduplicated"), 0) for c in counts)
    assert sent == 2  # the cooldown and the recovery
    assert deduplicated >= 1
    # Slack got the same alerts, as valid Block Kit.
    assert not slack.refused
    messages = slack.received()
    slack_text = json.dumps(messages)
    assert "Deployment flaky-a cooling down" in slack_text
    assert "Deployment flaky-a recovered" in slack_text
    for message in messages:
        assert block_kit_problems(message) == []
    no_secrets(json.dumps(hook.received) + slack_text, "sk-flaky-a", "sk-spare-a")


def test_a_budget_crossing_50_and_80_percent_is_alerted_once_each(
    fleet: UpstreamFleet,
    start_gateway: StartGateway,
    shared_redis_prefix: str,
    control_db: str,
    hook: WebhookReceiver,
) -> None:
    deployment = fleet.deployment("chat", "chat-a")
    # 11 prompt + 7 completion tokens: $25e-6 a request, against a budget of $120e-6:
    # 21%, 42%, 63% (past 50), 83% (past 80), and 104% (past 100).
    deployment["model_info"].update(input_cost_per_token=1e-06, output_cost_per_token=2e-06)
    config = {
        "model_list": [deployment],
        "router_settings": {"num_retries": 0, "redis_key_prefix": shared_redis_prefix},
        "general_settings": {"proxy_batch_write_at": 0.2, **alerting("budget_alerts")},
    }
    gateway = start_gateway(config, env={**fleet_env(control_db), **alert_env(hook)})
    with Admin(gateway) as admin:
        key = admin.generate_key(key_alias="team-search", max_budget=120e-6, budget_duration="1d")
    with sdk_client(gateway, api_key=key["key"]) as client:
        for _ in range(4):
            client.chat.completions.create(model="chat", messages=MESSAGES)
        found = wait_alerts(hook, "budget_alerts", count=2)
        client.chat.completions.create(model="chat", messages=MESSAGES)
        spent = wait_alerts(hook, "budget_alerts", count=3)
        with pytest.raises(openai.BadRequestError, match="Budget exceeded"):
            client.chat.completions.create(model="chat", messages=MESSAGES)
    levels = [a["figures"]["used"] for a in found[:2]]
    assert levels[0] == pytest.approx(0.625, abs=0.01)
    assert levels[1] == pytest.approx(0.833, abs=0.01)
    assert [a["title"] for a in found[:2]] == [
        "Budget 50% used: key team-search",
        "Budget 80% used: key team-search",
    ]
    assert spent[2]["severity"] == "critical" and spent[2]["title"].startswith("Budget spent")
    assert found[1]["where"] == {"key": "team-search"}
    assert "/key/update" in found[1]["action"]
    assert len(alerts(hook, "budget_alerts")) == 3
    no_secrets(json.dumps(hook.received), key["key"], "sk-chat-a")


def test_slow_and_hanging_requests_past_the_threshold_are_alerted(
    fleet: UpstreamFleet, start_gateway: StartGateway, hook: WebhookReceiver
) -> None:
    config = {
        "model_list": [fleet.deployment("slowpoke", "slow-a")],
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "alerting_threshold": 1,
            **alerting("llm_too_slow", "llm_requests_hanging"),
        },
    }
    gateway = start_gateway(config, env=alert_env(hook))
    fleet["slow-a"].default = Reply(content="eventually", delay=2.0)
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        assert chat(http, gateway, "slowpoke").status_code == 200
        [hanging] = wait_alerts(hook, "llm_requests_hanging")
        [slow] = wait_alerts(hook, "llm_too_slow")
        # Fast requests raise nothing.
        fleet["slow-a"].default = Reply(content="quick")
        for _ in range(5):
            assert chat(http, gateway, "slowpoke").status_code == 200
    assert hanging["where"] == {"model": "slowpoke"}
    assert hanging["figures"]["hanging"] == 1 and hanging["figures"]["longest_s"] > 1
    assert slow["where"] == {"model_group": "slowpoke", "deployment": "slow-a"}
    assert slow["figures"]["seconds"] >= 2.0 and slow["figures"]["threshold_s"] == 1
    assert "alerting_threshold 1s" in slow["summary"]
    time.sleep(1.0)
    assert len(alerts(hook, "llm_too_slow")) == 1


def test_fallbacks_rescuing_a_share_of_a_group_are_reported(
    fleet: UpstreamFleet, start_gateway: StartGateway, hook: WebhookReceiver
) -> None:
    config = {
        "model_list": [
            fleet.deployment("primary", "primary-a"),
            fleet.deployment("backup", "backup-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1000,
            "fallbacks": [{"primary": ["backup"]}],
        },
        "general_settings": alerting(
            "fallback_reports", fallback_share=0.25, fallback_min_requests=8
        ),
    }
    gateway = start_gateway(config, env=alert_env(hook))
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        for _ in range(6):
            assert chat(http, gateway, "primary").status_code == 200
        fleet["primary-a"].default = Fail(503, "overloaded", type="server_error")
        for _ in range(4):
            response = chat(http, gateway, "primary")
            assert response.headers["x-gateway-model-group"] == "backup"
        [report] = wait_alerts(hook, "fallback_reports")
    assert report["subject"] == "primary"
    assert report["figures"]["requests"] == 10 and report["figures"]["rescued"] == 4
    assert report["title"] == "Fallbacks serve 40% of primary's requests"


def test_an_unreachable_ledger_database_is_alerted_without_its_password(
    fleet: UpstreamFleet, start_gateway: StartGateway, hook: WebhookReceiver
) -> None:
    config = {
        "model_list": [fleet.deployment("chat", "chat-a")],
        "general_settings": {"proxy_batch_write_at": 0.2, **alerting("db_exceptions")},
    }
    env = {
        **alert_env(hook),
        "DATABASE_URL": "postgresql://ledger:hunter2-secret@127.0.0.1:9/spend",
    }
    gateway = start_gateway(config, env=env)
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        assert chat(http, gateway, "chat").status_code == 200
        [trouble] = wait_alerts(hook, "db_exceptions")
    assert trouble["title"] == "Spend ledger trouble (postgres)"
    assert "degraded" in trouble["summary"]
    no_secrets(json.dumps(hook.received), "hunter2-secret")


def test_a_spend_report_is_sent_each_period_from_the_ledger(
    fleet: UpstreamFleet, start_gateway: StartGateway, hook: WebhookReceiver
) -> None:
    deployment = fleet.deployment("chat", "chat-a")
    deployment["model_info"].update(input_cost_per_token=1e-06, output_cost_per_token=2e-06)
    config = {
        "model_list": [deployment],
        "general_settings": {
            "proxy_batch_write_at": 0.2,
            **alerting("daily_reports", daily_report_frequency=2, report_check_interval=0.5),
        },
    }
    gateway = start_gateway(config, env=alert_env(hook))
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        for _ in range(3):
            assert chat(http, gateway, "chat").status_code == 200
    deadline = time.monotonic() + ARRIVAL_S
    reports: list[Any] = []
    while time.monotonic() < deadline:
        reports = [r for r in alerts(hook, "daily_reports") if r["figures"]["requests"] >= 3]
        if reports:
            break
        time.sleep(0.1)
    assert reports, hook.received
    report = reports[0]
    assert report["figures"]["spend_usd"] == pytest.approx(3 * 25e-6)
    assert "Most spend: chat $0.0001" in report["summary"]
    assert report["link"] == "https://gateway.example/spend/report?group_by=model"


def test_a_receiver_that_hangs_or_is_gone_slows_no_request_and_is_counted(
    fleet: UpstreamFleet, start_gateway: StartGateway, hook: WebhookReceiver
) -> None:
    # Slack hangs (each attempt runs to the send timeout); the webhook's port is closed.
    hook.hang_s = 60.0
    config = {
        "model_list": [fleet.deployment("flaky", "flaky-a"), fleet.deployment("spare", "spare-a")],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 60,
            "fallbacks": [{"flaky": ["spare"]}],
        },
        "general_settings": alerting(
            "cooldown_deployment", "outage_alerts", channels=("slack", "webhook")
        ),
    }
    env = {
        "SLACK_WEBHOOK_URL": f"{hook.url}{SLACK_PATH}",
        "WEBHOOK_URL": "http://127.0.0.1:9/alerts",
    }
    gateway = start_gateway(config, env=env)
    fleet["flaky-a"].default = Fail(500, "boom", type="server_error")
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        assert chat(http, gateway, "flaky").headers["x-gateway-model-group"] == "spare"
        # Slack's delivery is now stuck on the hanging receiver: traffic goes on.
        hook.wait_for(SLACK_PATH, 1, None)
        for _ in range(20):
            response = chat(http, gateway, "flaky")
            assert response.status_code == 200
            assert response.headers["x-gateway-model-group"] == "spare"
        assert alert_counts(gateway).get(("cooldown_deployment", "slack", "sent"), 0) == 0
        wait_for(
            lambda: alert_counts(gateway).get(("cooldown_deployment", "webhook", "failed"), 0) == 1,
            "the failed webhook delivery counted",
            timeout=ARRIVAL_S,
        )
    assert "alert not delivered" in gateway.log_text()
    no_secrets(gateway.log_text())
