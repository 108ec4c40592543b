"""Signed thinking blocks carried through a Responses ``reasoning`` item.

Anthropic checks the signature of every thinking block sent back, and needs the
blocks of a turn that called tools before it continues that turn. The Responses
API has one opaque field for exactly this, a reasoning item's
``encrypted_content``: the blocks go there as they came (base64url JSON behind a
version prefix) and, when the item comes back in ``input`` (sent by the client,
or from the stored conversation of ``previous_response_id``), they become the
``thinking_blocks`` of the assistant turn they belong to. Content made by
another upstream (an OpenAI reasoning item) is not ours and is left alone.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

PREFIX = "gateway.thinking.v1:"


def encode(blocks: Sequence[dict[str, Any]]) -> str:
    return PREFIX + base64.urlsafe_b64encode(orjson.dumps(list(blocks))).decode("ascii")


def decode(value: Any) -> list[dict[str, Any]] | None:
    """The blocks in ``value``; None when it is not content this gateway made."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    try:
        blocks = orjson.loads(base64.urlsafe_b64decode(value[len(PREFIX) :]))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        return None
    return blocks
