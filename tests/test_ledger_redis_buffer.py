"""The Redis transaction buffer: a worker killed with rows in hand loses none of them.

With ``use_redis_transaction_buffer`` the gateway ships each record to a Redis
stream within milliseconds; the writer holding the lease reads them and, only
after Postgres commits, acknowledges and deletes them. Here the writer is
killed (SIGKILL) while it holds rows it has not written; the next gateway takes
the lease over, writes every row exactly once, and empties the stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from support.clients import async_sdk_client
from support.configs import CHAT
from support.gateway_process import StartGateway
from support.ledger import (
    fetch,
    rollups_match_rows,
    row_count,
    wait_for_rows,
    wait_until,
)
from support.ledger_configs import ledger_config
from support.mock_upstream import MockUpstream

REDIS_URL = "redis://127.0.0.1:6379/0"
GROUP = "ledger-writers"
MESSAGES = [{"role": "user", "content": "Remember me."}]
REQUESTS = 30
# Longer than the test: only a lease takeover can write these rows in time.
HOUR = 3600


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own, emptied once its gateways are stopped.

    Requested before ``start_gateway``, so it is torn down after it: a gateway
    still running could otherwise recreate its stream after the clean-up.
    """
    name = f"ledgertest-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def stream_records(client: aioredis.Redis, key: str) -> int:
    entries = await client.xrange(key)
    return sum(len(json.loads(fields[b"r"])) for _id, fields in entries)


async def pending_entries(client: aioredis.Redis, key: str) -> int:
    try:
        summary = await client.xpending(key, GROUP)
    except aioredis.ResponseError:
        return 0
    return int(summary["pending"])


async def test_a_worker_killed_with_rows_in_hand_loses_none_of_them(
    prefix: str,
    ledger_db: str,
    upstream: MockUpstream,
    start_gateway: StartGateway,
    tmp_path: Path,
) -> None:
    stream_key = f"{prefix}:ledger:stream"
    config = ledger_config(
        upstream.base_url,
        tmp_path / "data",
        proxy_batch_write_at=HOUR,
        use_redis_transaction_buffer=True,
    )
    config["router_settings"] = {"redis_key_prefix": prefix}
    env = {"DATABASE_URL": ledger_db, "REDIS_URL": REDIS_URL}
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        first = start_gateway(config, env=env)
        async with async_sdk_client(first) as sdk:
            ids = []
            for _ in range(REQUESTS):
                raw = await sdk.chat.completions.with_raw_response.create(
                    model=CHAT, messages=MESSAGES
                )
                ids.append(raw.headers["x-request-id"])

        async def all_in_the_writers_hands() -> bool:
            entries = await client.xlen(stream_key)
            return (
                await stream_records(client, stream_key) == REQUESTS
                and entries > 0
                and await pending_entries(client, stream_key) == entries
            )

        # Every record reached Redis, and the writer has read them all: they are in its
        # hands, not yet in Postgres.
        await wait_until(all_in_the_writers_hands, "the writer to hold every record")
        assert await row_count(ledger_db) == 0

        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        assert first.stop() == -signal.SIGKILL

        start_gateway(config, env=env)
        await wait_for_rows(ledger_db, REQUESTS)

        async def drained() -> bool:
            return await client.xlen(stream_key) == 0 and not await pending_entries(
                client, stream_key
            )

        await wait_until(drained, "the stream acknowledged and emptied")
        rows = await fetch(ledger_db, "SELECT request_id FROM spend_log")
        assert sorted(r["request_id"] for r in rows) == sorted(ids)
        await rollups_match_rows(ledger_db)
    finally:
        await client.delete(stream_key, f"{prefix}:ledger:writer-lease")
        await client.aclose()


async def test_records_reach_postgres_through_the_stream_at_the_flush_interval(
    prefix: str,
    ledger_db: str,
    upstream: MockUpstream,
    start_gateway: StartGateway,
    tmp_path: Path,
) -> None:
    config = ledger_config(
        upstream.base_url,
        tmp_path / "data",
        proxy_batch_write_at=0.2,
        use_redis_transaction_buffer=True,
    )
    config["router_settings"] = {"redis_key_prefix": prefix}
    gateway = start_gateway(config, env={"DATABASE_URL": ledger_db, "REDIS_URL": REDIS_URL})
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with async_sdk_client(gateway) as sdk:
            results = await asyncio.gather(
                *(
                    sdk.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
                    for _ in range(REQUESTS)
                )
            )
        await wait_for_rows(ledger_db, REQUESTS)
        rows = await fetch(ledger_db, "SELECT request_id FROM spend_log")
        assert sorted(r["request_id"] for r in rows) == sorted(
            r.headers["x-request-id"] for r in results
        )
        await rollups_match_rows(ledger_db)
        # They went through the stream: its group read them (and left it empty).
        (group,) = await client.xinfo_groups(f"{prefix}:ledger:stream")
        assert group["name"] == GROUP.encode()
        assert group["entries-read"] >= 1 and group["pending"] == 0
    finally:
        await client.delete(f"{prefix}:ledger:stream", f"{prefix}:ledger:writer-lease")
        await client.aclose()
