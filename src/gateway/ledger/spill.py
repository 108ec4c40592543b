"""Durable local storage for records the database cannot take yet.

Records are appended, one JSON line each, to a segment file in the spill
directory. Each process writes its own segment and holds an exclusive ``flock``
on it, so another process never replays a segment that is still growing; when
a process dies its lock goes with it and any process may replay what it left.
Replay is safe to repeat: the store skips records it already has. A segment is
deleted only after every record in it was written.

Records the store rejects outright (bad data) are kept in ``rejected-*.jsonl``
for an operator, never replayed and never dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from gateway.ledger.codec import CorruptRecord, decode, encode
from gateway.ledger.record import SpendRecord

log = logging.getLogger(__name__)

SEGMENT_PREFIX = "spill-"
REJECTED_PREFIX = "rejected-"
SUFFIX = ".jsonl"

Deliver = Callable[[list[SpendRecord]], Awaitable[None]]


class SpillFailed(Exception):
    """Records could not be written to the spill directory (disk full, no permission)."""


class Spill:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._active: IO[bytes] | None = None
        self._active_path: Path | None = None
        self._dirty = False

    # --- writing -------------------------------------------------------------------

    def append(self, records: Iterable[SpendRecord]) -> int:
        """Append records to this process's segment (buffered by the OS, not fsynced)."""
        data = b"".join(encode(r) + b"\n" for r in records)
        if not data:
            return 0
        try:
            segment = self._segment()
            segment.write(data)
            segment.flush()
        except OSError as exc:
            raise SpillFailed(f"cannot write to {self.directory}: {exc.strerror or exc}") from exc
        self._dirty = True
        return data.count(b"\n")

    def sync(self) -> None:
        """Force appended records to the disk (called off the hot path)."""
        if self._active is not None and self._dirty:
            try:
                os.fsync(self._active.fileno())
            except OSError as exc:
                raise SpillFailed(f"cannot sync {self._active_path}: {exc}") from exc
            self._dirty = False

    def reject(self, records: Iterable[SpendRecord], reason: str) -> None:
        """Set records aside for an operator: the store refuses them as they are."""
        path = self.directory / f"{REJECTED_PREFIX}{os.getpid()}{SUFFIX}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as out:
                out.write(b"".join(encode(r) + b"\n" for r in records))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise SpillFailed(f"cannot write to {path}: {exc.strerror or exc}") from exc
        log.error(
            "spend records rejected by the store", extra={"file": str(path), "reason": reason}
        )

    def rotate(self) -> None:
        """Close this process's segment so it can be replayed; the next append starts anew."""
        if self._active is None:
            return
        with contextlib.suppress(OSError):
            self.sync()
        self._active.close()  # closing releases the flock
        self._active = None
        self._active_path = None

    def close(self) -> None:
        self.rotate()

    def _segment(self) -> IO[bytes]:
        if self._active is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{SEGMENT_PREFIX}{time.time_ns()}-{os.getpid()}{SUFFIX}"
            path = self.directory / name
            handle = path.open("ab")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._active, self._active_path = handle, path
        return self._active

    # --- replaying -----------------------------------------------------------------

    def has_segments(self) -> bool:
        """Anything on disk to replay, including this process's open segment."""
        if self._active is not None:
            return True
        try:
            return any(self._segment_paths())
        except OSError:
            return False

    def segment_count(self) -> int:
        try:
            return sum(1 for _ in self._segment_paths())
        except OSError:
            return 0

    async def replay(self, deliver: Deliver, batch_size: int) -> int:
        """Write every replayable segment through ``deliver``; records replayed.

        Stops at the first failure (``deliver`` raises), leaving the segment for later.
        """
        self.rotate()
        replayed = 0
        for path in sorted(self._segment_paths()):
            claimed = _claim(path)
            if claimed is None:
                continue  # another live process owns or is replaying it
            try:
                for batch in _batches(claimed, batch_size, path):
                    await deliver(batch)
                    replayed += len(batch)
                path.unlink(missing_ok=True)
            finally:
                claimed.close()
        return replayed

    def _segment_paths(self) -> Iterator[Path]:
        if not self.directory.is_dir():
            return iter(())
        return (
            p
            for p in self.directory.iterdir()
            if p.name.startswith(SEGMENT_PREFIX) and p.name.endswith(SUFFIX)
        )


def _claim(path: Path) -> IO[bytes] | None:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    if not path.exists():  # replayed and deleted by another process meanwhile
        handle.close()
        return None
    return handle


def _batches(handle: IO[bytes], size: int, path: Path) -> Iterator[list[SpendRecord]]:
    batch: list[SpendRecord] = []
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            batch.append(decode(line))
        except CorruptRecord as exc:
            # A torn last line from a process killed mid-write: nothing to recover.
            log.warning(
                "skipped an unreadable spill line",
                extra={"file": str(path), "line": number, "reason": str(exc)},
            )
            continue
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
