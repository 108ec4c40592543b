"""Redis for tests: a key prefix on the shared server, or a private server the test owns.

``shared_redis_prefix`` gives each test its own key prefix on the Redis at
127.0.0.1:6379 and deletes its keys afterwards. ``PrivateRedis`` runs a
``redis-server`` of its own on a free port (a subprocess, stopped by PID),
so a test can stop and restart it without disturbing anyone else; with
``cluster=True`` it is a one-node Redis Cluster holding every slot.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from support.gateway_process import free_port

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


def delete_prefixed(client: redis.Redis, prefix: str) -> None:
    """Delete every key of ``prefix``: plain (``prefix:...``) and hash-tagged (``{prefix}:...``)."""
    for pattern in (f"{prefix}:*", f"{{{prefix}}}:*"):
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture
def shared_redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the shared Redis; its keys are deleted after the test."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        delete_prefixed(client, prefix)


class PrivateRedis:
    """A ``redis-server`` subprocess on a free port, owned by the test."""

    def __init__(self, workdir: Path, *, cluster: bool = False) -> None:
        self.workdir = workdir
        self.cluster = cluster
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        scheme = "redis+cluster" if self.cluster else "redis"
        return f"{scheme}://127.0.0.1:{self.port}" + ("" if self.cluster else "/0")

    def start(self) -> PrivateRedis:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.log_path),
        ]
        if self.cluster:
            command += [
                "--cluster-enabled",
                "yes",
                # The bus port defaults to port + 10000, which may not exist.
                "--cluster-port",
                str(free_port()),
                "--cluster-config-file",
                str(self.workdir / f"nodes-{self.port}.conf"),
            ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self._wait_ready()
        if self.cluster:
            self._assign_all_slots()
        return self

    def _client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2.0)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.log_path}")
            with contextlib.suppress(redis.RedisError), self._client() as client:
                if client.ping():
                    return
            time.sleep(POLL_S)
        raise RuntimeError(f"redis-server on port {self.port} did not answer in time")

    def _assign_all_slots(self) -> None:
        with self._client() as client:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                info = client.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" in text:
                    return
                time.sleep(POLL_S)
        raise RuntimeError("the one-node cluster never reached cluster_state:ok")

    def stop(self) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL after a bound)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis server for this test alone (stop it, restart it: nobody else notices)."""
    with PrivateRedis(tmp_path) as server:
        yield server
