"""Provider credentials at rest: stored models' parameters sealed under ``GATEWAY_SALT_KEY``.

Fernet (AES-128-CBC with an HMAC-SHA256 tag, from the ``cryptography``
package) seals the whole ``litellm_params`` object, so every credential in it
(``api_key``, ``vertex_credentials``, a header carrying a token) is covered
without the store knowing which fields are secret. The Fernet key is derived
from the salt key with HKDF-SHA256, so any string of sufficient length works
as a salt key. A changed salt key cannot open what the old one sealed: the
models sealed with it are reported and skipped, never served with garbage.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SALT_KEY_ENV = "GATEWAY_SALT_KEY"
# LiteLLM's name for the same setting, honoured when ours is not set.
LITELLM_SALT_KEY_ENV = "LITELLM_SALT_KEY"
MIN_SALT_KEY_CHARS = 16
_INFO = b"gateway stored model credentials v1"


class VaultError(Exception):
    """A sealed value cannot be opened (another salt key, or damaged)."""


class Vault:
    def __init__(self, salt_key: str) -> None:
        if len(salt_key) < MIN_SALT_KEY_CHARS:
            raise ValueError(
                f"{SALT_KEY_ENV} must be at least {MIN_SALT_KEY_CHARS} characters long"
            )
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            salt_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, params: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(dict(params))).decode("ascii")

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            value = orjson.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise VaultError(
                f"cannot open a stored model's parameters: sealed under another {SALT_KEY_ENV}"
                " or damaged"
            ) from exc
        if not isinstance(value, dict):
            raise VaultError("a stored model's parameters are not an object")
        return value


def salt_key_from(env: Mapping[str, str]) -> str | None:
    return env.get(SALT_KEY_ENV) or env.get(LITELLM_SALT_KEY_ENV) or None
