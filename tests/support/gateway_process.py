"""Run the gateway as a real subprocess: ``python -m gateway serve`` on a free port.

``GatewayProcess`` writes the config dict as YAML, starts the server, waits
until it answers ``GET /v1/models`` (bounded), and stops it by PID: SIGTERM,
then SIGKILL after a bound. Its output goes to a log file whose tail is
printed on failure. Several instances may run side by side.

``run_gateway`` runs a gateway command that is expected to exit by itself
(``check-config``, a ``serve`` that refuses to start).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 60.0
POLL_S = 0.05
START_ATTEMPTS = 3

# Variables the gateway (or a config) reads: the tests decide them, never the shell.
_SCRUBBED = {"DATABASE_URL", "REDIS_URL", "LOG_LEVEL", "LITELLM_MASTER_KEY"}
_SCRUBBED_PREFIXES = ("GATEWAY_", "OTEL_")
_SCRUBBED_SUFFIXES = ("_API_KEY",)


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (start-up retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without gateway settings or API keys, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _SCRUBBED
        and not name.startswith(_SCRUBBED_PREFIXES)
        and not name.endswith(_SCRUBBED_SUFFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return path


def run_gateway(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway ARGS`` to completion (killed, and an error, past ``timeout``)."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=gateway_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class GatewayStartError(AssertionError):
    pass


class GatewayProcess:
    """One ``gateway serve`` subprocess.

    ``config`` is written to ``workdir/<name>.yaml`` (None: no ``--config``, the
    embedded defaults). ``master_key`` is passed as ``GATEWAY_MASTER_KEY``;
    ``env`` adds variables; ``args`` adds CLI arguments; ``host`` is passed as
    ``--host`` (clients always connect to 127.0.0.1).
    """

    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any] | None = None,
        *,
        master_key: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        host: str | None = None,
        name: str = "gateway",
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.master_key = master_key
        self.config_path = (
            write_config(workdir / f"{name}.yaml", config) if config is not None else None
        )
        self._env = dict(env or {})
        if master_key is not None:
            self._env["GATEWAY_MASTER_KEY"] = master_key
        self._args = list(args)
        self._host = host
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        # The health port is served by its own process: each gateway gets its own.
        self.health_port: int | None = None
        self.stopped = False

    # --- lifecycle ---------------------------------------------------------------

    def start(self, ready_timeout: float = READY_TIMEOUT_S) -> GatewayProcess:
        """Start and wait until it answers. Idempotent: ``with process.start():`` starts once."""
        if self.alive():
            return self
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            self.health_port = free_port()
            self._spawn(attempt)
            outcome = self._wait_ready(ready_timeout)
            if outcome == "ready":
                return self
            log = self.log_tail()
            self.stop()
            if outcome == "exited" and "address already in use" in log.lower():
                continue  # Someone took the port between free_port() and bind: try another.
            raise GatewayStartError(
                f"the gateway {'exited' if outcome == 'exited' else 'never answered'} "
                f"during start-up (attempt {attempt}); log tail:\n{log}"
            )
        raise GatewayStartError(f"no free port after {START_ATTEMPTS} attempts")

    def _spawn(self, attempt: int) -> None:
        command = [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--port",
            str(self.port),
            "--health-port",
            str(self.health_port),
        ]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        if self._host is not None:
            command += ["--host", self._host]
        command += self._args
        self.log_path = self.workdir / f"{self.name}-{attempt}.log"
        self._log_file = self.log_path.open("wb")
        self.stopped = False
        self._process = subprocess.Popen(
            command,
            env=gateway_env(self._env),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    return "exited"
                try:
                    client.get(f"{self.base_url}/v1/models", headers=self.auth_headers())
                    # The health port is its own process: it may come up a moment later.
                    client.get(f"{self.health_url}/health/liveliness")
                except httpx.TransportError:
                    time.sleep(POLL_S)
                    continue
                return "ready"
        return "timeout"

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a bound; returns the exit code."""
        process = self._process
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(KILL_TIMEOUT_S)
            code = process.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.stopped = True
        return code

    def send_signal(self, sig: int) -> None:
        if self._process is None:
            raise RuntimeError("the gateway has not been started")
        self._process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself (it was told to stop); its exit code."""
        if self._process is None:
            raise RuntimeError("the gateway has not been started")
        code = self._process.wait(timeout)
        self.stopped = True
        return code

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- state -------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def returncode(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without ``/v1``."""
        if self.port is None:
            raise RuntimeError("the gateway has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        """``http://127.0.0.1:HEALTH_PORT``: the health process of this gateway."""
        if self.health_port is None:
            raise RuntimeError("the gateway has not been started")
        return f"http://127.0.0.1:{self.health_port}"

    @property
    def v1_url(self) -> str:
        """What the OpenAI SDK's ``base_url`` should be."""
        return f"{self.base_url}/v1"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"} if self.master_key else {}

    # --- the log -----------------------------------------------------------------

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        if self._log_file is not None:
            with contextlib.suppress(ValueError):
                self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_mark(self) -> int:
        """A position in the log; ``log_since`` gives what was written after it."""
        return len(self.log_text())

    def log_since(self, mark: int) -> str:
        return self.log_text()[mark:]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# The ``start_gateway`` fixture: start_gateway(config, master_key=, env=, args=, host=).
StartGateway = Callable[..., GatewayProcess]
