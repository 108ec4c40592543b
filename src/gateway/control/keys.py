"""The virtual keys' table, and the spend a key's or team's budget is read against."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gateway.control.rows import Change, KeyRow
from gateway.control.tables import KEYS, Tables
from gateway.ledger.control_db import Tx

_KEY_COLUMNS = "key_hash, key_alias, team_id, user_id, doc"


class KeyTable(Tables):
    async def key_get(self, key_hash: str) -> str | None:
        """The key's document, or None."""
        async with self._db.read() as tx:
            rows = await tx.fetch("SELECT doc FROM gateway_keys WHERE key_hash = ?", key_hash)
        return str(rows[0][0]) if rows else None

    async def key_hash_of_alias(self, alias: str) -> str | None:
        async with self._db.read() as tx:
            rows = await tx.fetch("SELECT key_hash FROM gateway_keys WHERE key_alias = ?", alias)
        return str(rows[0][0]) if rows else None

    async def key_insert(self, row: KeyRow, change: Change) -> None:
        async with self._db.transaction() as tx:
            await self._insert_key(tx, row)
            await self._audit(tx, change, ("key", row.key_hash), None, row.doc)
            await self._bump(tx, KEYS)

    async def key_update(self, row: KeyRow, change: Change) -> str | None:
        """Replace the key's document; the previous one, or None when there is no such key."""
        async with self._db.transaction() as tx:
            before = await self._lock_key(tx, row.key_hash)
            if before is None:
                return None
            now = self._dialect.instant(time.time())
            await tx.execute(
                "UPDATE gateway_keys SET key_alias = ?, team_id = ?, user_id = ?, doc = ?,"
                " updated_at = ? WHERE key_hash = ?",
                row.key_alias,
                row.team_id,
                row.user_id,
                row.doc,
                now,
                row.key_hash,
            )
            await self._audit(tx, change, ("key", row.key_hash), before, row.doc)
            await self._bump(tx, KEYS)
            return before

    async def key_replace(self, old_hash: str, row: KeyRow, change: Change) -> str | None:
        """Swap a key for a new one (regenerate); the old document, or None when absent."""
        async with self._db.transaction() as tx:
            before = await self._lock_key(tx, old_hash)
            if before is None:
                return None
            await tx.execute("DELETE FROM gateway_keys WHERE key_hash = ?", old_hash)
            await self._insert_key(tx, row)
            await self._audit(tx, change, ("key", old_hash), before, row.doc)
            await self._bump(tx, KEYS)
            return before

    async def key_delete(self, hashes: Sequence[str], change: Change) -> list[str]:
        """Delete every key named; their documents. Nothing is deleted unless all exist."""
        async with self._db.transaction() as tx:
            docs = []
            for key_hash in hashes:
                doc = await self._lock_key(tx, key_hash)
                if doc is None:
                    return []
                docs.append(doc)
            for key_hash, doc in zip(hashes, docs, strict=True):
                await tx.execute("DELETE FROM gateway_keys WHERE key_hash = ?", key_hash)
                await self._audit(tx, change, ("key", key_hash), doc, None)
            await self._bump(tx, KEYS)
            return docs

    async def key_list(
        self,
        *,
        team_id: str | None,
        user_id: str | None,
        key_alias: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[str], int]:
        """A page of key documents (ordered by hash) and how many keys match in all."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("team_id", team_id), ("user_id", user_id), ("key_alias", key_alias)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        async with self._db.read() as tx:
            total = await tx.fetch(f"SELECT count(*) FROM gateway_keys{clause}", *args)
            rows = await tx.fetch(
                f"SELECT doc FROM gateway_keys{clause} ORDER BY key_hash LIMIT ? OFFSET ?",
                *args,
                limit,
                offset,
            )
        return [str(r[0]) for r in rows], int(total[0][0])

    # --- spend, for budgets ------------------------------------------------------------

    async def spend_since(
        self, *, key_hash: str | None = None, team_id: str | None = None, since: float
    ) -> float:
        """What the ledger has recorded for a key (or a team) since ``since``, in USD."""
        column, value = ("key_hash", key_hash) if key_hash is not None else ("team_id", team_id)
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT coalesce(sum(cost_usd), 0) FROM spend_log"
                f" WHERE {column} = ? AND started_at >= ?",
                value,
                self._dialect.instant(since),
            )
        return float(rows[0][0] or 0)

    async def _insert_key(self, tx: Tx, row: KeyRow) -> None:
        now = self._dialect.instant(time.time())
        await tx.execute(
            f"INSERT INTO gateway_keys ({_KEY_COLUMNS}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            row.key_hash,
            row.key_alias,
            row.team_id,
            row.user_id,
            row.doc,
            now,
            now,
        )

    async def _lock_key(self, tx: Tx, key_hash: str) -> str | None:
        rows = await tx.fetch(
            "SELECT doc FROM gateway_keys WHERE key_hash = ?" + self._dialect.for_update, key_hash
        )
        return str(rows[0][0]) if rows else None
