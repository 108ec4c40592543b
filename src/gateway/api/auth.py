"""Who may call: the master key or a virtual key, as ``Authorization: Bearer`` or ``x-api-key``.

The master key is compared in constant time and needs no lookup. Any other
key is looked up among the virtual keys (``keys.KeyGate``: an in-memory dict,
one database read on a miss). ``check`` admits the master key only (routes
that predate virtual keys); ``authenticate`` admits either, for the model
routes; ``require_admin`` admits the master key and management keys, for the
admin API. Without a master key every caller is allowed, as before.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.api.http import RequestHeaders
from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.keys.directory import Grant
from gateway.keys.gate import Admission, KeyGate
from gateway.keys.model import MANAGEMENT

BEARER = b"bearer "
MASTER_ACTOR = "master_key"


def presented_key(headers: RequestHeaders) -> bytes | None:
    if headers.authorization is not None:
        value = headers.authorization.strip()
        if value[:7].lower() == BEARER:
            return value[7:].strip()
        return value
    if headers.api_key is not None:
        return headers.api_key.strip()
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is paying, for the ledger: the key presented (by hash), its alias, team, user."""

    key_hash: str | None = None
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    # A virtual key's record (None: the master key, or no key needed).
    grant: Grant | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes something through the admin API, as the audit trail names them."""

    name: str
    master: bool


class MasterKeyAuth:
    """The master key, and the virtual keys when a ``KeyGate`` is given."""

    def __init__(self, master_key: str | None, gate: KeyGate | None = None) -> None:
        self._key = master_key.encode() if master_key else None
        self._gate = gate
        # Hashed once: the ledger records which key paid, never the key itself.
        self.caller = Caller(
            key_hash=hashlib.sha256(self._key).hexdigest() if self._key else None,
            key_alias="master" if self._key else None,
        )

    @property
    def enabled(self) -> bool:
        return self._key is not None

    @property
    def gate(self) -> KeyGate | None:
        return self._gate

    def check(self, headers: RequestHeaders) -> None:
        """The master key only."""
        if self._key is None:
            return
        key = self._presented(headers)
        if not hmac.compare_digest(key, self._key):
            raise AuthenticationFailed("Invalid API key.")

    async def authenticate(self, headers: RequestHeaders) -> Caller:
        """The master key or a valid virtual key (401 otherwise)."""
        if self._key is None:
            return self.caller
        key = self._presented(headers)
        if hmac.compare_digest(key, self._key):
            return self.caller
        if self._gate is None:
            raise AuthenticationFailed("Invalid API key.")
        grant = await self._gate.authenticate(key)
        record = grant.key
        return Caller(
            key_hash=record.key_hash,
            key_alias=record.key_alias,
            team_id=record.team_id,
            user_id=record.user_id,
            grant=grant,
        )

    async def admit(self, caller: Caller, names: Sequence[tuple[str, ...]]) -> Admission | None:
        """A virtual key's model, budget and rate checks (nothing for the master key)."""
        if caller.grant is None or self._gate is None:
            return None
        return await self._gate.admit(caller.grant, names)

    def permits(self, caller: Caller, equivalent: tuple[str, ...]) -> bool:
        """Whether the caller's key (and team) may use a model; always for the master key."""
        if caller.grant is None or self._gate is None:
            return True
        return self._gate.permits(caller.grant, equivalent)

    def settle(self, admission: Admission | None, cost_usd: float | None, tokens: int) -> None:
        if admission is not None and self._gate is not None:
            self._gate.settle(admission, cost_usd, tokens)

    async def require_admin(self, headers: RequestHeaders) -> Actor:
        """The master key or a management key; 401 for no or a bad key, 403 for another key."""
        if self._key is None:
            raise PermissionDenied(
                "The admin API needs a master key: set GATEWAY_MASTER_KEY (or "
                "general_settings.master_key) and call it with that key.",
                code="admin_disabled",
            )
        key = self._presented(headers)
        if hmac.compare_digest(key, self._key):
            return Actor(MASTER_ACTOR, master=True)
        if self._gate is None:
            raise AuthenticationFailed("Invalid API key.")
        grant = await self._gate.authenticate(key)
        if grant.key.key_type != MANAGEMENT:
            raise PermissionDenied(
                f"The API key {grant.key.label!r} may not call the admin API: use the master "
                "key or a key generated with key_type 'management'.",
                code="not_an_admin_key",
            )
        label = grant.key.key_alias or grant.key.key_hash[:16]
        return Actor(f"key:{label}", master=False)

    @staticmethod
    def _presented(headers: RequestHeaders) -> bytes:
        key = presented_key(headers)
        if not key:
            raise AuthenticationFailed(
                "Missing API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
            )
        return key
