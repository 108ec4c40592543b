"""Day partitions of ``spend_log`` (Postgres): names, bounds, and which ones retention drops.

A day is a UTC day. Dropping a whole partition is how retention removes old
rows: one cheap catalog change instead of a slow DELETE.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from gateway.ledger.times import to_datetime

PARENT = "spend_log"
_NAME = re.compile(r"^spend_log_p(\d{8})$")


def utc_day(epoch_s: float) -> date:
    """The UTC day a record's instant falls in, rounded exactly as it is stored."""
    return to_datetime(epoch_s).date()


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def create_sql(day: date) -> str:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def day_of(partition: str) -> date | None:
    match = _NAME.match(partition)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()


def expired(partitions: list[str], now: float, retention_s: float) -> list[str]:
    """Partitions whose whole day ended before ``now - retention_s``."""
    cutoff = datetime.fromtimestamp(now - retention_s, UTC)
    old = []
    for name in partitions:
        day = day_of(name)
        if day is None:
            continue
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if day_end <= cutoff:
            old.append(name)
    return sorted(old)
