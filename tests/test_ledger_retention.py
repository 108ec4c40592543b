"""Retention: raw spend rows past ``maximum_spend_logs_retention_period`` go, a day at a time.

Old rows are written straight into the ledger's Postgres store (a gateway only
writes rows of today); a gateway started with a 7-day retention drops the day
partitions that ended more than 7 days ago, keeps the recent ones, and keeps
the daily roll-ups, so reports over old days still answer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from gateway.ledger.migrations import migrations_root
from gateway.ledger.postgres import PostgresStore
from support.clients import async_sdk_client
from support.configs import CHAT
from support.gateway_process import StartGateway
from support.ledger import fetch, partitions, spend_record, wait_for_rows, wait_until
from support.ledger_configs import ledger_config
from support.mock_upstream import MockUpstream

DAY_S = 86400.0


def partition_of(epoch_s: float) -> str:
    return f"spend_log_p{datetime.fromtimestamp(epoch_s, UTC):%Y%m%d}"


async def test_rows_past_the_retention_period_are_dropped_by_whole_days(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    now = time.time()
    ages = {"forty-days": 40, "ten-days": 10, "three-days": 3}
    store = PostgresStore(ledger_db, max_connections=1, migrations_root=migrations_root())
    await store.prepare()
    await store.write([spend_record(name, now - days * DAY_S) for name, days in ages.items()])
    await store.close()
    old = {partition_of(now - days * DAY_S) for days in (40, 10)}
    assert old <= set(await partitions(ledger_db))

    config = ledger_config(
        upstream.base_url, tmp_path / "data", maximum_spend_logs_retention_period="7d"
    )
    gateway = start_gateway(config, env={"DATABASE_URL": ledger_db})

    async def dropped() -> bool:
        return not old & set(await partitions(ledger_db))

    await wait_until(dropped, "the expired partitions dropped")
    async with async_sdk_client(gateway) as sdk:
        await sdk.chat.completions.create(
            model=CHAT, messages=[{"role": "user", "content": "Still counted?"}]
        )
    await wait_for_rows(ledger_db, 2)
    kept = {r["request_id"] for r in await fetch(ledger_db, "SELECT request_id FROM spend_log")}
    assert "three-days" in kept and not kept & {"forty-days", "ten-days"}
    assert partition_of(now - 3 * DAY_S) in await partitions(ledger_db)
    days = await fetch(ledger_db, "SELECT day, requests FROM spend_daily_model ORDER BY day")
    assert len(days) == 4, "roll-ups of dropped days are kept"
    assert "dropped expired spend partition" in gateway.log_text()
