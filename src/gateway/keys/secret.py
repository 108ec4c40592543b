"""Virtual keys as secrets: made here, shown once, kept only as their sha256.

A key is ``sk-`` and 43 URL-safe characters (32 random bytes). What is stored
and logged is its sha256 in hex; a caller may name a key by either.
"""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "sk-"
RANDOM_BYTES = 32
MIN_CUSTOM_KEY_CHARS = 20
MAX_KEY_CHARS = 512
_HASH = re.compile(r"^[0-9a-f]{64}$")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(RANDOM_BYTES)


def hash_key(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()


def display_name(key: str) -> str:
    """How a key is shown after it was generated: ``sk-...AbCd``."""
    return f"{PREFIX}...{key[-4:]}"


def hash_of(identifier: str) -> str:
    """A key named by a caller, as its hash: the key itself or its sha256 hex."""
    text = identifier.strip()
    return text.lower() if _HASH.match(text.lower()) else hash_key(text)


def custom_key_problem(key: str) -> str | None:
    """Why a caller-chosen key cannot be used, or None."""
    if not key.startswith(PREFIX):
        return f"a key must start with {PREFIX!r}"
    if not MIN_CUSTOM_KEY_CHARS <= len(key) <= MAX_KEY_CHARS:
        return f"a key must be {MIN_CUSTOM_KEY_CHARS} to {MAX_KEY_CHARS} characters long"
    if not key.isprintable() or " " in key:
        return "a key must not contain spaces or control characters"
    return None
