"""Who may call: the master key, as ``Authorization: Bearer`` or ``x-api-key``."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from gateway.api.http import RequestHeaders
from gateway.errors import AuthenticationFailed

BEARER = b"bearer "


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


class MasterKeyAuth:
    """Checks the master key in constant time. Without a master key, everyone may call."""

    def __init__(self, master_key: str | None) -> None:
        self._key = master_key.encode() if master_key else None
        # Hashed once: the ledger records which key paid, never the key itself.
        self.caller = Caller(
            key_hash=hashlib.sha256(self._key).hexdigest() if self._key else None,
            key_alias="master" if self._key else None,
        )

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def check(self, headers: RequestHeaders) -> None:
        if self._key is None:
            return
        key = presented_key(headers)
        if not key:
            raise AuthenticationFailed(
                "Missing API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
            )
        if not hmac.compare_digest(key, self._key):
            raise AuthenticationFailed("Invalid API key.")
