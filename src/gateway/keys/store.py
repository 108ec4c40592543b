"""What the keys package reads from the database, as a protocol.

The ledger's control store implements it (the database lives there); the
composition root hands one in. Documents are the JSON the ``model`` module
writes. Failures leave as ``gateway.errors.StorageUnavailable``.
"""

from __future__ import annotations

from typing import Protocol


class KeyReads(Protocol):
    async def key_get(self, key_hash: str) -> str | None:
        """The key's document, or None when there is no such key."""

    async def team_get(self, team_id: str) -> str | None:
        """The team's document, or None."""

    async def spend_since(
        self, *, key_hash: str | None = None, team_id: str | None = None, since: float
    ) -> float:
        """USD the ledger holds for the key (or team) since ``since`` (epoch seconds)."""
