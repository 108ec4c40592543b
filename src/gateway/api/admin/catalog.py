"""``/model/*``: deployments added at runtime, stored with their credentials sealed.

Precedence when the config file and the database both hold models:

- The config file's deployments come first, as the file lists them; stored
  deployments follow, oldest first. A stored deployment joins the model group
  its ``model_name`` names (an existing group of the file, or a new one).
- Ids are unique across both: ``/model/new`` refuses an id the file (or the
  database) already uses. Should a later edit of the file take an id a stored
  model holds, the file wins and the stored model is skipped, with a warning.
- Only stored models change through this API; a file model is changed by
  editing the file and ``POST /config/reload``.
- As in LiteLLM, runtime models are off unless ``general_settings.store_model_in_db``
  (or ``STORE_MODEL_IN_DB=True``) turns them on; while off, stored models are not
  loaded either.
- ``router_settings`` (fallbacks, aliases, retries) come from the file only; they
  may name groups that stored models make.

Each change is checked by building the whole config with it first (a change
that would break the config is refused with the reasons), then stored with
its audit row, then every process rebuilds its router with it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, SecretStr, ValidationError

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest, text
from gateway.config.paths import path_from_loc
from gateway.config.schema import ModelEntry
from gateway.control.models import Describe
from gateway.control.rows import Change, ModelRow
from gateway.control.stored_models import stored_models
from gateway.control.vault import SALT_KEY_ENV, Vault, VaultError
from gateway.errors import InvalidRequest, ResourceNotFound
from gateway.keys.durations import iso

REDACTED = "<redacted>"
SECRET_WORDS = ("key", "secret", "token", "password", "credential", "authorization")
ID_PREFIX = "db-"


async def new(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only("model_name", "litellm_params", "model_info")
    vault = _vault(control)
    entry = _entry(request.body)
    info = dict(entry.get("model_info") or {})
    model_id = info.get("id") or f"{ID_PREFIX}{uuid.uuid4().hex}"
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequest("Invalid 'model_info.id': expected a non-empty string.", param="id")
    if model_id in {spec.id for spec in control.runtime.config.deployments}:
        raise InvalidRequest(
            f"A deployment with id {model_id!r} exists already; choose another id.",
            param="model_info.id",
        )
    info["id"] = model_id
    entry["model_info"] = info
    stored, _warnings = await stored_models(control.store, vault)
    _check_config(control, [*(m.entry for m in stored), entry])
    now = time.time()
    row = _row(vault, entry, model_id, created_at=now, updated_at=now)
    await control.store.model_insert(row, Change(request.actor.name, "create"), _describer(vault))
    control.note(request.actor.name, "create", "model", model_id)
    await control.runtime.models_changed()
    return describe_entry(entry, stored=True)


async def update(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only("id", "model_name", "litellm_params", "model_info")
    vault = _vault(control)
    model_id = _model_id(request.body)
    stored, _warnings = await stored_models(control.store, vault)
    current = next((m for m in stored if m.row.model_id == model_id), None)
    if current is None:
        raise _not_stored(control, model_id)
    entry = _merged(current.entry, request.body)
    _entry(entry)
    others = [m.entry for m in stored if m.row.model_id != model_id]
    _check_config(control, [*others, entry])
    now = time.time()
    row = _row(vault, entry, model_id, created_at=current.row.created_at, updated_at=now)
    changed = await control.store.model_update(
        row, Change(request.actor.name, "update"), _describer(vault)
    )
    if changed is None:
        raise ResourceNotFound(f"The model {model_id!r} was deleted meanwhile.", param="id")
    control.note(request.actor.name, "update", "model", model_id)
    await control.runtime.models_changed()
    return describe_entry(entry, stored=True)


async def delete(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only("id")
    vault = _vault(control)
    model_id = _model_id(request.body)
    stored, _warnings = await stored_models(control.store, vault)
    if not any(m.row.model_id == model_id for m in stored):
        raise _not_stored(control, model_id)
    _check_config(control, [m.entry for m in stored if m.row.model_id != model_id])
    removed = await control.store.model_delete(
        model_id, Change(request.actor.name, "delete"), _describer(vault)
    )
    if removed is None:
        raise ResourceNotFound(f"The model {model_id!r} was deleted meanwhile.", param="id")
    control.note(request.actor.name, "delete", "model", model_id)
    await control.runtime.models_changed()
    return {"id": model_id, "deleted": True}


async def info(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params("litellm_model_id")
    wanted = text(dict(request.params), "litellm_model_id")
    stored_ids = {m.row.model_id for m in (await stored_models(control.store, control.vault))[0]}
    data = []
    for spec in control.runtime.config.deployments:
        if wanted is not None and spec.id != wanted:
            continue
        entry = {
            "model_name": spec.model_group,
            "litellm_params": spec.params.model_dump(exclude_none=True, exclude_defaults=True),
            "model_info": {**spec.info.model_dump(exclude_none=True), "id": spec.id},
        }
        data.append(describe_entry(entry, stored=spec.id in stored_ids))
    if wanted is not None and not data:
        raise ResourceNotFound(f"Unknown model id {wanted!r}.", param="litellm_model_id")
    return {"data": data}


def describe_entry(entry: dict[str, Any], *, stored: bool) -> dict[str, Any]:
    """A model as the API shows it: credentials redacted, where it comes from."""
    return {
        "model_name": entry["model_name"],
        "litellm_params": redact(entry.get("litellm_params") or {}),
        "model_info": {**(entry.get("model_info") or {}), "db_model": stored},
    }


def redact(params: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, SecretStr) or (
            value not in (None, "") and any(word in name.lower() for word in SECRET_WORDS)
        ):
            shown[name] = REDACTED
        elif isinstance(value, dict):
            shown[name] = {k: REDACTED for k in value} if name == "extra_headers" else value
        elif isinstance(value, BaseModel):
            shown[name] = value.model_dump(mode="json")
        else:
            shown[name] = value
    return shown


# --- helpers ----------------------------------------------------------------------------


def _vault(control: ControlPlane) -> Vault:
    if not control.runtime.stored_models_enabled:
        raise InvalidRequest(
            "Runtime models are off: set general_settings.store_model_in_db: true in the "
            "config file (or STORE_MODEL_IN_DB=True), then reload.",
            code="store_model_in_db_off",
        )
    if control.vault is None:
        raise InvalidRequest(
            f"Runtime models need {SALT_KEY_ENV} set on the gateway (at least 16 characters): "
            "it encrypts their credentials at rest.",
            code="salt_key_missing",
        )
    return control.vault


def _entry(body: dict[str, Any]) -> dict[str, Any]:
    """Check a model entry with the config file's own schema; its JSON, as given."""
    try:
        ModelEntry.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{path_from_loc(error['loc']) or '(body)'}: "
            + ("required field is missing" if error["type"] == "missing" else error["msg"])
            for error in exc.errors()
        ]
        raise InvalidRequest(
            "Invalid model: " + "; ".join(problems) + ".", param=_first_param(exc)
        ) from None
    entry = orjson.loads(orjson.dumps(body))
    assert isinstance(entry, dict)
    return entry


def _first_param(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return path_from_loc(errors[0]["loc"]) if errors else None


def _model_id(body: dict[str, Any]) -> str:
    info = body.get("model_info")
    nested = info.get("id") if isinstance(info, dict) else None
    top = body.get("id")
    if top is not None and nested is not None and top != nested:
        raise InvalidRequest("'id' and 'model_info.id' differ; give one.", param="id")
    model_id = top if top is not None else nested
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequest(
            "Name the model: 'id' (or 'model_info.id'), as /model/info shows it.", param="id"
        )
    return model_id


def _merged(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The stored entry with the request's changes (a null removes a parameter)."""
    entry = orjson.loads(orjson.dumps(current))
    if "model_name" in body:
        entry["model_name"] = body["model_name"]
    for section in ("litellm_params", "model_info"):
        changes = body.get(section)
        if changes is None:
            continue
        if not isinstance(changes, dict):
            raise InvalidRequest(f"Invalid {section!r}: expected an object.", param=section)
        merged = dict(entry.get(section) or {})
        for name, value in changes.items():
            if section == "model_info" and name == "id":
                continue
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        entry[section] = merged
    assert isinstance(entry, dict)
    return entry


def _check_config(control: ControlPlane, entries: Sequence[dict[str, Any]]) -> None:
    problems = control.runtime.model_problems(entries)
    if problems:
        raise InvalidRequest(
            "The change would break the config: " + "; ".join(problems) + ".",
            code="invalid_config",
        )


def _not_stored(control: ControlPlane, model_id: str) -> ResourceNotFound | InvalidRequest:
    if any(spec.id == model_id for spec in control.runtime.config.deployments):
        return InvalidRequest(
            f"The model {model_id!r} is defined in the config file: edit the file and "
            "POST /config/reload to change it.",
            param="id",
        )
    return ResourceNotFound(f"Unknown model id {model_id!r}.", param="id")


def _row(
    vault: Vault, entry: dict[str, Any], model_id: str, *, created_at: float, updated_at: float
) -> ModelRow:
    info = {k: v for k, v in (entry.get("model_info") or {}).items() if k != "id"}
    return ModelRow(
        model_id=model_id,
        model_name=str(entry["model_name"]),
        params_sealed=vault.seal(entry["litellm_params"]),
        model_info=orjson.dumps(info).decode(),
        created_at=created_at,
        updated_at=updated_at,
    )


def _describer(vault: Vault) -> Describe:
    def describe(row: ModelRow) -> str:
        try:
            params: dict[str, Any] = redact(vault.open(row.params_sealed))
        except VaultError:
            params = {"sealed": True}
        return orjson.dumps(
            {
                "model_name": row.model_name,
                "litellm_params": params,
                "model_info": orjson.loads(row.model_info),
                "updated_at": iso(row.updated_at),
            }
        ).decode()

    return describe
