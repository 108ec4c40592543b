"""Slack's incoming-webhook message with Block Kit blocks, as a JSON Schema (the parts of
Block Kit an alert can use, with Slack's documented limits), and a receiver that answers
as Slack does: 200 ``ok`` for a valid message, 400 ``invalid_blocks`` otherwise."""

from __future__ import annotations

import json
import threading
from typing import Any

import jsonschema
from aiohttp import web

from support.server_thread import ServerThread


def _text(max_chars: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {"enum": list(kinds)},
            "text": {"type": "string", "minLength": 1, "maxLength": max_chars},
            "emoji": {"type": "boolean"},
            "verbatim": {"type": "boolean"},
        },
        "additionalProperties": False,
        # emoji belongs to plain_text, verbatim to mrkdwn.
        "allOf": [
            {
                "if": {"properties": {"type": {"const": "mrkdwn"}}},
                "then": {"not": {"required": ["emoji"]}},
            },
            {
                "if": {"properties": {"type": {"const": "plain_text"}}},
                "then": {"not": {"required": ["verbatim"]}},
            },
        ],
    }


BLOCK_ID = {"type": "string", "maxLength": 255}
HEADER = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"const": "header"},
        "text": _text(150, ("plain_text",)),
        "block_id": BLOCK_ID,
    },
    "additionalProperties": False,
}
SECTION = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"const": "section"},
        "text": _text(3000),
        "fields": {"type": "array", "minItems": 1, "maxItems": 10, "items": _text(2000)},
        "block_id": BLOCK_ID,
    },
    "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
    "additionalProperties": False,
}
DIVIDER = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"const": "divider"}, "block_id": BLOCK_ID},
    "additionalProperties": False,
}
CONTEXT = {
    "type": "object",
    "required": ["type", "elements"],
    "properties": {
        "type": {"const": "context"},
        "elements": {"type": "array", "minItems": 1, "maxItems": 10, "items": _text(3000)},
        "block_id": BLOCK_ID,
    },
    "additionalProperties": False,
}
MESSAGE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["blocks"],
    "properties": {
        # The notification's text, shown where blocks cannot be (and required with blocks
        # for accessibility); Slack truncates past 40,000 characters.
        "text": {"type": "string", "minLength": 1, "maxLength": 40000},
        "blocks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {"oneOf": [HEADER, SECTION, DIVIDER, CONTEXT]},
        },
    },
    "additionalProperties": False,
}
VALIDATOR = jsonschema.Draft202012Validator(MESSAGE_SCHEMA)


def block_kit_problems(message: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(message)]


class SlackReceiver(ServerThread):
    """Slack's incoming webhook: keeps every message; refuses invalid blocks as Slack does."""

    name = "slack-receiver"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.messages: list[Any] = []
        self.refused: list[list[str]] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/services/{tail:.*}", self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            message = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        problems = block_kit_problems(message)
        with self._lock:
            if problems:
                self.refused.append(problems)
            else:
                self.messages.append(message)
        if problems:
            return web.Response(status=400, text="invalid_blocks")
        return web.Response(text="ok")

    def received(self) -> list[Any]:
        with self._lock:
            return list(self.messages)
