"""One alert, and the two bodies it is sent as: Slack blocks and the documented webhook JSON.

An alert carries names (model groups, deployments, provider hosts, key aliases),
figures and times, never a prompt, a completion, a key or a credential: the
watchers build them from what the metrics already label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]

# The webhook body's version: bumped only when a field changes meaning or goes away.
WEBHOOK_BODY_VERSION = 1
# Slack refuses a message of more than 50 blocks; an alert takes at most 6.
SLACK_MAX_BLOCKS = 50
SLACK_ALERTS_PER_MESSAGE = 8
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
SLACK_FIELD_CHARS = 2000
SLACK_MAX_FIELDS = 10
SEVERITY_MARK = {
    "info": ":large_green_circle:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}


@dataclass(frozen=True, slots=True)
class Alert:
    type: str  # the alert type, as ``alert_types`` names it (cooldown_deployment, ...)
    subject: str  # what it is about, for deduplication (a deployment id, a group, a key)
    severity: Severity
    title: str  # what happened, in a line
    summary: str  # how bad, in a sentence or two
    action: str  # what to do
    since: float  # wall clock: when the condition began
    where: dict[str, str] = field(default_factory=dict)  # model_group, deployment, ...
    figures: dict[str, float | int] = field(default_factory=dict)  # how bad, as numbers
    link: str | None = None  # the admin route (or page) to act on it
    state: str = "firing"  # firing, or resolved for a recovery
    # Deduplication: alerts with one key are sent once per ``ttl_s`` across the fleet.
    dedup_key: str = ""
    ttl_s: float = 300.0
    raised_at: float = field(default_factory=time.time)

    def key(self) -> str:
        return self.dedup_key or f"{self.type}:{self.state}:{self.subject}"


def webhook_body(alerts: list[Alert], source: dict[str, str]) -> dict[str, Any]:
    """The generic webhook's JSON (documented in the README)."""
    return {
        "version": WEBHOOK_BODY_VERSION,
        "source": source,
        "alerts": [
            {
                "type": a.type,
                "state": a.state,
                "severity": a.severity,
                "subject": a.subject,
                "title": a.title,
                "summary": a.summary,
                "action": a.action,
                "link": a.link,
                "since": _iso(a.since),
                "raised_at": _iso(a.raised_at),
                "where": a.where,
                "figures": a.figures,
            }
            for a in alerts
        ],
    }


def slack_messages(alerts: list[Alert], source: dict[str, str]) -> list[dict[str, Any]]:
    """Slack incoming-webhook messages (Block Kit), a few alerts each."""
    messages = []
    for start in range(0, len(alerts), SLACK_ALERTS_PER_MESSAGE):
        chunk = alerts[start : start + SLACK_ALERTS_PER_MESSAGE]
        blocks: list[dict[str, Any]] = []
        for alert in chunk:
            if blocks:
                blocks.append({"type": "divider"})
            blocks.extend(_slack_blocks(alert, source))
        text = "; ".join(f"[{a.severity}] {a.title}" for a in chunk)
        messages.append({"text": _clip(text, SLACK_TEXT_CHARS), "blocks": blocks})
    return messages


def _slack_blocks(alert: Alert, source: dict[str, str]) -> list[dict[str, Any]]:
    mark = SEVERITY_MARK[alert.severity]
    if alert.state == "resolved":
        mark = SEVERITY_MARK["info"]
    header = _clip(f"{alert.title}", SLACK_HEADER_CHARS)
    fields = [
        {"type": "mrkdwn", "text": _clip(f"*{name}*\n{_escape(value)}", SLACK_FIELD_CHARS)}
        for name, value in [*alert.where.items(), *_figures(alert.figures)]
    ][:SLACK_MAX_FIELDS]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(f"{mark} {_escape(alert.summary)}", SLACK_TEXT_CHARS),
            },
        },
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    action = _escape(alert.action)
    if alert.link:
        action += f"\n<{alert.link}|{_escape(alert.link)}>"
    todo = _clip(f"*What to do*: {action}", SLACK_TEXT_CHARS)
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": todo}})
    context = (
        f"{alert.type} · {alert.severity} · {alert.state} · since {_iso(alert.since)}"
        f" · {source.get('service', 'gateway')}@{source.get('host', '')}"
    )
    element = {"type": "mrkdwn", "text": _clip(context, SLACK_FIELD_CHARS)}
    blocks.append({"type": "context", "elements": [element]})
    return blocks


def _figures(figures: dict[str, float | int]) -> list[tuple[str, str]]:
    return [
        (name, f"{value:,.4g}" if isinstance(value, float) else f"{value:,}")
        for name, value in figures.items()
    ]


def _escape(text: str) -> str:
    # Slack's mrkdwn: these three are the control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))
