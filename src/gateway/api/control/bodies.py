"""Request bodies as pydantic models, and their problems as the gateway's 400s.

A model refuses unknown fields (``Unknown field 'x'. Accepted: ...``, checked
first, as before), then every field is checked against its type; the first
problem in field order is the answer, naming the field in ``param``:
``Missing required field 'x'.`` or ``Invalid 'x': <what pydantic says>.`` The
same models describe the bodies in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from gateway.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
MAX_TEXT_CHARS = 1000


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _printable(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a non-empty string")
    if not value.isprintable():
        raise ValueError("expected printable characters only")
    return value


def text(max_chars: int = MAX_TEXT_CHARS) -> Any:
    """A non-empty, printable string of at most ``max_chars`` characters."""
    return Annotated[str, Field(max_length=max_chars), AfterValidator(_printable)]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not true or false")
    return value


def whole_number(low: int, high: int) -> Any:
    """A whole number from ``low`` to ``high`` (a JSON integer, or its text, never a bool)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_not_bool)]


def parse(model: type[M], body: dict[str, Any]) -> M:
    """``body`` as ``model``, or ``InvalidRequest`` naming the first field that is wrong."""
    accepted = list(model.model_fields)
    for name in body:
        if name not in accepted:
            raise InvalidRequest(
                f"Unknown field {name!r}. Accepted: {', '.join(accepted) or 'none'}.", param=name
            )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise first_problem(exc, accepted) from None


def first_problem(exc: ValidationError, order: list[str]) -> InvalidRequest:
    def position(error: Any) -> int:
        name = str(error["loc"][0]) if error["loc"] else ""
        return order.index(name) if name in order else len(order)

    error = min(exc.errors(), key=position)
    loc = [str(part) for part in error["loc"]]
    name = loc[0] if loc else ""
    where = ".".join(loc) or "body"
    if error["type"] == "missing":
        return InvalidRequest(f"Missing required field {where!r}.", param=name or None)
    message = str(error["msg"]).removeprefix("Value error, ")
    return InvalidRequest(f"Invalid {where!r}: {message}.", param=name or None)
