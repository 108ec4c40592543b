"""Virtual keys on the model routes: the models a request can reach, and its admission.

A request can reach the model it asks for and, through its ``fallbacks``,
others: a key must be allowed all of them. A model counts as allowed when the
key lists it by the name asked or by its model group (an alias resolves to
its group). The master key skips all of this. ``/v1/models`` lists only the
models the key may use.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.api.auth import Caller
from gateway.api.services import DataPlane
from gateway.keys.gate import Admission


async def admit(
    plane: DataPlane, caller: Caller, model: str, fallbacks: Sequence[str] | None = None
) -> Admission | None:
    """The key's checks for this request (403, 400 budget, 429); None for the master key."""
    if caller.grant is None:
        return None
    names = [_names(plane, model), *(_names(plane, f) for f in fallbacks or ())]
    return await plane.auth.admit(caller, names)


def visible(plane: DataPlane, caller: Caller, name: str) -> bool:
    """Whether ``/v1/models`` shows this model to the caller (the key may use it)."""
    return plane.auth.permits(caller, _names(plane, name))


def _names(plane: DataPlane, name: str) -> tuple[str, ...]:
    group = plane.router.groups.get(name)
    if group is None or group.name == name:
        return (name,)
    return (name, group.name)
