"""The teams' table; deleting a team deletes its keys in the same transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.control.rows import Change, TeamRow
from gateway.control.tables import KEYS, Tables
from gateway.ledger.control_db import Tx


class TeamTable(Tables):
    async def team_get(self, team_id: str) -> str | None:
        async with self._db.read() as tx:
            rows = await tx.fetch("SELECT doc FROM gateway_teams WHERE team_id = ?", team_id)
        return str(rows[0][0]) if rows else None

    async def team_insert(self, row: TeamRow, change: Change) -> None:
        now = self._dialect.instant(time.time())
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO gateway_teams (team_id, team_alias, doc, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                row.team_id,
                row.team_alias,
                row.doc,
                now,
                now,
            )
            await self._audit(tx, change, ("team", row.team_id), None, row.doc)
            await self._bump(tx, KEYS)

    async def team_update(self, row: TeamRow, change: Change) -> str | None:
        async with self._db.transaction() as tx:
            before = await self._lock_team(tx, row.team_id)
            if before is None:
                return None
            await tx.execute(
                "UPDATE gateway_teams SET team_alias = ?, doc = ?, updated_at = ?"
                " WHERE team_id = ?",
                row.team_alias,
                row.doc,
                self._dialect.instant(time.time()),
                row.team_id,
            )
            await self._audit(tx, change, ("team", row.team_id), before, row.doc)
            await self._bump(tx, KEYS)
            return before

    async def team_delete(
        self, team_ids: Sequence[str], change: Change
    ) -> tuple[list[str], list[str]] | None:
        """Delete the teams and their keys: (team documents, key hashes deleted).

        None, and nothing deleted, when one of the teams does not exist.
        """
        async with self._db.transaction() as tx:
            docs = []
            for team_id in team_ids:
                doc = await self._lock_team(tx, team_id)
                if doc is None:
                    return None
                docs.append(doc)
            deleted_keys: list[str] = []
            for team_id, doc in zip(team_ids, docs, strict=True):
                keys = await tx.fetch(
                    "DELETE FROM gateway_keys WHERE team_id = ? RETURNING key_hash, doc", team_id
                )
                for key_hash, key_doc in keys:
                    deleted_keys.append(str(key_hash))
                    await self._audit(tx, change, ("key", str(key_hash)), str(key_doc), None)
                await tx.execute("DELETE FROM gateway_teams WHERE team_id = ?", team_id)
                await self._audit(tx, change, ("team", team_id), doc, None)
            await self._bump(tx, KEYS)
            return docs, deleted_keys

    async def team_list(self, *, offset: int, limit: int) -> tuple[list[str], int]:
        """A page of team documents (ordered by id) and how many teams there are."""
        async with self._db.read() as tx:
            total = await tx.fetch("SELECT count(*) FROM gateway_teams")
            rows = await tx.fetch(
                "SELECT doc FROM gateway_teams ORDER BY team_id LIMIT ? OFFSET ?", limit, offset
            )
        return [str(r[0]) for r in rows], int(total[0][0])

    async def team_keys(self, team_id: str, limit: int) -> list[str]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT doc FROM gateway_keys WHERE team_id = ? ORDER BY key_hash LIMIT ?",
                team_id,
                limit,
            )
        return [str(r[0]) for r in rows]

    async def _lock_team(self, tx: Tx, team_id: str) -> str | None:
        rows = await tx.fetch(
            "SELECT doc FROM gateway_teams WHERE team_id = ?" + self._dialect.for_update, team_id
        )
        return str(rows[0][0]) if rows else None
