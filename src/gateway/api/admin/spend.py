"""Control-plane reads of the spend ledger: ``GET /spend/logs`` and ``GET /spend/report``.

Both need an admin key (anyone may call them when no master key is set).
``/spend/logs`` lists raw rows newest first, filtered by key hash, team, model group
and time range, a page at a time (``limit``, then ``cursor`` = the previous page's
``next_cursor``). ``/spend/report`` sums the daily roll-ups over whole UTC days, grouped
by key, team, model group, provider or day. Reads run on the ledger's own connections
under a statement timeout, so a heavy report cannot slow the writer. Bad parameters get
a 400 naming them.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest
from gateway.errors import DeadlineExceeded, InvalidRequest, StorageUnavailable
from gateway.ledger.record import SpendRecord
from gateway.ledger.store import (
    Cursor,
    GroupBy,
    LogQuery,
    ReadTimedOut,
    ReportQuery,
    ReportRow,
    StoreUnavailable,
)

LOG_PARAMS = frozenset({"key", "team", "model", "start", "end", "limit", "cursor"})
REPORT_PARAMS = frozenset({"group_by", "start", "end", "limit"})
DEFAULT_LOG_LIMIT = 100
MAX_LOG_LIMIT = 1000
DEFAULT_REPORT_LIMIT = 1000
MAX_REPORT_LIMIT = 10_000
DEFAULT_REPORT_DAYS = 30
MAX_REPORT_DAYS = 3660
GROUP_FIELDS = {
    GroupBy.KEY: "key_hash",
    GroupBy.TEAM: "team_id",
    GroupBy.MODEL: "model_group",
    GroupBy.PROVIDER: "provider",
    GroupBy.DAY: "day",
}


async def spend_logs(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    params = _params(request, LOG_PARAMS)
    start = _instant(params, "start")
    end = _instant(params, "end")
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("'end' must be after 'start'.", param="end")
    query = LogQuery(
        start=start,
        end=end,
        key_hash=params.get("key") or None,
        team_id=params.get("team") or None,
        model_group=params.get("model") or None,
        limit=_limit(params, DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT),
        after=_cursor(params.get("cursor")),
    )
    try:
        page = await control.runtime.plane.ledger.reader.logs(query)
    except (StoreUnavailable, ReadTimedOut) as exc:
        raise _read_failed(exc) from exc
    return {
        "data": [_log_row(r) for r in page.rows],
        "next_cursor": _encode_cursor(page.next) if page.next is not None else None,
    }


async def spend_report(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    params = _params(request, REPORT_PARAMS)
    raw_group = params.get("group_by")
    if not raw_group:
        raise InvalidRequest(
            "Missing required parameter: 'group_by' (key, team, model, provider or day).",
            param="group_by",
        )
    try:
        group_by = GroupBy(raw_group)
    except ValueError:
        raise InvalidRequest(
            f"Invalid 'group_by': {raw_group!r}; expected key, team, model, provider or day.",
            param="group_by",
        ) from None
    end = _day(params, "end") or datetime.now(UTC).date()
    start = _day(params, "start") or end - timedelta(days=DEFAULT_REPORT_DAYS - 1)
    if end < start:
        raise InvalidRequest("'end' must not be before 'start'.", param="end")
    if (end - start).days >= MAX_REPORT_DAYS:
        raise InvalidRequest(
            f"The range is longer than {MAX_REPORT_DAYS} days; narrow it.", param="start"
        )
    limit = _limit(params, DEFAULT_REPORT_LIMIT, MAX_REPORT_LIMIT)
    query = ReportQuery(group_by, start, end, limit)
    try:
        rows = await control.runtime.plane.ledger.reader.report(query)
    except (StoreUnavailable, ReadTimedOut) as exc:
        raise _read_failed(exc) from exc
    return {
        "group_by": group_by.value,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "data": [_report_row(group_by, r) for r in rows],
    }


# --- parameters -----------------------------------------------------------------------


def _params(request: AdminRequest, allowed: frozenset[str]) -> dict[str, str]:
    """The query's parameters (each once: the request reader refuses repeats), all known."""
    for name in request.params:
        if name not in allowed:
            raise InvalidRequest(
                f"Unknown query parameter {name!r}; expected one of: "
                + ", ".join(sorted(allowed))
                + ".",
                param=name,
            )
    return request.params


def _limit(params: dict[str, str], default: int, most: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise InvalidRequest(f"Invalid 'limit': expected 1 to {most}, got {raw!r}.", param="limit")
    return value


def _instant(params: dict[str, str], name: str) -> float | None:
    """An ISO 8601 date or date-time, UTC when no offset is given."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            f"Invalid {name!r}: {raw!r} is not an ISO 8601 date or time "
            "(e.g. 2026-11-22 or 2026-11-22T09:30:00Z).",
            param=name,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _day(params: dict[str, str], name: str) -> date | None:
    instant = _instant(params, name)
    return None if instant is None else datetime.fromtimestamp(instant, UTC).date()


def _cursor(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
        started_us, request_id = value
        if not isinstance(started_us, int) or not isinstance(request_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequest(
            "Invalid 'cursor': pass the 'next_cursor' of the previous page as it is.",
            param="cursor",
        ) from None
    return Cursor(started_us, request_id)


def _encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps([cursor.started_us, cursor.request_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- answers --------------------------------------------------------------------------


def _read_failed(exc: Exception) -> DeadlineExceeded | StorageUnavailable:
    if isinstance(exc, ReadTimedOut):
        return DeadlineExceeded(f"The spend query was stopped: {exc}. Narrow the time range.")
    return StorageUnavailable(f"The spend ledger cannot be read now: {exc}")


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def _log_row(record: SpendRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "started_at": _iso(record.started_at),
        "ended_at": _iso(record.ended_at),
        "call_type": record.call_type,
        "key_hash": record.key_hash,
        "key_alias": record.key_alias,
        "team_id": record.team_id,
        "user_id": record.user_id,
        "end_user": record.end_user,
        "model_group": record.model_group,
        "deployment_id": record.deployment_id,
        "provider": record.provider,
        "model": record.model,
        "api_base_host": record.api_base_host,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "total_tokens": record.prompt_tokens + record.completion_tokens,
        "cost_usd": record.cost_usd,
        "latency_ms": round(record.latency_ms, 3),
        "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 3),
        "status": record.status,
        "error_type": record.error_type,
        "cache_hit": record.cache_hit,
        "attempts": record.attempts,
        "fallbacks": list(record.fallbacks),
        "stream": record.stream,
    }


def _report_row(group_by: GroupBy, row: ReportRow) -> dict[str, Any]:
    out: dict[str, Any] = {GROUP_FIELDS[group_by]: row.group}
    if group_by is GroupBy.KEY:
        out["key_alias"] = row.key_alias
    out.update(
        requests=row.requests,
        failed_requests=row.failed_requests,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cached_tokens=row.cached_tokens,
        cache_write_tokens=row.cache_write_tokens,
        cost_usd=row.cost_usd,
        unpriced_requests=row.unpriced_requests,
    )
    return out
