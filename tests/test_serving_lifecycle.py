"""Production serving: graceful shutdown on SIGTERM and worker recycling under gunicorn."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from support.clients import sdk_client
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Reply

MESSAGES = [{"role": "user", "content": "hello"}]


def _shutting_down_seen(health_url: str, stop: threading.Event, seen: list[int]) -> None:
    with httpx.Client(base_url=health_url, timeout=2) as health:
        while not stop.is_set():
            try:
                seen.append(health.get("/health/liveliness").status_code)
            except httpx.TransportError:
                return
            time.sleep(0.05)


def _stream_through_sigterm(
    gateway_args: list[str], fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["long-a"].default = Reply(content="a b c d e f g h i j", chunks=10, chunk_delay=0.3)
    gateway = start_gateway({"model_list": [fleet.deployment("long", "long-a")]}, args=gateway_args)
    seen: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_shutting_down_seen, args=(gateway.health_url, stop, seen))
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="long", messages=MESSAGES, stream=True
        )
        request_id = raw.headers["x-request-id"]
        stream = raw.parse()
        pieces = []
        for index, chunk in enumerate(stream):
            if index == 1:
                gateway.send_signal(signal.SIGTERM)
                watcher.start()
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
    stop.set()
    watcher.join(5)
    # The stream in flight at SIGTERM finished whole, and the process exited cleanly.
    assert "".join(pieces) == "a b c d e f g h i j"
    assert gateway.wait(40) == 0
    # Meanwhile the health port said the gateway was shutting down.
    assert 503 in seen, seen
    # The ledger was drained on the way out: the stream's row is there (embedded SQLite).
    ledger = gateway.workdir / "gateway-data" / "spend.sqlite3"
    with sqlite3.connect(ledger) as db:
        rows = db.execute(
            "SELECT status, stream FROM spend_log WHERE request_id = ?", (request_id,)
        ).fetchall()
    assert rows == [(200, 1)]


def test_sigterm_during_a_long_stream_lets_it_finish_and_exits_zero(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    _stream_through_sigterm([], fleet, start_gateway)


def test_sigterm_under_gunicorn_lets_the_stream_finish_and_exits_zero(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    _stream_through_sigterm(["--workers", "2"], fleet, start_gateway)


def test_worker_recycling_after_max_requests_fails_no_request(
    fleet: UpstreamFleet, start_gateway: StartGateway, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    gateway = start_gateway(
        {"model_list": [fleet.deployment("chat", "chat-a")]},
        args=["--workers", "2", "--max-requests", "10"],
        env={"GATEWAY_RUN_DIR": str(run_dir)},
    )
    body = {"model": "chat", "messages": MESSAGES}
    statuses = []
    for _ in range(80):
        # A fresh connection each time, as independent callers would arrive.
        with httpx.Client(
            base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
        ) as http:
            statuses.append(http.post("/v1/chat/completions", json=body).status_code)
    assert statuses == [200] * 80
    # Workers were recycled: more were booted than the two the gateway started with.
    assert gateway.log_text().count("Booting worker with pid") > 2
    assert fleet["chat-a"].calls() == 80
    # Recycled workers' counters were folded into the archive: files do not pile up.
    metrics_files = sorted(p.name for p in (run_dir / "metrics").glob("counter_*.db"))
    assert "counter_archive.db" in metrics_files
    assert len(metrics_files) <= 1 + 2 + 1, metrics_files
