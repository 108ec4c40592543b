"""Postgres restarted under load: no client request fails, no spend row is lost.

While Postgres is down the gateway keeps serving; records wait in memory up to
``ledger_buffer_size`` and spill to disk beyond it; when Postgres is back they
are all written, once each, and the roll-ups still equal the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import openai

from support.clients import async_sdk_client
from support.configs import CHAT
from support.gateway_process import StartGateway
from support.ledger import (
    fetch,
    postgres_stopped,
    rollups_match_rows,
    row_count,
    spill_segments,
    wait_for_rows,
    wait_until,
)
from support.ledger_configs import ledger_config
from support.mock_upstream import MockUpstream

MESSAGES = [{"role": "user", "content": "Still there?"}]
CONCURRENCY = 4
BUFFER = 10


class Load:
    """Chat completions from a few concurrent clients until stopped; every outcome kept."""

    def __init__(self, sdk: openai.AsyncOpenAI) -> None:
        self._sdk = sdk
        self.ids: list[str] = []
        self.failures: list[BaseException] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(CONCURRENCY)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def served(self, count: int) -> None:
        """Wait until ``count`` more requests have been answered."""
        target = len(self.ids) + count

        async def reached() -> bool:
            return len(self.ids) >= target or bool(self.failures)

        await wait_until(reached, f"{count} more answered requests")

    async def _client(self) -> None:
        while not self._stop.is_set():
            try:
                raw = await self._sdk.chat.completions.with_raw_response.create(
                    model=CHAT, messages=MESSAGES
                )
                raw.parse()
                self.ids.append(raw.headers["x-request-id"])
            except Exception as exc:
                self.failures.append(exc)
                return


async def test_postgres_restarted_mid_load_loses_no_row_and_fails_no_request(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    config = ledger_config(upstream.base_url, data, ledger_buffer_size=BUFFER)
    gateway = start_gateway(config, env={"DATABASE_URL": ledger_db})
    async with async_sdk_client(gateway) as sdk:
        load = Load(sdk)
        load.start()
        try:
            await load.served(20)
            await wait_for_rows(ledger_db, 10)
            with postgres_stopped():
                await load.served(3 * BUFFER)

                async def spilled() -> bool:
                    return bool(spill_segments(data))

                # More records than the memory buffer holds: the rest went to disk.
                await wait_until(spilled, "records spilled to disk")

                async def writer_gave_up() -> bool:
                    return "cannot deliver; records kept" in gateway.log_text()

                # The writer's own retries ran out while the data plane kept serving.
                await wait_until(writer_gave_up, "the writer to report the outage")
                await load.served(BUFFER)
            await load.served(20)
        finally:
            with contextlib.suppress(Exception):
                await load.stop()
    assert load.failures == [], f"client requests failed: {load.failures[:3]}"

    await wait_for_rows(ledger_db, len(load.ids))

    async def replayed() -> bool:
        return not spill_segments(data)

    await wait_until(replayed, "the spill directory replayed and emptied")
    rows = await fetch(ledger_db, "SELECT request_id FROM spend_log")
    assert sorted(r["request_id"] for r in rows) == sorted(load.ids), "every row, once"
    assert await row_count(ledger_db) == len(load.ids)
    await rollups_match_rows(ledger_db)
