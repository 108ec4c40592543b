"""Alerts about the gateway's own plumbing (``db_exceptions``) and the spend summary
(``daily_reports``), both read on a timer, never on a request's path."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta

from gateway.ledger.health import LedgerState
from gateway.ledger.service import SpendLedger
from gateway.ledger.store import GroupBy, ReadTimedOut, ReportQuery, ReportRow, StoreUnavailable
from gateway.observability.alerting.alert import Alert
from gateway.observability.alerting.dispatch import Alerter

log = logging.getLogger("gateway.alerts")

TOP = 5
# user:password@ in a URL, should a driver's message carry one.
CREDENTIALS = re.compile(r"//[^/@\s]+@")


def _clean(text: str | None) -> str:
    return CREDENTIALS.sub("//***@", text or "")[:300]


class LedgerAlerts:
    """``db_exceptions``: the ledger cannot write, is backing up, spills, or lost records."""

    def __init__(self, alerter: Alerter, ledger: SpendLedger) -> None:
        self._alerter = alerter
        self._ledger = ledger
        self._settings = alerter.settings
        counters = ledger.counters
        self._seen_lost = counters.lost
        self._seen_rejected = counters.rejected
        self._since: float | None = None  # when the current trouble began

    def check(self) -> None:
        if not self._settings.wants("db_exceptions"):
            return
        status = self._ledger.status()
        counters = self._ledger.counters
        args = self._settings.args
        problems: list[str] = []
        severity: str = "warning"
        if status.state is not LedgerState.OK:
            problems.append(f"the ledger is {status.state.value}: {_clean(status.last_error)}")
        if status.buffered >= args.ledger_backlog_threshold:
            problems.append(f"{status.buffered} spend records wait in memory")
        if status.spill_segments:
            problems.append(f"{status.spill_segments} spill file(s) wait on disk")
        if counters.rejected > self._seen_rejected:
            problems.append(
                f"{counters.rejected - self._seen_rejected} record(s) refused by the database "
                "(set aside in rejected-*.jsonl)"
            )
        if counters.lost > self._seen_lost or status.state is LedgerState.DOWN:
            severity = "critical"
            if counters.lost > self._seen_lost:
                problems.append(f"{counters.lost - self._seen_lost} record(s) could not be kept")
        self._seen_lost, self._seen_rejected = counters.lost, counters.rejected
        if not problems:
            self._since = None
            return
        now = time.time()
        if self._since is None:
            self._since = now
        self._alerter.raise_alert(
            Alert(
                type="db_exceptions",
                subject=f"ledger:{status.backend}",
                severity="critical" if severity == "critical" else "warning",
                title=f"Spend ledger trouble ({status.backend})",
                summary="; ".join(problems) + ".",
                action=(
                    "Check the database (DATABASE_URL) is reachable and has room. Records are "
                    "kept in memory and on disk and written when it returns; the health port's "
                    "/health/readiness shows the ledger's state."
                ),
                since=self._since,
                where={"backend": status.backend},
                figures={
                    "buffered": status.buffered,
                    "spill_segments": status.spill_segments,
                    "lost": counters.lost,
                    "rejected": counters.rejected,
                },
                ttl_s=args.alert_ttl,
            )
        )


class SpendReports:
    """``daily_reports``: every ``daily_report_frequency`` seconds, one process of the fleet
    sends the ledger's figures for the UTC days the period touched, per model group."""

    def __init__(self, alerter: Alerter, ledger: SpendLedger) -> None:
        self._alerter = alerter
        self._ledger = ledger
        self._settings = alerter.settings
        self._period = self._current_period()

    def _current_period(self) -> int:
        return int(time.time() // self._settings.args.daily_report_frequency)

    async def check(self) -> None:
        if not self._settings.wants("daily_reports"):
            return
        period = self._current_period()
        if period == self._period:
            return
        self._period = period
        frequency = self._settings.args.daily_report_frequency
        end = datetime.now(UTC)
        start = end - timedelta(seconds=frequency)
        query = ReportQuery(GroupBy.MODEL, start.date(), end.date(), limit=1000)
        try:
            rows = await self._ledger.reader.report(query)
        except (StoreUnavailable, ReadTimedOut) as exc:
            log.warning("spend report not read", extra={"error": _clean(str(exc))})
            return
        self._alerter.raise_alert(self._report(rows, query, period, frequency))

    def _report(
        self, rows: list[ReportRow], query: ReportQuery, period: int, frequency: float
    ) -> Alert:
        spend = sum(r.cost_usd for r in rows)
        requests = sum(r.requests for r in rows)
        failed = sum(r.failed_requests for r in rows)
        by_cost = sorted(rows, key=lambda r: r.cost_usd, reverse=True)[:TOP]
        by_failures = sorted(
            (r for r in rows if r.failed_requests),
            key=lambda r: r.failed_requests / max(r.requests, 1),
            reverse=True,
        )[:TOP]
        days = (
            query.start.isoformat()
            if query.start == query.end
            else f"{query.start.isoformat()} to {query.end.isoformat()}"
        )
        lines = [f"{days} (UTC): ${spend:.4f} over {requests} requests, {failed} failed."]
        if by_cost:
            lines.append(
                "Most spend: "
                + ", ".join(f"{r.group or '-'} ${r.cost_usd:.4f}" for r in by_cost)
                + "."
            )
        if by_failures:
            lines.append(
                "Most failures: "
                + ", ".join(
                    f"{r.group or '-'} {r.failed_requests}/{r.requests}" for r in by_failures
                )
                + "."
            )
        return Alert(
            type="daily_reports",
            subject="spend",
            severity="info",
            title=f"Spend report: ${spend:.2f} over {requests} requests",
            summary=" ".join(lines),
            action="GET /spend/report?group_by=model (or key, team, provider) for the detail.",
            since=time.time() - frequency,
            where={"days": days},
            figures={"spend_usd": round(spend, 6), "requests": requests, "failed": failed},
            link=self._settings.link("/spend/report?group_by=model"),
            dedup_key=f"daily_reports:{period}",
            ttl_s=frequency,
        )
