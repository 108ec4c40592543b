"""Run the gateway: uvicorn for one worker, gunicorn with uvicorn workers for several.

Every serve gets a run directory (see ``observability.status``) shared with its
workers and with the health process, which is started here as a child and
answers on its own port whatever the workers are doing.

On SIGTERM the serve marks itself as shutting down (liveliness answers 503),
stops accepting, lets in-flight requests and streams finish for up to
``GRACEFUL_SHUTDOWN_S``, then each worker drains its ledger and exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

from gateway.config.settings import CONFIG_PATH_ENV
from gateway.logs import logging_dict
from gateway.memory_ceiling import MAX_WORKER_MEMORY_ENV, release_turn
from gateway.observability.status import MULTIPROC_ENV, RUN_DIR_ENV, RunDir
from gateway.workers import DrainingServer

GRACEFUL_SHUTDOWN_S = 30
KEEPALIVE_S = 75
# Recycled workers restart at staggered counts so they never all restart at once.
MAX_REQUESTS_JITTER_SHARE = 0.1
HEALTH_STOP_S = 5.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: str | None
    host: str
    port: int
    health_host: str
    health_port: int
    workers: int
    max_requests: int | None
    # MiB of a worker's own memory past which it is recycled (None: no ceiling).
    max_worker_memory_mb: float | None = None

    @property
    def use_gunicorn(self) -> bool:
        # Recycling needs a master to start the replacement worker.
        return self.workers > 1 or bool(self.max_requests) or bool(self.max_worker_memory_mb)


def serve(options: ServeOptions) -> int:
    """Run until stopped. Must be called before anything imports prometheus-client."""
    created = RUN_DIR_ENV not in os.environ
    run_dir = RunDir(os.environ.get(RUN_DIR_ENV) or tempfile.mkdtemp(prefix="gateway-run-"))
    run_dir.create()
    os.environ[RUN_DIR_ENV] = str(run_dir.path)
    if options.config_path:
        os.environ[CONFIG_PATH_ENV] = os.path.abspath(options.config_path)
    else:
        os.environ.pop(CONFIG_PATH_ENV, None)
    if options.use_gunicorn:
        run_dir.clean_metrics()
        os.environ[MULTIPROC_ENV] = str(run_dir.metrics)
    if options.max_worker_memory_mb:
        os.environ[MAX_WORKER_MEMORY_ENV] = str(options.max_worker_memory_mb)
    else:
        os.environ.pop(MAX_WORKER_MEMORY_ENV, None)
    run_dir.write_serve(workers=options.workers, shutting_down=False)
    health = _start_health(run_dir, options)
    try:
        if options.use_gunicorn:
            _serve_gunicorn(options, run_dir)
        else:
            _serve_uvicorn(options, run_dir)
    finally:
        health.terminate()
        try:
            health.wait(HEALTH_STOP_S)
        except subprocess.TimeoutExpired:
            health.kill()
        if created:
            shutil.rmtree(run_dir.path, ignore_errors=True)
    return 0


def _start_health(run_dir: RunDir, options: ServeOptions) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "gateway.health",
            str(run_dir.path),
            options.health_host,
            str(options.health_port),
            str(os.getpid()),
        ]
    )


class _Server(DrainingServer):
    """uvicorn that tells the health port it is shutting down as soon as asked to."""

    def __init__(self, config: uvicorn.Config, run_dir: RunDir) -> None:
        super().__init__(config)
        self._run_dir = run_dir

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            self._run_dir.write_serve(workers=1, shutting_down=True)
        super().handle_exit(sig, frame)


def _serve_uvicorn(options: ServeOptions, run_dir: RunDir) -> None:
    from gateway.app import create_app  # noqa: PLC0415 - after the environment is set

    config = uvicorn.Config(
        create_app(),
        host=options.host,
        port=options.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEPALIVE_S,
    )
    # uvicorn re-raises the stop signal once it has shut down gracefully; a clean
    # stop asked for by SIGTERM or SIGINT should end with exit code 0, not a signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_signal)
    _Server(config, run_dir).run()


def _ignore_signal(sig: int, frame: FrameType | None) -> None:
    return None


def _serve_gunicorn(options: ServeOptions, run_dir: RunDir) -> None:
    from gunicorn.app.base import BaseApplication  # noqa: PLC0415 - only when serving N workers
    from gunicorn.arbiter import Arbiter  # noqa: PLC0415

    class _Arbiter(Arbiter):  # type: ignore[misc]
        def handle_term(self) -> None:
            _mark_shutting_down(run_dir, options.workers)
            super().handle_term()

        def handle_int(self) -> None:
            _mark_shutting_down(run_dir, options.workers)
            super().handle_int()

        def handle_hup(self) -> None:
            # Each worker reloads the config file itself (validating it first), instead of
            # gunicorn replacing the workers: a bad file must leave them serving.
            self.log.info("SIGHUP: asking every worker to reload the config file")
            self.kill_workers(signal.SIGHUP)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            host = f"[{options.host}]" if ":" in options.host else options.host
            settings: dict[str, Any] = {
                "bind": f"{host}:{options.port}",
                "workers": options.workers,
                "worker_class": "gateway.workers.GatewayWorker",
                "graceful_timeout": GRACEFUL_SHUTDOWN_S,
                "timeout": 120,
                "keepalive": KEEPALIVE_S,
                "accesslog": None,
                "logconfig_dict": logging_dict(os.environ.get("LOG_LEVEL", "INFO")),
                "child_exit": _child_exit(run_dir),
            }
            if options.max_requests:
                settings["max_requests"] = options.max_requests
                settings["max_requests_jitter"] = max(
                    1, int(options.max_requests * MAX_REQUESTS_JITTER_SHARE)
                )
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from gateway.app import create_app  # noqa: PLC0415 - runs in each worker

            return create_app()

        def run(self) -> None:
            _Arbiter(self).run()

    _Gunicorn().run()


def _mark_shutting_down(run_dir: RunDir, workers: int) -> None:
    with contextlib.suppress(OSError):
        run_dir.write_serve(workers=workers, shutting_down=True)


def _child_exit(run_dir: RunDir) -> Any:
    def child_exit(server: Any, worker: Any) -> None:
        from gateway.observability.metrics_files import archive_dead_worker  # noqa: PLC0415

        # A recycled or dead worker's metrics are folded into the archive, so
        # totals stay exact and files do not pile up; its status file goes.
        archive_dead_worker(run_dir.metrics, worker.pid)
        run_dir.forget_worker(worker.pid)
        release_turn(run_dir.path, worker.pid)

    return child_exit
