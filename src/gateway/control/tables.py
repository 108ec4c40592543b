"""What every control table shares: the database, the audit row and the version bump.

Every write runs in one transaction with its audit row and a bump of its kind's
version (``gateway_control_versions``), so the change, the record of it, and
the signal that processes without Redis poll for land together or not at all.
Reads are bounded by their callers (``limit``) and by the connection's
statement timeout. The same statements serve Postgres and SQLite (see
``ledger.control_db``).
"""

from __future__ import annotations

import time

from gateway.control.rows import Change
from gateway.ledger.control_db import ControlDB, Tx

# The kinds whose versions processes without Redis poll for (``ControlSync``).
KEYS = "keys"
MODELS = "models"
OVERRIDES = "overrides"
CONFIG = "config"


class Tables:
    """The database the control tables live in; each aggregate's table adds its methods."""

    def __init__(self, db: ControlDB) -> None:
        self._db = db
        self._dialect = db.dialect

    async def close(self) -> None:
        await self._db.close()

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
