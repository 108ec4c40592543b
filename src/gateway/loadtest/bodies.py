"""The chat bodies a load test sends: from fixture files or generated, stamped per request.

Every body sent starts its first user message with a nonce and a timestamp, so
no provider's prompt (prefix) cache and no gateway response cache can serve
two requests the same answer: each request costs what a fresh one costs.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

# Common English words that are one token each in the usual tokenizers, so a
# generated prompt of N words is about N tokens.
_WORDS = (  # noqa: SIM905 - a word list reads best as one string
    "the of and to in is it you that he was for on are with as his they be at one have "
    "this from or had by word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come "
    "did number sound no most people my over know water than call first who may down side "
    "been now find any new work part take get place made live where after back little only "
    "round man year came show every good me give our under name very through just form "
    "sentence great think say help low line differ turn cause much mean before move right "
    "boy old too same tell does set three want air well also play small end put home read "
    "hand port large spell add even land here must big high such follow act why ask men "
    "change went light kind off need house picture try us again animal point mother world"
).split()


class BodyError(ValueError):
    """A fixture that cannot be used, named with its file."""


@dataclass(frozen=True, slots=True)
class Template:
    """A chat body to send, and where it came from (a file, or ``generated``)."""

    source: str
    body: dict[str, Any]


def load_fixtures(directory: Path) -> list[Template]:
    """Every ``*.json`` chat body in ``directory``, sorted by name."""
    if not directory.is_dir():
        raise BodyError(f"--fixtures {directory}: not a directory")
    templates = []
    for path in sorted(directory.glob("*.json")):
        try:
            body = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise BodyError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(body, dict):
            raise BodyError(f"{path}: expected a JSON object (a chat completions body)")
        _first_user_message(body, str(path))
        templates.append(Template(str(path), body))
    if not templates:
        raise BodyError(f"--fixtures {directory}: no *.json files")
    return templates


def generated(prompt_tokens: int, max_tokens: int, seed: int = 0) -> Template:
    """A chat body whose user message is about ``prompt_tokens`` tokens of plain words."""
    rng = random.Random(seed)
    words = " ".join(rng.choice(_WORDS) for _ in range(max(1, prompt_tokens)))
    body = {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Summarize in one sentence: {words}"},
        ],
        "max_tokens": max_tokens,
    }
    return Template("generated", body)


def _first_user_message(body: dict[str, Any], source: str) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BodyError(f"{source}: no 'messages' array (is this a chat completions body?)")
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, (str, list)):
                return message
            raise BodyError(f"{source}: the first user message has no text content")
    raise BodyError(f"{source}: no user message to stamp with a nonce")


def stamp_text(index: int, now: float | None = None) -> str:
    """``[loadtest <nonce> <UTC time>] ``: unique per request, at the prompt's very start."""
    moment = time.time() if now is None else now
    clock = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
    return f"[loadtest {os.urandom(8).hex()}-{index} {clock}.{int(moment % 1 * 1e6):06d}Z] "


def build_body(template: Template, model: str | None, stream: bool, stamp: str) -> dict[str, Any]:
    """A fresh body from ``template``: the model set, streaming set, the stamp prepended."""
    body = copy.deepcopy(template.body)
    if model is not None:
        body["model"] = model
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BodyError(f"{template.source}: no 'model' in the body and no --model given")
    if stream:
        body["stream"] = True
        options = body.get("stream_options")
        body["stream_options"] = {**(options if isinstance(options, dict) else {}),
                                  "include_usage": True}  # fmt: skip
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    message = _first_user_message(body, template.source)
    content = message["content"]
    if isinstance(content, str):
        message["content"] = stamp + content
    else:
        message["content"] = [{"type": "text", "text": stamp}, *content]
    return body


def pick(items: Sequence[Any], index: int) -> Any:
    """Round-robin: request ``index`` gets item ``index mod len``."""
    return items[index % len(items)]
