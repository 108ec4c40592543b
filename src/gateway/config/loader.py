"""Load a config file into a validated ``GatewayConfig``, reporting every problem at once."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from gateway.config.defaults import EMBEDDED_CONFIG, EMBEDDED_SOURCE
from gateway.config.envrefs import declared, numbers_as_text, resolve_env_refs
from gateway.config.model import (
    DEFAULT_MAX_REQUEST_SIZE_MB,
    DEFAULT_NUM_RETRIES,
    DEFAULT_REQUEST_TIMEOUT_S,
    DeploymentSpec,
    GatewayConfig,
)
from gateway.config.paths import path_from_loc
from gateway.config.providers import provider_and_model
from gateway.config.schema import AliasTarget, ConfigFile, ModelEntry, alias_group
from gateway.config.settings import EnvSettings
from gateway.config.spellings import canonical_spellings
from gateway.config.unsupported import unsupported_keys
from gateway.config.validate import check_references, policy_warnings


class ConfigLoader(yaml.SafeLoader):
    """YAML as LiteLLM's configs are written: an unquoted date (``api_version:
    2024-06-01``) is its text, since every date-like value in a config is a string."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason with its field path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(slots=True)
class LoadedConfig:
    config: GatewayConfig
    warnings: list[str] = field(default_factory=list)
    # How the file was read where LiteLLM reads it in a way not spelled out (no problem).
    notes: list[str] = field(default_factory=list)


def read_config_file(path: str | Path) -> dict[str, Any]:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"{where}not valid YAML: {problem}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"the top level must be a mapping, not {type(data).__name__}"])
    return data


def load_config(
    path: str | Path, env: Mapping[str, str], settings: EnvSettings | None = None
) -> LoadedConfig:
    return build_config(read_config_file(path), env, str(path), settings)


def load_or_embedded(
    path: str | Path | None, env: Mapping[str, str], settings: EnvSettings | None = None
) -> LoadedConfig:
    """The config at ``path``, or the embedded defaults (mock models) when there is none."""
    if path:
        return load_config(path, env, settings)
    return build_config(EMBEDDED_CONFIG, env, EMBEDDED_SOURCE, settings)


def build_config(
    data: Mapping[str, Any],
    env: Mapping[str, str],
    source: str,
    settings: EnvSettings | None = None,
) -> LoadedConfig:
    problems: list[str] = []
    file_env = data.get("environment_variables")
    if isinstance(file_env, dict):
        # LiteLLM exports these into the environment; here they only fill gaps.
        env = {**{k: str(v) for k, v in file_env.items()}, **env}
    spelled, renamed = canonical_spellings(data)
    notes = [rename.note() for rename in renamed]
    unset: list[str] = []
    resolved = resolve_env_refs(spelled, env, "", unset)
    unread: list[str] = []
    for problem in unset:
        path = problem.split(": ", 1)[0]
        if declared(ConfigFile, path):
            problems.append(problem)
        else:
            unread.append(f"{problem} (a key the gateway does not read; left empty)")
    try:
        file = ConfigFile.model_validate(numbers_as_text(ConfigFile, resolved))
    except ValidationError as exc:
        problems.extend(_format_validation_error(exc))
        raise ConfigError(source, problems) from exc
    if problems:
        raise ConfigError(source, problems)

    deployments = _deployments(file.model_list, notes)
    problems.extend(_duplicate_ids(deployments))
    fallbacks = _fallback_map(file.router_settings.fallbacks)
    context_fallbacks = _fallback_map(
        file.router_settings.context_window_fallbacks
        or file.litellm_settings.context_window_fallbacks
        or []
    )
    policy_fallbacks = _fallback_map(
        file.router_settings.content_policy_fallbacks
        or file.litellm_settings.content_policy_fallbacks
        or []
    )
    default_fallbacks = tuple(
        file.router_settings.default_fallbacks
        if file.router_settings.default_fallbacks is not None
        else file.litellm_settings.default_fallbacks or []
    )
    problems.extend(check_references(file, [d.model_group for d in deployments]))
    if problems:
        raise ConfigError(source, problems)

    master_key = _master_key(file, settings)
    config = GatewayConfig(
        deployments=tuple(deployments),
        aliases={
            alias: alias_group(target)
            for alias, target in file.router_settings.model_group_alias.items()
        },
        hidden_aliases=frozenset(
            alias
            for alias, target in file.router_settings.model_group_alias.items()
            if isinstance(target, AliasTarget) and target.hidden
        ),
        master_key=master_key,
        request_timeout=_first(
            file.router_settings.timeout,
            file.litellm_settings.request_timeout,
            file.general_settings.request_timeout,
            default=DEFAULT_REQUEST_TIMEOUT_S,
        ),
        stream_timeout=file.litellm_settings.stream_timeout,
        num_retries=int(
            _first(
                file.router_settings.num_retries,
                file.litellm_settings.num_retries,
                default=DEFAULT_NUM_RETRIES,
            )
        ),
        fallbacks=fallbacks,
        context_window_fallbacks=context_fallbacks,
        content_policy_fallbacks=policy_fallbacks,
        default_fallbacks=default_fallbacks,
        drop_params=file.litellm_settings.drop_params,
        max_request_bytes=int(
            (file.general_settings.max_request_size_mb or DEFAULT_MAX_REQUEST_SIZE_MB) * 1024 * 1024
        ),
        source=source,
        file=file,
    )
    return LoadedConfig(
        config=config,
        warnings=[*unread, *unsupported_keys(file), *policy_warnings(file)],
        notes=notes,
    )


def _first(*values: float | None, default: float) -> float:
    for value in values:
        if value is not None:
            return value
    return default


def _master_key(file: ConfigFile, settings: EnvSettings | None) -> SecretStr | None:
    env_key = settings.gateway_master_key if settings is not None else None
    if env_key is not None and env_key.get_secret_value():
        return env_key
    key = file.general_settings.master_key
    if key is not None and key.get_secret_value():
        return key
    return None


def _deployments(entries: list[ModelEntry], notes: list[str]) -> list[DeploymentSpec]:
    seen: dict[str, int] = {}
    specs: list[DeploymentSpec] = []
    for index, entry in enumerate(entries):
        provider, model, inferred = provider_and_model(entry.litellm_params)
        where = f"model_list[{index}].litellm_params"
        if inferred is not None:
            notes.append(f"{where}.model: {inferred}")
        if entry.litellm_params.mock_response is not None and provider != "mock":
            notes.append(
                f"{where}.mock_response: set, so this deployment answers locally and never "
                f"calls {provider}"
            )
        deployment_id = entry.model_info.id or _derived_id(entry)
        if not entry.model_info.id:
            # Identical entries (a common way to add weight) get stable suffixes.
            count = seen.get(deployment_id, 0)
            seen[deployment_id] = count + 1
            if count:
                deployment_id = f"{deployment_id}-{count}"
        specs.append(
            DeploymentSpec(
                id=deployment_id,
                model_group=entry.model_name,
                provider=provider,
                model=model,
                params=entry.litellm_params,
                info=entry.model_info,
                index=index,
            )
        )
    return specs


def _derived_id(entry: ModelEntry) -> str:
    """A stable id from the entry's identity, so every worker derives the same one."""
    params = entry.litellm_params
    key = params.api_key.get_secret_value() if params.api_key else ""
    parts = [
        entry.model_name,
        params.model,
        params.api_base or "",
        hashlib.sha256(key.encode()).hexdigest(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _duplicate_ids(deployments: list[DeploymentSpec]) -> list[str]:
    first: dict[str, int] = {}
    problems = []
    for spec in deployments:
        if spec.id in first:
            problems.append(
                f"{spec.path}.model_info.id: duplicate id {spec.id!r} "
                f"(also model_list[{first[spec.id]}])"
            )
        else:
            first[spec.id] = spec.index
    return problems


def _fallback_map(entries: list[dict[str, list[str]]]) -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        for group, targets in entry.items():
            chains[group] = tuple(targets)
    return chains


def _format_validation_error(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        path = path_from_loc(error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "missing":
            message = "required field is missing"
        messages.append(f"{path}: {message}")
    return messages
