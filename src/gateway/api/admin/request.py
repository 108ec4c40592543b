"""One admin request as the handlers see it, and the helpers that read its parts.

Every reader raises ``InvalidRequest`` naming the field and what it expected,
so no malformed input gets past a handler's first lines.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from gateway.api.auth import Actor
from gateway.api.http import Incoming
from gateway.errors import InvalidRequest

MAX_TEXT_CHARS = 1000


@dataclass(slots=True)
class AdminRequest:
    incoming: Incoming
    actor: Actor
    # The path's variable part (a model group, a key), when the route has one.
    path_arg: str
    params: dict[str, str]
    body: dict[str, Any]

    def only(self, *names: str) -> None:
        """Refuse body fields other than ``names``."""
        for name in self.body:
            if name not in names:
                raise InvalidRequest(
                    f"Unknown field {name!r}. Accepted: {', '.join(names) or 'none'}.",
                    param=name,
                )

    def only_params(self, *names: str) -> None:
        for name in self.params:
            if name not in names:
                raise InvalidRequest(
                    f"Unknown query parameter {name!r}. Accepted: {', '.join(names) or 'none'}.",
                    param=name,
                )


def query_params(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidRequest("The query string is not valid UTF-8.") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidRequest(f"Query parameter {name!r} is given twice.", param=name)
        params[name] = value
    return params


def text(
    source: dict[str, Any], name: str, *, required: bool = False, max_chars: int = MAX_TEXT_CHARS
) -> str | None:
    value = source.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"Missing required field {name!r}.", param=name)
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Invalid {name!r}: expected a non-empty string.", param=name)
    if len(value) > max_chars or not value.isprintable():
        raise InvalidRequest(
            f"Invalid {name!r}: at most {max_chars} printable characters.", param=name
        )
    return value


def required_text(source: dict[str, Any], name: str, *, max_chars: int = MAX_TEXT_CHARS) -> str:
    value = text(source, name, required=True, max_chars=max_chars)
    assert value is not None
    return value


def text_list(source: dict[str, Any], name: str, *, max_items: int = 100) -> list[str] | None:
    value = source.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v.strip() for v in value)
        or len(value) > max_items
    ):
        raise InvalidRequest(
            f"Invalid {name!r}: expected a list of at most {max_items} non-empty strings.",
            param=name,
        )
    return list(value)


def whole_number(
    source: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None
) -> int:
    value = source.get(name)
    if value is None:
        if default is None:
            raise InvalidRequest(f"Missing required field {name!r}.", param=name)
        return default
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(
            f"Invalid {name!r}: expected a whole number from {low} to {high}.", param=name
        )
    return value


def flag(source: dict[str, Any], name: str, *, default: bool) -> bool:
    value = source.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise InvalidRequest(f"Invalid {name!r}: expected true or false.", param=name)
