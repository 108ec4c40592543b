"""The embedded ledger: with no DATABASE_URL, spend goes to a local SQLite file.

``gateway serve`` with nothing configured (no config file, no database, no
Redis) still meters every request, and ``/spend/logs`` and ``/spend/report``
read it back.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway.ledger.background import BACKGROUND_NICENESS, SLICE, convert_in_slices
from support.clients import sdk_client
from support.gateway_process import StartGateway

MESSAGES = [{"role": "user", "content": "Anything stored?"}]
MOCK_CHAT = "mock-chat"
MOCK_EMBEDDING = "mock-embedding"


def test_the_embedded_default_keeps_a_ledger_in_sqlite(start_gateway: StartGateway) -> None:
    gateway = start_gateway(None, master_key=None)
    with sdk_client(gateway) as sdk:
        ids = [
            sdk.chat.completions.with_raw_response.create(
                model=MOCK_CHAT, messages=MESSAGES, user="someone"
            ).headers["x-request-id"]
            for _ in range(4)
        ]
        with sdk.chat.completions.with_streaming_response.create(
            model=MOCK_CHAT, messages=MESSAGES, stream=True
        ) as response:
            for _line in response.iter_lines():
                pass
            ids.append(response.headers["x-request-id"])
        ids.append(
            sdk.embeddings.with_raw_response.create(model=MOCK_EMBEDDING, input="hi").headers[
                "x-request-id"
            ]
        )
    # Stopping drains the queue into the file (the interval is the default 10 s).
    assert gateway.stop() == 0

    path = gateway.workdir / "gateway-data" / "spend.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT request_id, model_group, status, stream, prompt_tokens, completion_tokens,"
            " end_user FROM spend_log"
        ).fetchall()
        assert sorted(r[0] for r in rows) == sorted(ids)
        by_id = {r[0]: r for r in rows}
        assert all(by_id[i][1] == MOCK_CHAT and by_id[i][6] == "someone" for i in ids[:4])
        assert by_id[ids[4]][3] == 1, "the stream is marked as one"
        assert all(r[2] == 200 and r[4] > 0 for r in rows)
        for table, column in (
            ("spend_daily_model", "model_group"),
            ("spend_daily_key", "key_hash"),
        ):
            sums = db.execute(
                f"SELECT coalesce({column}, ''), count(*), sum(prompt_tokens),"
                " sum(completion_tokens) FROM spend_log GROUP BY 1 ORDER BY 1"
            ).fetchall()
            rollup = db.execute(
                f"SELECT {column}, requests, prompt_tokens, completion_tokens FROM {table}"
                " ORDER BY 1"
            ).fetchall()
            assert rollup == sums, table

    # A new process on the same file reads what the last one wrote.
    reader = start_gateway(None, master_key=None)
    with httpx.Client(base_url=reader.base_url, timeout=30) as http:
        logs = http.get("/spend/logs").raise_for_status().json()
        assert sorted(r["request_id"] for r in logs["data"]) == sorted(ids)
        report = http.get("/spend/report", params={"group_by": "model"}).json()
        assert {r["model_group"]: r["requests"] for r in report["data"]} == {
            MOCK_CHAT: 5,
            MOCK_EMBEDDING: 1,
        }
        days = http.get("/spend/report", params={"group_by": "day"}).json()["data"]
        assert [(r["day"], r["requests"]) for r in days] == [(utc_today(), 6)]


def utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def _thread_niceness(pid: int) -> list[int]:
    """The nice value of each of the process's threads, from /proc (field 19 of stat)."""
    values = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values.append(int(fields[16]))
    return values


def test_the_embedded_ledger_writes_below_the_event_loops_priority(
    start_gateway: StartGateway,
) -> None:
    """A batch write must not take half of a pinned core from requests in flight."""
    config = {
        "model_list": [{"model_name": MOCK_CHAT, "litellm_params": {"model": "mock/mock-chat"}}],
        "general_settings": {"proxy_batch_write_at": 0.2},
    }
    gateway = start_gateway(config, master_key=None)
    assert gateway.pid is not None
    main_thread = int(Path(f"/proc/{gateway.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    with sdk_client(gateway) as sdk:
        sdk.chat.completions.create(model=MOCK_CHAT, messages=MESSAGES)
    deadline = time.monotonic() + 10.0
    while BACKGROUND_NICENESS not in _thread_niceness(gateway.pid):
        assert time.monotonic() < deadline, _thread_niceness(gateway.pid)
        time.sleep(0.05)
    assert main_thread == 0
    assert gateway.stop() == 0


def test_records_are_converted_in_order_across_slices() -> None:
    records = list(range(SLICE * 3 + 7))
    converted = asyncio.run(convert_in_slices(records, lambda n: n * 2))
    assert converted == [n * 2 for n in records]
