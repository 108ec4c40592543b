"""The effective configuration: one value per setting, wherever the file put it.

LiteLLM accepts several settings in more than one section. The gateway honours
each place LiteLLM does, with one rule:

    environment  >  router_settings  >  litellm_settings  >  general_settings  >  default

(the environment beats the file; within the file, the most specific section wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from gateway.config.schema import ConfigFile, LiteLLMParams, ModelInfo

DEFAULT_REQUEST_TIMEOUT_S = 600.0
DEFAULT_NUM_RETRIES = 2
DEFAULT_MAX_REQUEST_SIZE_MB = 10.0
DEFAULT_MAX_FALLBACKS = 5


# The ``litellm_params`` that are request defaults (chat and text completions).
REQUEST_DEFAULTS = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
)
# A request that sets one of these has set its output bound: no default for the other.
_OUTPUT_BOUNDS = frozenset({"max_tokens", "max_completion_tokens"})


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One ``model_list`` entry, resolved."""

    id: str
    model_group: str
    provider: str
    model: str
    params: LiteLLMParams
    info: ModelInfo
    index: int

    @property
    def path(self) -> str:
        return f"model_list[{self.index}]"

    def request_defaults(self) -> dict[str, Any]:
        """The request settings this deployment adds where a request has none."""
        params = self.params
        return {
            name: getattr(params, name)
            for name in REQUEST_DEFAULTS
            if getattr(params, name) is not None
        }


def with_defaults(body: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with each default it does not set itself (an output bound counts as one)."""
    merged = dict(body)
    bounded = not _OUTPUT_BOUNDS.isdisjoint(body)
    for name, value in defaults.items():
        if name in merged or (bounded and name in _OUTPUT_BOUNDS):
            continue
        merged[name] = value
    return merged


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    deployments: tuple[DeploymentSpec, ...]
    aliases: dict[str, str]
    master_key: SecretStr | None
    request_timeout: float
    stream_timeout: float | None
    num_retries: int
    fallbacks: dict[str, tuple[str, ...]]
    context_window_fallbacks: dict[str, tuple[str, ...]]
    content_policy_fallbacks: dict[str, tuple[str, ...]]
    default_fallbacks: tuple[str, ...]
    drop_params: bool
    max_request_bytes: int
    source: str
    file: ConfigFile = field(repr=False)
    # Aliases that route but are not listed (LiteLLM's ``hidden: true``).
    hidden_aliases: frozenset[str] = frozenset()

    def group_names(self) -> list[str]:
        """Model groups in config order, without duplicates."""
        return list(dict.fromkeys(spec.model_group for spec in self.deployments))
