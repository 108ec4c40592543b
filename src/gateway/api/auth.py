"""Who may call: the master key, as ``Authorization: Bearer`` or ``x-api-key``."""

from __future__ import annotations

import hmac

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


class MasterKeyAuth:
    """Checks the master key in constant time. Without a master key, everyone may call."""

    def __init__(self, master_key: str | None) -> None:
        self._key = master_key.encode() if master_key else None

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
