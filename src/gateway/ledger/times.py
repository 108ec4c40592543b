"""Instants as whole microseconds since the epoch: Postgres's precision, exact both ways.

A record's float seconds are converted here, and only here, so a replayed
record maps to the very same stored key as the first time it was written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def epoch_us(epoch_s: float) -> int:
    return round(epoch_s * 1_000_000)


def to_datetime(epoch_s: float) -> datetime:
    return EPOCH + timedelta(microseconds=epoch_us(epoch_s))


def us_to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def datetime_us(value: datetime) -> int:
    return (value - EPOCH) // _ONE_US
