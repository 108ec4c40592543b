"""``GET /admin/audit``: the newest control-plane changes first, filtered by what changed."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest, text, whole_number
from gateway.errors import InvalidRequest
from gateway.keys.durations import iso

KINDS = ("key", "team", "model", "override", "config")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


async def list_audit(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params("target_kind", "target_id", "limit")
    params: dict[str, Any] = dict(request.params)
    kind = text(params, "target_kind")
    if kind is not None and kind not in KINDS:
        raise InvalidRequest(
            f"Invalid 'target_kind': {kind!r}; expected one of {', '.join(KINDS)}.",
            param="target_kind",
        )
    limit = whole_number(params, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
    rows = await control.store.audit_list(
        target_kind=kind, target_id=text(params, "target_id"), limit=limit
    )
    return {
        "data": [
            {
                "id": row.id,
                "at": iso(row.at),
                "actor": row.actor,
                "action": row.action,
                "target_kind": row.target_kind,
                "target_id": row.target_id,
                "reason": row.reason,
                "before": orjson.loads(row.before) if row.before is not None else None,
                "after": orjson.loads(row.after) if row.after is not None else None,
            }
            for row in rows
        ]
    }
