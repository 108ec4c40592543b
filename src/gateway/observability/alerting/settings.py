"""What alerting does, read once at start-up from ``general_settings`` and the environment.

LiteLLM's configuration: ``alerting: ["slack", "webhook"]`` picks the channels,
``SLACK_WEBHOOK_URL`` (or ``ALERTING_WEBHOOK_URL``) is Slack's incoming webhook,
``alert_to_webhook_url`` sends some types to other Slack webhooks, and
``WEBHOOK_URL`` receives the generic JSON body. ``PROXY_BASE_URL`` makes the
links in alerts absolute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from gateway.config.schema import AlertingArgs, AlertTypeName, GeneralSettings

SENT_TYPES = frozenset(
    {
        "cooldown_deployment",
        "outage_alerts",
        "fallback_reports",
        "llm_too_slow",
        "llm_requests_hanging",
        "budget_alerts",
        "db_exceptions",
        "daily_reports",
    }
)
ALL_TYPES = frozenset(get_args(AlertTypeName))
CHANNELS = frozenset({"slack", "webhook"})


@dataclass(frozen=True, slots=True)
class AlertSettings:
    types: frozenset[str]
    threshold_s: float  # alerting_threshold: slow and hanging requests
    args: AlertingArgs
    slack_urls: tuple[str, ...] = ()
    # alert type -> the Slack webhooks it goes to instead of ``slack_urls``.
    slack_by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)
    webhook_url: str | None = None
    base_url: str = ""  # PROXY_BASE_URL, for links ("" leaves them relative)

    def wants(self, alert_type: str) -> bool:
        return alert_type in self.types

    def slack_for(self, alert_type: str) -> tuple[str, ...]:
        return self.slack_by_type.get(alert_type, self.slack_urls)

    def link(self, path: str) -> str:
        return self.base_url + path


def alert_settings(
    general: GeneralSettings, env: Mapping[str, str]
) -> tuple[AlertSettings | None, list[str]]:
    """The settings (None: alerting is off) and a problem for each part that cannot run."""
    problems: list[str] = []
    channels = [str(c).lower() for c in general.alerting]
    for channel in dict.fromkeys(channels):
        if channel not in CHANNELS:
            problems.append(f"alerting: channel {channel!r} is not sent (slack and webhook are)")
    slack_urls: tuple[str, ...] = ()
    slack_by_type: dict[str, tuple[str, ...]] = {}
    webhook_url = None
    if "slack" in channels:
        url = env.get("SLACK_WEBHOOK_URL") or env.get("ALERTING_WEBHOOK_URL")
        slack_urls = (url,) if url else ()
        for alert_type, urls in (general.alert_to_webhook_url or {}).items():
            listed = (urls,) if isinstance(urls, str) else tuple(urls)
            slack_by_type[alert_type] = tuple(u for u in listed if u)
        if not slack_urls and not slack_by_type:
            problems.append("alerting: slack is on but SLACK_WEBHOOK_URL is not set")
    if "webhook" in channels:
        webhook_url = env.get("WEBHOOK_URL") or None
        if webhook_url is None:
            problems.append("alerting: webhook is on but WEBHOOK_URL is not set")
    if not slack_urls and not slack_by_type and webhook_url is None:
        return None, problems
    named = general.alert_types
    types = frozenset(named) if named is not None else SENT_TYPES
    for unsent in sorted(types - SENT_TYPES):
        problems.append(f"alerting: alert type {unsent!r} is accepted but not sent")
    return (
        AlertSettings(
            types=types & SENT_TYPES,
            threshold_s=general.alerting_threshold,
            args=general.alerting_args,
            slack_urls=slack_urls,
            slack_by_type=slack_by_type,
            webhook_url=webhook_url,
            base_url=(env.get("PROXY_BASE_URL") or "").rstrip("/"),
        ),
        problems,
    )
