"""The control plane's tables: keys, teams, stored models, overrides, the audit trail.

Every write runs in one transaction with its audit row and a bump of its kind's
version (``gateway_control_versions``), so the change, the record of it, and
the signal that processes without Redis poll for land together or not at all.
Reads are bounded by their callers (``limit``) and by the connection's
statement timeout.

The same statements serve Postgres and SQLite (see ``control_db``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from gateway.ledger.control_db import ControlDB, PostgresControlDB, Row, SqliteControlDB, Tx
from gateway.ledger.control_rows import (
    AuditRow,
    Change,
    KeyRow,
    ModelRow,
    OverrideRow,
    TeamRow,
)
from gateway.ledger.settings import LedgerSettings

KEYS = "keys"
MODELS = "models"
OVERRIDES = "overrides"
CONFIG = "config"

_KEY_COLUMNS = "key_hash, key_alias, team_id, user_id, doc"
_MODEL_COLUMNS = "model_id, model_name, params_sealed, model_info, created_at, updated_at"
_OVERRIDE_COLUMNS = "model_group, redirect_to, fallbacks, expires_at, reason, set_by, set_at"
_AUDIT_COLUMNS = "id, at, actor, action, target_kind, target_id, reason, before, after"

# How a stored model appears in the audit trail (never with its credentials).
Describe = Callable[[ModelRow], str]


class ControlStore:
    def __init__(self, db: ControlDB) -> None:
        self._db = db
        self._dialect = db.dialect

    async def close(self) -> None:
        await self._db.close()

    # --- keys ---------------------------------------------------------------------------

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

    # --- teams --------------------------------------------------------------------------

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

    # --- stored models ------------------------------------------------------------------

    async def model_list(self, limit: int) -> list[ModelRow]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_MODEL_COLUMNS} FROM gateway_models ORDER BY created_at, model_id"
                " LIMIT ?",
                limit,
            )
        return [self._model(r) for r in rows]

    async def model_get(self, model_id: str) -> ModelRow | None:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_MODEL_COLUMNS} FROM gateway_models WHERE model_id = ?", model_id
            )
        return self._model(rows[0]) if rows else None

    async def model_insert(self, row: ModelRow, change: Change, describe: Describe) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO gateway_models ({_MODEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                row.model_id,
                row.model_name,
                row.params_sealed,
                row.model_info,
                self._dialect.instant(row.created_at),
                self._dialect.instant(row.updated_at),
            )
            await self._audit(tx, change, ("model", row.model_id), None, describe(row))
            await self._bump(tx, MODELS)

    async def model_update(
        self, row: ModelRow, change: Change, describe: Describe
    ) -> ModelRow | None:
        async with self._db.transaction() as tx:
            before = await self._lock_model(tx, row.model_id)
            if before is None:
                return None
            await tx.execute(
                "UPDATE gateway_models SET model_name = ?, params_sealed = ?, model_info = ?,"
                " updated_at = ? WHERE model_id = ?",
                row.model_name,
                row.params_sealed,
                row.model_info,
                self._dialect.instant(row.updated_at),
                row.model_id,
            )
            await self._audit(tx, change, ("model", row.model_id), describe(before), describe(row))
            await self._bump(tx, MODELS)
            return before

    async def model_delete(
        self, model_id: str, change: Change, describe: Describe
    ) -> ModelRow | None:
        async with self._db.transaction() as tx:
            before = await self._lock_model(tx, model_id)
            if before is None:
                return None
            await tx.execute("DELETE FROM gateway_models WHERE model_id = ?", model_id)
            await self._audit(tx, change, ("model", model_id), describe(before), None)
            await self._bump(tx, MODELS)
            return before

    # --- overrides ----------------------------------------------------------------------

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

    # --- the audit trail, config reloads, versions ------------------------------------

    async def audit_list(
        self, *, target_kind: str | None, target_id: str | None, limit: int
    ) -> list[AuditRow]:
        """The newest entries first."""
        where: list[str] = []
        args: list[Any] = []
        if target_kind is not None:
            where.append("target_kind = ?")
            args.append(target_kind)
        if target_id is not None:
            where.append("target_id = ?")
            args.append(target_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_AUDIT_COLUMNS} FROM gateway_audit{clause} ORDER BY id DESC LIMIT ?",
                *args,
                limit,
            )
        return [
            AuditRow(
                id=int(r[0]),
                at=self._dialect.epoch(r[1]),
                actor=str(r[2]),
                action=str(r[3]),
                target_kind=str(r[4]),
                target_id=str(r[5]),
                reason=r[6],
                before=r[7],
                after=r[8],
            )
            for r in rows
        ]

    async def note_reload(self, change: Change, source: str) -> None:
        """A config reload: audited, and announced to processes that poll."""
        async with self._db.transaction() as tx:
            await self._audit(tx, change, ("config", source), None, None)
            await self._bump(tx, CONFIG)

    async def versions(self) -> dict[str, int]:
        async with self._db.read() as tx:
            rows = await tx.fetch("SELECT kind, version FROM gateway_control_versions")
        return {str(kind): int(version) for kind, version in rows}

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

    # --- helpers ------------------------------------------------------------------------

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

    async def _lock_team(self, tx: Tx, team_id: str) -> str | None:
        rows = await tx.fetch(
            "SELECT doc FROM gateway_teams WHERE team_id = ?" + self._dialect.for_update, team_id
        )
        return str(rows[0][0]) if rows else None

    async def _lock_model(self, tx: Tx, model_id: str) -> ModelRow | None:
        rows = await tx.fetch(
            f"SELECT {_MODEL_COLUMNS} FROM gateway_models WHERE model_id = ?"
            + self._dialect.for_update,
            model_id,
        )
        return self._model(rows[0]) if rows else None

    async def _lock_override(self, tx: Tx, group: str) -> OverrideRow | None:
        rows = await tx.fetch(
            f"SELECT {_OVERRIDE_COLUMNS} FROM gateway_overrides WHERE model_group = ?"
            + self._dialect.for_update,
            group,
        )
        return self._override(rows[0]) if rows else None

    async def _audit(
        self,
        tx: Tx,
        change: Change,
        target: tuple[str, str],
        before: str | None,
        after: str | None,
    ) -> None:
        kind, name = target
        await tx.execute(
            "INSERT INTO gateway_audit"
            " (at, actor, action, target_kind, target_id, reason, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self._dialect.instant(time.time()),
            change.actor,
            change.action,
            kind,
            name,
            change.reason,
            before,
            after,
        )

    async def _bump(self, tx: Tx, kind: str) -> None:
        await tx.execute(
            "INSERT INTO gateway_control_versions (kind, version) VALUES (?, 1)"
            " ON CONFLICT (kind) DO UPDATE SET version = gateway_control_versions.version + 1",
            kind,
        )

    def _model(self, row: Row) -> ModelRow:
        return ModelRow(
            model_id=str(row[0]),
            model_name=str(row[1]),
            params_sealed=str(row[2]),
            model_info=str(row[3]),
            created_at=self._dialect.epoch(row[4]),
            updated_at=self._dialect.epoch(row[5]),
        )

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


def open_control_store(
    settings: LedgerSettings, *, purpose: str, connections: int, statement_timeout_s: float
) -> ControlStore:
    """A store on its own connections: Postgres when the ledger uses it, else its SQLite file."""
    return ControlStore(
        open_control_db(
            settings,
            purpose=purpose,
            connections=connections,
            statement_timeout_s=statement_timeout_s,
        )
    )


def open_control_db(
    settings: LedgerSettings, *, purpose: str, connections: int, statement_timeout_s: float
) -> ControlDB:
    """Connections of their own to the ledger's database (Postgres, else its SQLite file)."""
    if settings.database_url:
        return PostgresControlDB(
            settings.database_url,
            max_connections=connections,
            statement_timeout_s=statement_timeout_s,
            application_name=f"gateway-{purpose}",
        )
    return SqliteControlDB(settings.sqlite_path, statement_timeout_s=statement_timeout_s)
