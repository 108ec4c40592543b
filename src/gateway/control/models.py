"""The stored models' table (``store_model_in_db``): credentials kept sealed."""

from __future__ import annotations

from collections.abc import Callable

from gateway.control.rows import Change, ModelRow
from gateway.control.tables import MODELS, Tables
from gateway.ledger.control_db import Row, Tx

_MODEL_COLUMNS = "model_id, model_name, params_sealed, model_info, created_at, updated_at"

# How a stored model appears in the audit trail (never with its credentials).
Describe = Callable[[ModelRow], str]


class ModelTable(Tables):
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

    async def _lock_model(self, tx: Tx, model_id: str) -> ModelRow | None:
        rows = await tx.fetch(
            f"SELECT {_MODEL_COLUMNS} FROM gateway_models WHERE model_id = ?"
            + self._dialect.for_update,
            model_id,
        )
        return self._model(rows[0]) if rows else None

    def _model(self, row: Row) -> ModelRow:
        return ModelRow(
            model_id=str(row[0]),
            model_name=str(row[1]),
            params_sealed=str(row[2]),
            model_info=str(row[3]),
            created_at=self._dialect.epoch(row[4]),
            updated_at=self._dialect.epoch(row[5]),
        )
