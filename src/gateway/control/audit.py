"""The audit trail, config reloads noted in it, and the kinds' versions."""

from __future__ import annotations

from typing import Any

from gateway.control.rows import AuditRow, Change
from gateway.control.tables import CONFIG, Tables

_AUDIT_COLUMNS = "id, at, actor, action, target_kind, target_id, reason, before, after"


class AuditTrail(Tables):
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
