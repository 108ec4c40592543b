"""Processes under test: start pinned, wait until ready, read CPU and memory from /proc.

CPU time comes from each thread's ``schedstat`` (nanoseconds on a CPU), summed
over the whole process tree, so a proxy that forks workers or spawns threads
is charged for all of them. Where ``schedstat`` is missing it falls back to
``utime + stime`` from ``stat`` (clock ticks, far coarser).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT_S = 15.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def _process_cpu_s(pid: int) -> float:
    total_ns = 0
    tasks = Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                total_ns += int((task / "schedstat").read_text().split()[0])
        return total_ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and its descendants, in seconds."""
    return sum(_process_cpu_s(p) for p in tree(pid))


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU time used so far by each thread of ``pid`` (not its children), in seconds."""
    found: dict[int, float] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
    return found


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU time used so far by ``pid`` and by each of its descendants, apart, in seconds."""
    return {p: _process_cpu_s(p) for p in tree(pid)}


def cmdline(pid: int) -> str:
    """The command line of ``pid`` (empty once it has gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return ""


def core_times() -> dict[str, tuple[int, int]]:
    """Each core's (busy, total) clock ticks since boot, from ``/proc/stat``: the whole
    machine, whoever runs there."""
    times: dict[str, tuple[int, int]] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            idle = ticks[3] + ticks[4]
            times[name] = (sum(ticks) - idle, sum(ticks))
    return times


def core_busy(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, float]:
    """The share of each core's time spent busy between two ``core_times`` readings."""
    shares: dict[str, float] = {}
    for name, (busy, total) in after.items():
        busy0, total0 = before.get(name, (busy, total))
        shares[name] = round((busy - busy0) / (total - total0), 4) if total > total0 else 0.0
    return shares


def rss_mib(pid: int, *, children: bool = True) -> float:
    """Resident memory of ``pid`` (and its descendants unless ``children`` is False), MiB."""
    total_kib = 0
    for p in tree(pid) if children else [pid]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
                    break
    return total_kib / 1024.0


def wait_quiet(
    pid: int, *, idle_ms: float = 3.0, window_s: float = 0.2, limit_s: float = 20.0
) -> None:
    """Wait until ``pid``'s tree uses under ``idle_ms`` of CPU per ``window_s`` (bounded)."""
    deadline = time.monotonic() + limit_s
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window_s)
        after = cpu_seconds(pid)
        if (after - before) * 1000.0 < idle_ms:
            return
        before = after


def clean_environment() -> dict[str, str]:
    """This environment without what would point a proxy at a database, Redis or settings.

    Both proxies run as configured by the bench alone: no database, no Redis.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "PYTHONPATH"}
        and not name.startswith(("GATEWAY_", "LITELLM_", "OTEL_"))
    }


class Pinned:
    """A subprocess pinned to ``cores`` with ``taskset``, its output sent to ``log``."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        cores: str,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            ["taskset", "-c", cores, *command],
            stdin=subprocess.DEVNULL,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            env={**clean_environment(), **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_http(self, url: str, timeout: float) -> None:
        """Wait until ``url`` answers at all (any status), or fail with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2.0):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:g}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._file.flush()
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(line[:300] for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to this process's group (only what it started), SIGKILL after a bound."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)
        self._file.close()
