"""Check that an answer has OpenAI's (or Anthropic's) shape, not just that the SDK tolerated it.

The SDKs build their typed objects without validation, so a missing field
would only show up when a caller touched it. ``assert_complete`` re-validates
what was received against the SDK's own pydantic model and checks that every
required field, at every depth, was really sent.
"""

from __future__ import annotations

from typing import Any

import pydantic


def assert_complete(value: Any, *, no_extras: bool = True, path: str = "") -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            assert_complete(item, no_extras=no_extras, path=f"{path}[{index}]")
        return
    if not isinstance(value, pydantic.BaseModel):
        return
    model = type(value)
    sent = value.model_dump(exclude_unset=True, by_alias=True, warnings=False)
    model.model_validate(sent)  # types and required fields, strictly
    for name, info in model.model_fields.items():
        if info.is_required():
            assert name in value.model_fields_set, f"{model.__name__}{path}.{name}: missing"
        assert_complete(getattr(value, name), no_extras=no_extras, path=f"{path}.{name}")
    if no_extras:
        extra = value.model_extra
        assert not extra, f"{model.__name__}{path}: unexpected fields {extra}"
