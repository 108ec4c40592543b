"""What the health process reads: a run directory shared by the serve and its workers.

Layout of a run directory (one per ``gateway serve``)::

    serve.json               written by the serve process: expected workers, shutting down
    workers/<pid>.json       one per worker, rewritten every few seconds (heartbeat,
                             config, dependency states)
    metrics/                 prometheus-client multiprocess files (several workers)
    health-checks.json       the latest background deployment health checks

Files are replaced atomically (write, then rename), so a reader never sees half
a file. Nothing here runs on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from gateway.supervisor import Supervisor, cancel

log = logging.getLogger(__name__)

RUN_DIR_ENV = "GATEWAY_RUN_DIR"
# prometheus-client reads this when it is first imported: set it before that.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HEARTBEAT_S = 2.0
# A worker silent for this long is considered stuck (generous: a saturated
# event loop may be late, and readiness must not flap under load).
STALE_AFTER_S = 30.0

# A dependency's state: "ok", "degraded" (traffic served, state local or buffered),
# "down", or "absent" (not configured).
DependencyStates = Callable[[], Mapping[str, str]]


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(data))
    tmp.replace(path)


def read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.workers = self.path / "workers"
        self.metrics = self.path / "metrics"
        self.serve_file = self.path / "serve.json"
        self.health_checks_file = self.path / "health-checks.json"

    def create(self) -> RunDir:
        for directory in (self.path, self.workers, self.metrics):
            directory.mkdir(parents=True, exist_ok=True)
        return self

    def clean_metrics(self) -> None:
        """Start from an empty metrics directory (files of an earlier run would be summed)."""
        for stale in self.metrics.glob("*.db"):
            stale.unlink(missing_ok=True)

    def write_serve(self, *, workers: int, shutting_down: bool) -> None:
        write_json(
            self.serve_file,
            {
                "pid": os.getpid(),
                "workers": workers,
                "shutting_down": shutting_down,
                "updated": time.time(),
            },
        )

    def read_serve(self) -> dict[str, Any]:
        data = read_json(self.serve_file)
        return data if isinstance(data, dict) else {}

    def worker_file(self, pid: int) -> Path:
        return self.workers / f"{pid}.json"

    def read_workers(self) -> list[dict[str, Any]]:
        found = []
        for path in self.workers.glob("*.json"):
            data = read_json(path)
            if isinstance(data, dict):
                found.append(data)
        return found

    def forget_worker(self, pid: int) -> None:
        self.worker_file(pid).unlink(missing_ok=True)


class WorkerHeartbeat:
    """Rewrites this worker's status file every few seconds, off the request path."""

    def __init__(
        self,
        run_dir: RunDir,
        config_source: str,
        states: DependencyStates,
        *,
        extra: Callable[[], Mapping[str, Any]] | None = None,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._run_dir = run_dir
        self._config = config_source
        self._states = states
        # More of this worker's state for readers of the run directory (the console).
        self._extra = extra
        self._task: asyncio.Task[None] | None = None
        self._pid = os.getpid()

    def start(self) -> None:
        self._beat()
        self._task = self._tasks.spawn(self._loop(), name="worker-heartbeat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        self._run_dir.forget_worker(self._pid)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                self._beat()
            except Exception:
                log.exception("could not write the worker status file")

    def _beat(self) -> None:
        write_json(
            self._run_dir.worker_file(self._pid),
            {
                "pid": self._pid,
                "heartbeat": time.time(),
                "config": self._config,
                "dependencies": dict(self._states()),
                **(self._extra() if self._extra is not None else {}),
            },
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


WORST_FIRST = ("down", "degraded", "ok", "absent")


def readiness(run_dir: RunDir, now: float) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for ``/health/readiness`` from the run directory alone."""
    serve = run_dir.read_serve()
    expected = int(serve.get("workers", 1) or 1)
    alive = []
    for worker in run_dir.read_workers():
        pid = worker.get("pid")
        if not isinstance(pid, int) or not pid_alive(pid):
            continue
        heartbeat = worker.get("heartbeat")
        fresh = isinstance(heartbeat, (int, float)) and now - heartbeat < STALE_AFTER_S
        alive.append((worker, fresh))
    dependencies: dict[str, str] = {}
    for worker, _ in alive:
        for name, state in (worker.get("dependencies") or {}).items():
            current = dependencies.get(name)
            if current is None or WORST_FIRST.index(state) < WORST_FIRST.index(current):
                dependencies[name] = state
    fresh_workers = sum(1 for _, fresh in alive if fresh)
    if serve.get("shutting_down"):
        status = "shutting_down"
    elif fresh_workers == 0:
        status = "not_ready"
    elif fresh_workers < expected or any(s in ("down", "degraded") for s in dependencies.values()):
        # Traffic is served, but not at full strength.
        status = "degraded"
    else:
        status = "ready"
    body = {
        "status": status,
        "workers": {"alive": len(alive), "responsive": fresh_workers, "expected": expected},
        "dependencies": dependencies,
        "config": alive[0][0].get("config") if alive else None,
    }
    return (200 if status in ("ready", "degraded") else 503), body
