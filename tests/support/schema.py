"""A small, strict JSON shape checker for the mock providers' request validation.

Each check is a function ``(value, path, problems)`` that appends what is
wrong. ``obj`` refuses unknown fields, so a field a provider does not document
is a violation, as it is for the real API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any, str, list[str]], None]


def obj(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    allowed = {**required, **(optional or {})}

    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        for name in required:
            if name not in value:
                problems.append(f"{path}.{name}: required field is missing")
        for name, item in value.items():
            if name not in allowed:
                problems.append(f"{path}.{name}: unknown field")
            else:
                allowed[name](item, f"{path}.{name}", problems)

    return check


def array(item: Check, *, min_items: int = 0) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array, got {type(value).__name__}")
            return
        if len(value) < min_items:
            problems.append(f"{path}: expected at least {min_items} items")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", problems)

    return check


def string(*, enum: tuple[str, ...] = (), non_empty: bool = False, prefix: str = "") -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, got {type(value).__name__}")
        elif enum and value not in enum:
            problems.append(f"{path}: {value!r} is not one of {enum}")
        elif non_empty and not value:
            problems.append(f"{path}: must not be empty")
        elif prefix and not value.startswith(prefix):
            problems.append(f"{path}: must start with {prefix!r}")

    return check


def integer(*, minimum: int | None = None) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer, got {type(value).__name__}")
        elif minimum is not None and value < minimum:
            problems.append(f"{path}: must be >= {minimum}")

    return check


def number(*, minimum: float | None = None, maximum: float | None = None) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number, got {type(value).__name__}")
        elif (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            problems.append(f"{path}: {value} is out of range [{minimum}, {maximum}]")

    return check


def boolean() -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, got {type(value).__name__}")

    return check


def any_object() -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")

    return check


def either(*checks: Check) -> Check:
    """Valid when any one check passes; otherwise the first check's problems."""

    def check(value: Any, path: str, problems: list[str]) -> None:
        first: list[str] | None = None
        for candidate in checks:
            found: list[str] = []
            candidate(value, path, found)
            if not found:
                return
            first = first if first is not None else found
        problems.extend(first or [f"{path}: invalid"])

    return check


def tagged(field: str, variants: Mapping[str, Check]) -> Check:
    """An object whose ``field`` (e.g. ``type``) picks the shape it must have."""

    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        tag = value.get(field)
        if tag not in variants:
            problems.append(f"{path}.{field}: {tag!r} is not one of {sorted(variants)}")
            return
        variants[tag](value, path, problems)

    return check


def one_key(variants: Mapping[str, Check], common: Mapping[str, Check] | None = None) -> Check:
    """An object with exactly one of ``variants``' keys (a protobuf ``oneof``)."""
    extra = dict(common or {})

    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        present = [key for key in variants if key in value]
        if len(present) != 1:
            problems.append(f"{path}: expected exactly one of {sorted(variants)}, got {present}")
        for name, item in value.items():
            if name in variants:
                variants[name](item, f"{path}.{name}", problems)
            elif name in extra:
                extra[name](item, f"{path}.{name}", problems)
            else:
                problems.append(f"{path}.{name}: unknown field")

    return check


def validate(check: Check, value: Any, path: str = "body") -> list[str]:
    problems: list[str] = []
    check(value, path, problems)
    return problems
