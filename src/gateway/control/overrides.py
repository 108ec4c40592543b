"""The emergency overrides' table: each row in force until it expires or is ended."""

from __future__ import annotations

import time

import orjson

from gateway.control.rows import Change, OverrideRow
from gateway.control.tables import OVERRIDES, Tables
from gateway.ledger.control_db import Row, Tx

_OVERRIDE_COLUMNS = "model_group, redirect_to, fallbacks, expires_at, reason, set_by, set_at"


class OverrideTable(Tables):
    async def override_list(self, now: float) -> list[OverrideRow]:
        """The overrides in force at ``now``."""
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_OVERRIDE_COLUMNS} FROM gateway_overrides WHERE expires_at > ?"
                " ORDER BY model_group",
                self._dialect.instant(now),
            )
        return [self._override(r) for r in rows]

    async def override_put(self, row: OverrideRow, change: Change) -> OverrideRow | None:
        """Set ``row``; the override it replaced if that one was still in force."""
        async with self._db.transaction() as tx:
            before = await self._lock_override(tx, row.model_group)
            await tx.execute(
                f"INSERT INTO gateway_overrides ({_OVERRIDE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (model_group) DO UPDATE SET redirect_to = excluded.redirect_to,"
                " fallbacks = excluded.fallbacks, expires_at = excluded.expires_at,"
                " reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at",
                row.model_group,
                row.redirect_to,
                _json_list(row.fallbacks),
                self._dialect.instant(row.expires_at),
                row.reason,
                row.set_by,
                self._dialect.instant(row.set_at),
            )
            live = before if before is not None and before.expires_at > row.set_at else None
            await self._audit(
                tx,
                change,
                ("override", row.model_group),
                live.to_json() if live is not None else None,
                row.to_json(),
            )
            await self._bump(tx, OVERRIDES)
            return live

    async def override_delete(self, group: str, change: Change) -> OverrideRow | None:
        """Remove ``group``'s override; the one removed (None: there was none in force)."""
        now = time.time()
        async with self._db.transaction() as tx:
            before = await self._lock_override(tx, group)
            if before is None:
                return None
            await tx.execute("DELETE FROM gateway_overrides WHERE model_group = ?", group)
            if before.expires_at <= now:
                return None  # it had expired already: nothing was in force
            await self._audit(tx, change, ("override", group), before.to_json(), None)
            await self._bump(tx, OVERRIDES)
            return before

    async def override_expire(self, now: float) -> list[OverrideRow]:
        """Delete the overrides past their expiry, each with an audit row; the ones deleted.

        Several processes may run this at once: each row is deleted, and audited, once.
        """
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "DELETE FROM gateway_overrides WHERE expires_at <= ?"
                f" RETURNING {_OVERRIDE_COLUMNS}",
                self._dialect.instant(now),
            )
            expired = [self._override(r) for r in rows]
            change = Change(actor="system", action="expire", reason="ttl elapsed")
            for row in expired:
                await self._audit(tx, change, ("override", row.model_group), row.to_json(), None)
            if expired:
                await self._bump(tx, OVERRIDES)
        return expired

    async def _lock_override(self, tx: Tx, group: str) -> OverrideRow | None:
        rows = await tx.fetch(
            f"SELECT {_OVERRIDE_COLUMNS} FROM gateway_overrides WHERE model_group = ?"
            + self._dialect.for_update,
            group,
        )
        return self._override(rows[0]) if rows else None

    def _override(self, row: Row) -> OverrideRow:
        fallbacks = orjson.loads(row[2]) if row[2] is not None else None
        return OverrideRow(
            model_group=str(row[0]),
            redirect_to=row[1],
            fallbacks=tuple(str(f) for f in fallbacks) if fallbacks is not None else None,
            expires_at=self._dialect.epoch(row[3]),
            reason=str(row[4]),
            set_by=str(row[5]),
            set_at=self._dialect.epoch(row[6]),
        )


def _json_list(values: tuple[str, ...] | None) -> str | None:
    return orjson.dumps(list(values)).decode() if values is not None else None
