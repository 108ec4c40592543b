"""OpenAI chat requests as Gemini ``generateContent`` requests.

Messages become ``contents`` (system and developer texts the
``systemInstruction``, tool results ``functionResponse`` parts named after the
call they answer), sampling parameters the ``generationConfig``, tools function
declarations with their schemas cut down to the OpenAPI subset Gemini takes.
A request that cannot be expressed raises ``TranslationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers.translate import (
    CHAT_PARAMS,
    TranslationError,
    call_function,
    conversation,
    function_tools,
    max_output_tokens,
    parse_data_url,
    stop_list,
    text_of,
)

# The OpenAI chat parameters this translation expresses; others are refused or dropped.
SUPPORTED_PARAMS = CHAT_PARAMS | {
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "reasoning_effort",
}
# Gemini 3 signs its function calls; the signature rides in the OpenAI tool call's id
# (``<id>__thought__<signature>``, as LiteLLM carries it), which every client sends back
# as it got it, and is put back on the call's part on the next request.
THOUGHT_SEPARATOR = "__thought__"
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# Gemini 2.5 thinks within a token budget (0: not at all, where the model allows it) ...
THINKING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 24576,
}
# ... Gemini 3 at a level (``minimal`` is its least: it has no off).
THINKING_LEVELS = {
    "none": "minimal",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
# Gemini's function parameter schema is a subset of OpenAPI 3.0; other keys are refused upstream.
SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)


def generate_request(body: Mapping[str, Any], model: str = "") -> dict[str, Any]:
    system, contents = _contents(body.get("messages"))
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    config = _generation_config(body)
    effort = body.get("reasoning_effort")
    if effort is not None:
        config["thinkingConfig"] = thinking_config(effort, model)
    if config:
        request["generationConfig"] = config
    tools = _tools(body.get("tools"))
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
        choice = _tool_config(body.get("tool_choice"))
        if choice is not None:
            request["toolConfig"] = {"functionCallingConfig": choice}
    return request


def _contents(raw: Any) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for function responses
    for where, role, message in conversation(raw, system):
        if role == "user":
            _append(contents, "user", _user_parts(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, where, names))
        else:
            _append(contents, "user", [_function_response(message, where, names)])
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}: expected a string or an array of parts", param=where)
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise TranslationError(f"{where}[{index}].image_url.url: expected a string")
            inline = parse_data_url(url)
            if inline is not None:
                parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            else:
                parts.append({"fileData": {"mimeType": _guess_image_type(url), "fileUri": url}})
        else:
            raise TranslationError(
                f"{where}[{index}]: content parts of type {kind!r} are not supported by gemini",
                param=where,
            )
    return parts


def _guess_image_type(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for suffix, media in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif")):
        if path.endswith(suffix):
            return media
    return "image/jpeg"


def _model_parts(
    message: Mapping[str, Any], where: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = text_of(message.get("content"), f"{where}.content")
    if text:
        parts.append({"text": text})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call_function(call, where, index)
        name = str(function.get("name", ""))
        call_id = str(call.get("id") or "")
        if call_id:
            names[call_id] = name
        part: dict[str, Any] = {
            "functionCall": {"name": name, "args": _json_arguments(function, where)}
        }
        _, signed, signature = call_id.partition(THOUGHT_SEPARATOR)
        if signed and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def thinking_config(effort: Any, model: str) -> dict[str, Any]:
    """``reasoning_effort`` as Gemini's ``thinkingConfig``: a level for Gemini 3, a budget
    for the others; with thought summaries, which come back as ``reasoning_content``."""
    if effort not in EFFORTS:
        raise TranslationError(
            f"reasoning_effort: {effort!r} is not one of {', '.join(EFFORTS)}",
            param="reasoning_effort",
        )
    config: dict[str, Any]
    if "gemini-3" in model:
        config = {"thinkingLevel": THINKING_LEVELS[effort]}
    else:
        config = {"thinkingBudget": THINKING_BUDGETS[effort]}
    if effort != "none":
        config["includeThoughts"] = True
    return config


def _json_arguments(function: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw = function.get("arguments")
    if raw in (None, ""):
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise TranslationError(f"{where}: tool call arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where}: tool call arguments must be a JSON object")
    return value


def _function_response(
    message: Mapping[str, Any], where: str, names: dict[str, str]
) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = names.get(str(call_id)) if call_id else None
    if name is None:
        raise TranslationError(
            f"{where}.tool_call_id: no earlier assistant tool call has id {call_id!r}",
            param=f"{where}.tool_call_id",
        )
    text = text_of(message.get("content"), f"{where}.content")
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(source) is not None:
            config[target] = body[source]
    limit = max_output_tokens(body)
    if limit is not None:
        config["maxOutputTokens"] = limit
    stops = stop_list(body.get("stop"))
    if stops:
        config["stopSequences"] = stops
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        schema = response_format.get("json_schema")
        if kind == "json_schema" and isinstance(schema, dict) and schema.get("schema"):
            config["responseSchema"] = clean_schema(schema["schema"])
    return config


def _tools(raw: Any) -> list[dict[str, Any]]:
    declarations = []
    for function in function_tools(raw):
        declaration: dict[str, Any] = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        # Gemini refuses an object schema without properties: a function without arguments.
        if isinstance(parameters, dict) and parameters.get("properties"):
            declaration["parameters"] = clean_schema(parameters)
        declarations.append(declaration)
    return declarations


def clean_schema(schema: Any) -> Any:
    """A JSON schema reduced to the OpenAPI subset Gemini accepts."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if kinds else "string"
    if kind is not None:
        out["type"] = kind
    if "const" in schema and "enum" not in schema:
        out["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key not in SCHEMA_KEYS or key == "type":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(child) for name, child in value.items()}
        elif key == "items":
            out[key] = clean_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [clean_schema(child) for child in value]
        else:
            out[key] = value
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "required":
        return {"mode": "ANY"}
    if choice == "none":
        return {"mode": "NONE"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    raise TranslationError("'tool_choice' is not valid", param="tool_choice")
