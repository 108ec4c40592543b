"""Load generators: wrk for throughput and latency, a one-connection probe for TTFB.

wrk (one thread, pinned next to the mock) sends the same POST body over
``concurrency`` keep-alive connections for a fixed time; ``post.lua`` prints a
JSON summary line that is read back here. With ``vary``, every request's body
differs: ``post.lua`` puts a fresh nonce where the body says ``__NONCE__`` (so a
response cache misses on every request). wrk times whole responses, so time
to first byte of a stream is measured by ``probe_ttfb``: one connection,
requests one after another, the clock stopped at the first body chunk.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # socket errors, timeouts and non-2xx/3xx answers
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    url: str,
    body_file: Path,
    *,
    concurrency: int,
    seconds: float,
    api_key: str | None,
    core: str,
    timeout_s: float = 30.0,
    vary: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    """wrk against ``url`` for ``seconds``. ``vary``: a prefix unique to this run; each
    request's body then carries ``<vary>-<n>`` in place of ``__NONCE__``. ``headers``: sent
    with every request, besides the content type and the bearer key."""
    command = [
        "taskset",
        "-c",
        core,
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds only
        f"--timeout={timeout_s:g}s",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_AUTH": api_key or ""}
    if vary:
        env["BENCH_NONCE"] = vary
    if headers:
        env["BENCH_HEADERS"] = "\n".join(f"{name}: {value}" for name, value in headers.items())
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + timeout_s + 30,
        check=False,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(raw[k] for k in raw if k.startswith("errors_"))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000.0,
        p90_ms=raw["p90_us"] / 1000.0,
        p99_ms=raw["p99_us"] / 1000.0,
        max_ms=raw["max_us"] / 1000.0,
    )


@dataclass(frozen=True)
class TtfbResult:
    ttfb_ms: list[float]
    total_ms: list[float]
    errors: int


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> float | None:
    """Read one response body; return when its first body byte arrived (monotonic)."""
    first: float | None = None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if first is None:
                first = time.perf_counter()
            await reader.readexactly(size + 2)
            if size == 0:
                return first
    length = int(headers.get("content-length", "0"))
    data = await reader.readexactly(length)
    return time.perf_counter() if data else None


async def _probe(
    host: str,
    port: int,
    path: str,
    body: bytes,
    api_key: str | None,
    seconds: float,
    headers: Mapping[str, str],
) -> TtfbResult:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + (f"Authorization: Bearer {api_key}\r\n" if api_key else "")
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection(host, port)
    ttfb: list[float] = []
    total: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    try:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            status, headers = await _read_head(reader)
            first = await _read_body(reader, headers)
            ended = time.perf_counter()
            if status != 200 or first is None:
                errors += 1
                continue
            ttfb.append((first - started) * 1000.0)
            total.append((ended - started) * 1000.0)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()
    return TtfbResult(ttfb, total, errors)


def probe_ttfb(
    host: str,
    port: int,
    path: str,
    body: bytes,
    api_key: str | None,
    seconds: float,
    headers: Mapping[str, str] | None = None,
) -> TtfbResult:
    """Sequential requests on one keep-alive connection for ``seconds``: TTFB and total."""
    probe = _probe(host, port, path, body, api_key, seconds, headers or {})
    try:
        import uvloop  # noqa: PLC0415 - optional: a leaner client where installed
    except ImportError:
        return asyncio.run(probe)
    return uvloop.run(probe)
