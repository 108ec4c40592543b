"""A worker's memory ceiling: past it, the worker stops accepting, finishes its requests and
exits, and gunicorn starts a fresh one in its place.

The figure is the worker's resident anonymous memory (``RssAnon`` in
``/proc/<pid>/status``: what the process allocated itself, not the shared
libraries and files every worker maps), read once a second by the server's idle
tick: one small file read, never on a request's path.

One worker of a serve recycles at a time: it claims the run directory's
``memory-recycle`` file (holding its pid) before it exits, and the others wait
until that worker is gone, so the ones that remain keep accepting while it is
replaced. A worker recycles no sooner than ``MIN_LIFETIME_S`` after it started, so that
a ceiling set below what a fresh worker needs cannot turn into a restart loop (it is
reported as an error instead).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger("gateway.serving")

MAX_WORKER_MEMORY_ENV = "GATEWAY_MAX_WORKER_MEMORY_MB"
MIN_LIFETIME_S = 5.0
CLAIM_FILE = "memory-recycle"
MIB = 1024 * 1024


def anonymous_rss(pid: int | str = "self") -> int | None:
    """Resident anonymous memory in bytes, or None where ``/proc`` does not tell it."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"RssAnon:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def ceiling_from_env() -> int | None:
    """The ceiling in bytes that ``gateway serve`` handed its workers, if any."""
    value = os.environ.get(MAX_WORKER_MEMORY_ENV)
    if not value:
        return None
    try:
        mib = float(value)
    except ValueError:
        return None
    return int(mib * MIB) if mib > 0 else None


class MemoryCeiling:
    """Tells a worker when to recycle itself; ``past()`` is called once a second."""

    def __init__(self, limit_bytes: int, run_dir: Path | None) -> None:
        self.limit = limit_bytes
        self._claim = run_dir / CLAIM_FILE if run_dir is not None else None
        self._started = time.monotonic()
        self._unreadable = anonymous_rss() is None
        if self._unreadable:
            log.warning("memory ceiling not enforced: /proc/self/status gives no RssAnon")

    def started(self) -> None:
        """The worker is built and about to accept: a ceiling below what it holds now would
        recycle every worker as soon as it may, which is a configuration error to say."""
        used = anonymous_rss()
        if used is not None and used > self.limit:
            log.error(
                "the memory ceiling is below what this worker holds just after start-up; "
                "it will be recycled every few seconds: raise --max-worker-memory",
                extra={"used_mib": round(used / MIB, 1), "ceiling_mib": self.limit // MIB},
            )

    def past(self) -> bool:
        """Whether this worker should stop accepting and exit now."""
        if self._unreadable:
            return False
        used = anonymous_rss()
        if used is None or used <= self.limit:
            return False
        lifetime = time.monotonic() - self._started
        if lifetime < MIN_LIFETIME_S:
            return False  # never a restart loop: it recycles once the minimum is up
        if not self._take_turn():
            return False
        log.warning(
            "worker past its memory ceiling: finishing its requests and exiting; a new "
            "worker takes its place",
            extra={
                "used_mib": round(used / MIB, 1),
                "ceiling_mib": round(self.limit / MIB, 1),
                "lifetime_s": round(lifetime, 1),
            },
        )
        return True

    def _take_turn(self) -> bool:
        """Claim the serve's one recycling slot (the file holds the claimant's pid)."""
        if self._claim is None:
            return True
        pid = os.getpid()
        for _ in range(2):
            try:
                fd = os.open(self._claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                holder = _holder(self._claim)
                if holder == pid:
                    return True
                if holder is not None and _alive(holder):
                    return False
                # The claimant is gone (or the file is unreadable): take the slot over.
                self._claim.unlink(missing_ok=True)
                continue
            except OSError:
                return True
            with os.fdopen(fd, "w") as claim:
                claim.write(str(pid))
            return True
        return False


def release_turn(run_dir: Path, pid: int) -> None:
    """The worker ``pid`` has exited: free the recycling slot if it held it."""
    claim = run_dir / CLAIM_FILE
    if _holder(claim) == pid:
        claim.unlink(missing_ok=True)


def _holder(claim: Path) -> int | None:
    try:
        return int(claim.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
