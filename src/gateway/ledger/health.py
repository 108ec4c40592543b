"""What the ledger reports about itself: a state for readiness, counters for metrics."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LedgerState(StrEnum):
    OK = "ok"  # records reach the store as they should
    DEGRADED = "degraded"  # the store is unreachable: records wait in memory or on disk
    DOWN = "down"  # the writer is not running, or records cannot even be kept


@dataclass(slots=True)
class LedgerCounters:
    """Monotonic counts since start-up (metrics read them; nothing resets them)."""

    submitted: int = 0
    written: int = 0  # rows inserted by this process
    duplicates: int = 0  # rows skipped because already present (replays)
    unpriced: int = 0  # records whose price was unknown (cost NULL)
    spilled: int = 0  # records written to the spill directory
    replayed: int = 0  # records read back from the spill directory
    rejected: int = 0  # records the store refused, set aside in rejected-*.jsonl
    failed_flushes: int = 0
    lost: int = 0  # records that could be kept neither in memory nor on disk


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    state: LedgerState
    backend: str  # "postgres" or "sqlite"
    redis_buffer: bool
    buffered: int  # records in memory
    spill_segments: int  # files waiting on disk
    last_error: str | None
