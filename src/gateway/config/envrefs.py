"""Resolve LiteLLM's ``os.environ/NAME`` references in a raw config tree.

Resolution happens once, before validation, so every later layer sees plain
values. A reference to an unset variable is reported with the field path: as an
error where the gateway reads the value, as a warning where it does not (a key
no section declares, such as another tool's setting), since LiteLLM would not
fail there either.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

from gateway.config.paths import join_path

ENV_PREFIX = "os.environ/"


def resolve_env_refs(
    node: Any, env: Mapping[str, str], path: str = "", problems: list[str] | None = None
) -> Any:
    """Return a copy of ``node`` with every ``os.environ/NAME`` string replaced.

    Missing variables are appended to ``problems`` (as ``path: message``) and
    left as ``None`` so validation can continue and report everything at once.
    """
    if problems is None:
        problems = []
    if isinstance(node, str):
        if node.startswith(ENV_PREFIX):
            name = node[len(ENV_PREFIX) :]
            if name not in env:
                problems.append(f"{path}: environment variable {name} is not set")
                return None
            return env[name]
        return node
    if isinstance(node, Mapping):
        return {
            key: resolve_env_refs(value, env, join_path(path, key), problems)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            resolve_env_refs(value, env, f"{path}[{index}]", problems)
            for index, value in enumerate(node)
        ]
    return node


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def declared(model: type[BaseModel], path: str) -> bool:
    """Whether ``path`` (``model_list[0].litellm_params.api_key``) names a field that
    ``model``'s schema declares, all the way down (a free-form dict counts as declared)."""
    current: Any = model
    for name, index in _PART.findall(path):
        if index:
            current = _item_type(current)
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(name)
            if field is None:
                return False
            current = _unwrapped(field.annotation)
        else:
            current = _value_type(current)
        if current is None:
            return True
    return True


def _unwrapped(annotation: Any) -> Any:
    """The schema type inside ``X | None`` (the first model or container)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        for option in options:
            if isinstance(option, type) and issubclass(option, BaseModel):
                return option
        return options[0] if options else None
    return annotation


def field_type(annotation: Any, *, item: bool = False) -> Any:
    """A field's schema type (its model or container), or with ``item`` the type of the
    items of a list field (None when it is not a list)."""
    kind = _unwrapped(annotation)
    return _item_type(kind) if item else kind


def _item_type(container: Any) -> Any:
    args = typing.get_args(container)
    return _unwrapped(args[0]) if typing.get_origin(container) is list and args else None


def _value_type(container: Any) -> Any:
    args = typing.get_args(container)
    return _unwrapped(args[1]) if typing.get_origin(container) is dict and len(args) == 2 else None


def numbers_as_text(model: type[BaseModel], node: Any) -> Any:
    """``node`` with every number (not a bool) in a text field as its text, as LiteLLM
    reads ``api_key: 12345`` or ``model_name: 2025`` (a YAML number where text is meant)."""
    if not isinstance(node, Mapping):
        return node
    out: dict[Any, Any] = {}
    for key, value in node.items():
        field = model.model_fields.get(str(key))
        kind = _unwrapped(field.annotation) if field is not None else None
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out[key] = numbers_as_text(kind, value)
        elif isinstance(value, list) and isinstance(_item_type(kind), type):
            item = _item_type(kind)
            out[key] = [
                numbers_as_text(item, entry) if issubclass(item, BaseModel) else entry
                for entry in value
            ]
        elif _takes_text(field) and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _takes_text(field: Any) -> bool:
    """Whether a field takes text and no number (``str``, ``SecretStr``, optional or not)."""
    if field is None:
        return False
    options = typing.get_args(field.annotation) or (field.annotation,)
    options = tuple(o for o in options if o is not type(None))
    text = {str, SecretStr}
    return bool(options) and all(option in text for option in options)
