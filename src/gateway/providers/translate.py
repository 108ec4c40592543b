"""Helpers shared by the providers that translate OpenAI's format into their own.

``TranslationError`` is raised by pure translation code when a request cannot
be expressed in the other format; the caller decides what error that becomes
(a provider: ``UpstreamBadRequest``; the API: the caller's 400).
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from gateway.providers.base import Usage

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)$", re.S)


# The OpenAI chat parameters every translation expresses (sampling, stop, tools, output
# length, streaming); each provider adds its own to these.
CHAT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        # A caching hint, not a generation setting: providers without one ignore it (the
        # gateway reads it for session affinity).
        "prompt_cache_key",
    }
)


class TranslationError(ValueError):
    """A request that cannot be translated; ``param`` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def check_params(
    body: Mapping[str, Any], supported: frozenset[str], *, drop: bool, provider: str
) -> None:
    """Refuse a parameter ``provider`` cannot express, unless ``drop_params`` is on.

    A null value counts as absent, and ``n: 1`` as the default it is.
    """
    if drop:
        return
    for name, value in body.items():
        if name in supported or value is None:
            continue
        if name == "n" and value == 1:
            continue
        raise TranslationError(
            f"{provider} does not support the parameter {name!r}. Remove it, or set "
            "litellm_settings.drop_params: true to drop unsupported parameters.",
            param=name,
        )


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:`` URL, or None for any other URL."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    return match.group("mime"), match.group("data")


def text_of(content: Any, where: str) -> str:
    """The text of an OpenAI message ``content``: a string or an array of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise TranslationError(
                    f"{where}[{index}]: only text parts are allowed here", param=where
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise TranslationError(f"{where}: expected a string or an array of parts", param=where)


def conversation(raw: Any, system: list[str]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """The user, assistant and tool turns of an OpenAI ``messages`` array, in order.

    Each comes as (its path for error messages, its role, the message). The texts
    of system and developer messages are appended to ``system`` instead, as the
    providers that translate take the system prompt apart from the turns.
    """
    if not isinstance(raw, list):
        raise TranslationError("'messages' must be an array", param="messages")
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        role = message.get("role")
        if role in ("system", "developer"):
            text = text_of(message.get("content"), f"{where}.content")
            if text:
                system.append(text)
        elif role in ("user", "assistant", "tool"):
            yield where, role, message
        else:
            raise TranslationError(f"{where}.role: {role!r} is not supported", param=where)


def call_function(call: Any, where: str, index: int) -> dict[str, Any]:
    """The ``function`` of an assistant message's ``tool_calls[index]``."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise TranslationError(f"{where}.tool_calls[{index}]: missing 'function'", param=where)
    return function


def function_tools(raw: Any) -> list[dict[str, Any]]:
    """The ``function`` objects of an OpenAI ``tools`` array; other kinds of tool are refused."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TranslationError("'tools' must be an array", param="tools")
    functions = []
    for index, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not function:
            raise TranslationError(
                f"tools[{index}]: only function tools are supported", param=f"tools[{index}]"
            )
        functions.append(function)
    return functions


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI ``tool_calls`` entry; ``arguments`` (an object) is sent as JSON text."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments or {}).decode()},
    }


def tool_arguments(raw: Any, where: str) -> dict[str, Any]:
    """A tool call's ``arguments`` (JSON text, or an object) as the object they encode."""
    if raw is None or raw == "":
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise TranslationError(f"{where}.function.arguments: not valid JSON", param=where) from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where}.function.arguments: must be a JSON object", param=where)
    return value


def stop_list(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise TranslationError("'stop' must be a string or an array of strings", param="stop")


def max_output_tokens(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TranslationError("'max_tokens' must be a positive integer", param="max_tokens")
    return value


def embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    """The texts of an embeddings request (token-array inputs cannot be translated)."""
    value = body.get("input")
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise TranslationError(
            "'input' must be a string or an array of strings for this provider", param="input"
        )
    return list(items)


def as_base64(vector: list[float]) -> str:
    """A vector as OpenAI's base64 embedding: float32, little-endian."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def encode_embeddings_base64(answer: Mapping[str, Any]) -> None:
    """Encode, in place, any float-list embedding an upstream answered a base64 request with.

    Some OpenAI-compatible servers ignore ``encoding_format``; a client that asked for
    base64 (the Node SDK does by default) would decode their floats into garbage.
    """
    data = answer.get("data")
    if not isinstance(data, list):
        return
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("embedding"), list):
            try:
                item["embedding"] = as_base64(item["embedding"])
            except struct.error:  # not a vector of numbers: relay it as the upstream sent it
                continue


def embedding_list(
    vectors: Iterable[list[float]], model: str, prompt_tokens: int, encoding_format: Any
) -> dict[str, Any]:
    """An OpenAI embeddings answer; base64 (float32, little-endian) when the caller asked."""
    data = []
    for index, vector in enumerate(vectors):
        encoded: Any = as_base64(vector) if encoding_format == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object (prompt tokens include cached ones, as OpenAI counts them).
    Cache writes, which OpenAI has no field for, go where OpenRouter puts them
    (``prompt_tokens_details.cache_write_tokens``) and where LiteLLM does
    (``cache_creation_input_tokens``), so either kind of client sees what it paid for."""
    details: dict[str, int] = {"cached_tokens": usage.cached_tokens}
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": details,
    }
    if usage.cache_write_tokens:
        details["cache_write_tokens"] = usage.cache_write_tokens
        body["cache_creation_input_tokens"] = usage.cache_write_tokens
    return body


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
