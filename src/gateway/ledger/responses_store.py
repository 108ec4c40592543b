"""Stored Responses API responses: the state behind ``previous_response_id``.

Each response made with ``store: true`` is one row in the ledger's database
(Postgres with ``DATABASE_URL``, else the embedded SQLite file), on its own
small pool. The row is written before the answer is returned, so the next
turn always finds it: concurrent puts are committed together (one transaction,
one round trip, for all the rows waiting), and each waits for its commit. It
holds the Response, this turn's input items (for
``GET /v1/responses/{id}/input_items``), and ``context``: the whole
conversation up to and including this response's output, so a follow-up on
any provider is rebuilt from one read. A response belongs to the key that
made it and to that key's team; anyone else is told it does not exist.
Expired rows are invisible at once and deleted in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.ledger.control_db import ControlDB
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger(__name__)

PURGE_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class Owner:
    """Who may see a stored response: the key (by hash) that made it, and its team."""

    key_hash: str | None
    team_id: str | None

    def may_see(self, key_hash: str | None, team_id: str | None) -> bool:
        if self.key_hash == key_hash:
            return True
        return self.team_id is not None and self.team_id == team_id


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response_id: str
    owner: Owner
    deployment_id: str | None
    model_group: str
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    context: list[dict[str, Any]]


INSERT = (
    "INSERT INTO gateway_responses (response_id, key_hash, team_id, deployment_id,"
    " model_group, response, input_items, context, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    # An id is stored once: a repeat (an upstream that reuses ids) never takes it over.
    " ON CONFLICT (response_id) DO NOTHING"
)


class ResponsesStore:
    def __init__(
        self, db: ControlDB, retention_s: float, *, tasks: Supervisor | None = None
    ) -> None:
        self._db = db
        self._tasks = tasks if tasks is not None else Supervisor()
        self._retention = retention_s
        self._purged_at = 0.0
        self._purge: asyncio.Task[None] | None = None
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def put(self, stored: StoredResponse) -> None:
        """Store ``stored``; returns once it is committed (raises ``StorageUnavailable``)."""
        now = time.time()
        dialect = self._db.dialect
        row = (
            stored.response_id,
            stored.owner.key_hash,
            stored.owner.team_id,
            stored.deployment_id,
            stored.model_group,
            orjson.dumps(stored.response).decode(),
            orjson.dumps(stored.input_items).decode(),
            orjson.dumps(stored.context).decode(),
            dialect.instant(now),
            dialect.instant(now + self._retention),
        )
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()
        self._waiting.append((row, committed))
        if self._writer is None or self._writer.done():
            self._writer = self._tasks.spawn(self._write_waiting(), name="responses-writer")
        if now - self._purged_at >= PURGE_EVERY_S and (self._purge is None or self._purge.done()):
            self._purged_at = now
            self._purge = self._tasks.spawn(self._delete_expired(now), name="responses-purge")
        await committed

    async def _write_waiting(self) -> None:
        """Commit what is waiting, in batches, until nothing is."""
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._db.write_many(INSERT, [row for row, _ in batch])
            except Exception as exc:  # each waiter gets the failure as its own
                for _, committed in batch:
                    if not committed.done():
                        committed.set_exception(exc)
                continue
            for _, committed in batch:
                if not committed.done():
                    committed.set_result(None)

    async def get(
        self, response_id: str, key_hash: str | None, team_id: str | None
    ) -> StoredResponse | None:
        """The response if it exists, has not expired, and the caller may see it."""
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT key_hash, team_id, deployment_id, model_group, response, input_items,"
                " context FROM gateway_responses WHERE response_id = ? AND expires_at > ?",
                response_id,
                self._db.dialect.instant(time.time()),
            )
        if not rows:
            return None
        row = rows[0]
        owner = Owner(row[0], row[1])
        if not owner.may_see(key_hash, team_id):
            return None
        return StoredResponse(
            response_id=response_id,
            owner=owner,
            deployment_id=row[2],
            model_group=str(row[3]),
            response=_json(row[4]),
            input_items=_json(row[5]),
            context=_json(row[6]),
        )

    async def delete(self, response_id: str, key_hash: str | None, team_id: str | None) -> bool:
        """Delete the caller's response; False when there is none it may see."""
        if await self.get(response_id, key_hash, team_id) is None:
            return False
        async with self._db.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM gateway_responses WHERE response_id = ?", response_id
            )
        return deleted > 0

    async def _delete_expired(self, now: float) -> None:
        try:
            async with self._db.transaction() as tx:
                dropped = await tx.execute(
                    "DELETE FROM gateway_responses WHERE expires_at <= ?",
                    self._db.dialect.instant(now),
                )
            if dropped:
                log.info("expired stored responses deleted", extra={"rows": dropped})
        except Exception:
            log.warning("could not delete expired stored responses", exc_info=True)

    async def close(self) -> None:
        await cancel(self._purge)
        await self._db.close()


def _json(value: Any) -> Any:
    """A JSON column: text from SQLite, text or decoded JSON from Postgres's jsonb."""
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value
