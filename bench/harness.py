"""What the bench scripts share: ports, versions, the machine, the processes under test,
and one measured wrk run with the CPU it cost.

``run.py`` (the gateway next to the LiteLLM proxy), ``features.py`` (what each
optional feature costs), ``scaling.py`` (N workers on N cores), ``profile.py``
and ``soak.py`` all start the mock upstream and gateways the same way and
measure them the same way, from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import loadgen
import procs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHAT_PATH = "/v1/chat/completions"
START_TIMEOUT_S = 120.0
SETTLE_S = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ints(text: str) -> list[int]:
    """``"16,64"`` -> ``[16, 64]`` (for argparse)."""
    return [int(part) for part in text.split(",") if part.strip()]


def names(text: str) -> list[str]:
    """``"plain, stream"`` -> ``["plain", "stream"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "kernel": f"Linux {platform.release()}",
        "python": platform.python_version(),
    }


def command_output(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return "unknown"


def wrk_version() -> str:
    # ``wrk --version`` prints its banner and exits 1.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0]
    return "wrk"


def gateway_version(gateway_src: str | None, label: str | None) -> str:
    """``label`` if given, else ``git describe`` of the tree the gateway runs from."""
    if label:
        return label
    src = Path(gateway_src) if gateway_src else REPO
    return command_output(["git", "-C", str(src), "describe", "--always", "--dirty"])


def gateway_env(gateway_src: str | None) -> dict[str, str]:
    """What the gateway's environment needs to run from ``gateway_src`` instead of the venv."""
    return {"PYTHONPATH": gateway_src} if gateway_src else {}


def gateway_command(
    python: str,
    gateway_src: str | None,
    config: Path,
    port: int,
    extra: Sequence[str] = (),
) -> list[str]:
    """``gateway serve`` on ``port``, with a free health port where the version has one."""
    command = [python, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)]
    command += ["--host", "127.0.0.1", *extra]
    usage = subprocess.run(
        [python, "-m", "gateway", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **gateway_env(gateway_src)},
    ).stdout
    if "--health-port" in usage:
        command += ["--health-port", str(free_port())]
    return command


def mock_requests(port: int) -> int:
    """Chat requests the mock has received so far (all its ports)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return int(json.loads(response.read())["chat"])


def post_json(url: str, body: Mapping[str, Any], api_key: str, timeout: float = 30.0) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise RuntimeError(f"POST {url}: {error.code} {detail}") from error


def generate_key(
    port: int, master_key: str, fields: Mapping[str, Any], timeout: float = START_TIMEOUT_S
) -> str:
    """A new virtual key from the gateway's ``POST /key/generate`` (with the master key).

    The control tables are made at start-up in the background: until they are in place
    the route answers 503, which is waited out (bounded).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = post_json(f"http://127.0.0.1:{port}/key/generate", fields, master_key)
        except RuntimeError as error:
            cause = error.__cause__
            if not isinstance(cause, urllib.error.HTTPError) or cause.code != 503:
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            continue
        return str(answer["key"])


class Processes:
    """The processes one bench run starts, each pinned, logged under ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[procs.Pinned] = []

    def spawn(
        self,
        name: str,
        command: list[str],
        cores: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> procs.Pinned:
        process = procs.Pinned(
            name,
            command,
            cores=cores,
            log=self.workdir / f"{name}.log",
            env=env,
            cwd=cwd or self.workdir,
        )
        self.started.append(process)
        return process

    def start_mock(
        self,
        python: str,
        ports: Mapping[int, int],
        cores: str,
        *,
        chunks: int = 20,
        chunk_delay_ms: float = 0.0,
    ) -> procs.Pinned:
        """The mock upstream; ``ports``: upstream latency in ms -> the port answering with it."""
        listen = [f"--listen={port}:{latency}" for latency, port in ports.items()]
        mock = self.spawn(
            "mock",
            [
                python,
                str(HERE / "mock_upstream.py"),
                *listen,
                f"--chunks={chunks}",
                f"--chunk-delay-ms={chunk_delay_ms}",
            ],
            cores,
        )
        mock.wait_http(f"http://127.0.0.1:{next(iter(ports.values()))}/health", START_TIMEOUT_S)
        return mock

    def start_gateway(
        self,
        name: str,
        python: str,
        gateway_src: str | None,
        config: Path,
        cores: str,
        *,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> tuple[procs.Pinned, int]:
        """A gateway in its own directory (its embedded stores stay apart); (process, port)."""
        port = free_port()
        home = self.workdir / name
        home.mkdir(exist_ok=True)
        gateway = self.spawn(
            name,
            gateway_command(python, gateway_src, config, port, extra),
            cores,
            env={**gateway_env(gateway_src), **(env or {})},
            cwd=home,
        )
        gateway.wait_http(f"http://127.0.0.1:{port}/v1/models", START_TIMEOUT_S)
        return gateway, port

    def stop(self) -> None:
        for process in reversed(self.started):
            process.stop()


def _children_cpu_s() -> float:
    """CPU time of this process's waited-for children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    pid: int,
    url: str,
    body_file: Path,
    mock_port: int,
    *,
    api_key: str | None,
    concurrency: int,
    seconds: float,
    core: str,
    vary: str | None = None,
    watch: Mapping[str, int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One wrk run against ``url``, charged to the process tree of ``pid``.

    CPU per request is the tree's CPU time from the start of the run until it is
    idle again, over the requests it forwarded to the mock meanwhile: requests cut
    off when wrk stopped still finish (or abort) inside the proxy, so all of its
    CPU is charged to all the requests it forwarded. Also returned: wrk's own CPU
    time, the CPU time of each process tree in ``watch`` (name -> pid: the mock,
    Redis) over the run, and how busy each core of the machine was, so a reader can
    see what the load generation and everything else took from the machine.
    """
    watch = watch or {}
    procs.wait_quiet(pid)
    forwarded_before = mock_requests(mock_port)
    cpu_before = procs.cpu_seconds(pid)
    per_process_before = procs.cpu_by_process(pid)
    watched_before = {name: procs.cpu_seconds(p) for name, p in watch.items()}
    wrk_before = _children_cpu_s()
    cores_before = procs.core_times()
    started = time.monotonic()
    result = loadgen.run_wrk(
        url,
        body_file,
        concurrency=concurrency,
        seconds=seconds,
        api_key=api_key,
        core=core,
        vary=vary,
        headers=headers,
    )
    wall = time.monotonic() - started
    cores_after = procs.core_times()
    wrk_cpu = _children_cpu_s() - wrk_before
    watched = {
        name: round(procs.cpu_seconds(p) - watched_before[name], 4) for name, p in watch.items()
    }
    # The load ran for ``wall`` seconds; the proxy's split is read before it goes idle, so
    # the shares are over the same window as the machine's.
    per_process = {
        p: cpu - per_process_before.get(p, 0.0) for p, cpu in procs.cpu_by_process(pid).items()
    }
    procs.wait_quiet(pid)
    cpu = procs.cpu_seconds(pid) - cpu_before
    forwarded = mock_requests(mock_port) - forwarded_before
    return {
        "rps": result.rps,
        "requests": result.requests,
        "errors": result.errors,
        "p50_ms": result.p50_ms,
        "p90_ms": result.p90_ms,
        "p99_ms": result.p99_ms,
        "max_ms": result.max_ms,
        "cpu_s": cpu,
        "forwarded": forwarded,
        "cpu_ms_per_req": cpu * 1000.0 / forwarded if forwarded else None,
        "wall_s": wall,
        "wrk_cpu_s": wrk_cpu,
        "watched_cpu_s": watched,
        "process_cpu_s": {str(p): round(c, 4) for p, c in per_process.items()},
        "core_busy": procs.core_busy(cores_before, cores_after),
    }


def metric_total(port: int, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of ``name``'s samples on ``GET /metrics`` whose labels include ``labels``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = [f'{k}="{v}"' for k, v in (labels or {}).items()]
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        if all(label in series for label in wanted):
            total += float(value)
    return total


class RedisPrefix:
    """The keys one bench run puts on a shared Redis, all under its own prefix.

    The gateway writes ``<prefix>:...`` and ``{<prefix>}:...`` (a hash tag, so a
    cluster keeps related keys on one node); ``delete`` removes both and nothing else.
    """

    def __init__(self, url: str, prefix: str) -> None:
        import redis  # noqa: PLC0415 - only runs that use Redis need it

        self.url = url
        self.prefix = prefix
        self._client = redis.Redis.from_url(url)

    def _keys(self) -> list[bytes]:
        found: list[bytes] = []
        for pattern in (f"{self.prefix}:*", f"{{{self.prefix}}}:*"):
            found += list(self._client.scan_iter(match=pattern, count=1000))
        return found

    def count(self) -> int:
        return len(self._keys())

    def zcard_matching(self, part: str) -> int:
        """Members of the sorted sets whose key has ``<prefix>:<part>`` in it, summed."""
        return sum(
            int(self._client.zcard(key))
            for key in self._keys()
            if f"{self.prefix}:{part}".encode() in key
        )

    def delete(self) -> int:
        keys = self._keys()
        for start in range(0, len(keys), 500):
            self._client.delete(*keys[start : start + 500])
        return len(keys)

    def server_pid(self) -> int | None:
        """The Redis server's pid, when it runs on this machine (its CPU is then readable)."""
        pid = int(self._client.info("server").get("process_id", 0))
        return pid if pid and Path(f"/proc/{pid}").exists() else None

    def close(self) -> None:
        self._client.close()


def redis_breaker(log: Path, offset: int, start: float, end: float) -> dict[str, float]:
    """How long the gateway's Redis circuit breaker was open between ``start`` and ``end``
    (epoch seconds), from the log lines written after byte ``offset``.

    While it is open the gateway serves from local state and makes no Redis calls, so a
    run that had it open measured Redis only in part.
    """
    opened = 0
    open_s = 0.0
    since: float | None = None
    first = True
    with log.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode(errors="replace").splitlines()
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
            moment = datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError):
            continue
        message = str(record.get("message", ""))
        if message.startswith("redis unavailable"):
            opened += 1
            since = max(start, moment) if since is None else since
        elif message.startswith("redis healthy"):
            if since is None and first:
                since = start  # it was already open when the run began
            if since is not None:
                open_s += max(0.0, min(moment, end) - since)
                since = None
        else:
            continue
        first = False
    if since is not None:
        open_s += max(0.0, end - since)
    return {"open_s": round(open_s, 3), "opened": opened}


def say(line: str) -> None:
    """Progress, on stderr (the report goes to stdout)."""
    print(line, file=sys.stderr, flush=True)


def write_report(
    out_dir: str, prefix: str, result: dict[str, Any], render: Callable[[dict[str, Any]], str]
) -> Path:
    """``<out>/<prefix><time>.json`` and ``.md``; the markdown is printed too. Returns
    ``<out>/<prefix><time>``, for files that go beside them (charts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}"
    (out / f"{stamp}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    text = render(result)
    (out / f"{stamp}.md").write_text(text, encoding="utf-8")
    print(text)
    say(f"wrote {out / stamp}.json and .md")
    return out / stamp
