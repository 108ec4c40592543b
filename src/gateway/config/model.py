"""The effective configuration: one value per setting, wherever the file put it.

LiteLLM accepts several settings in more than one section. The gateway honours
each place LiteLLM does, with one rule:

    environment  >  router_settings  >  litellm_settings  >  general_settings  >  default

(the environment beats the file; within the file, the most specific section wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from gateway.config.schema import ConfigFile, LiteLLMParams, ModelInfo

DEFAULT_REQUEST_TIMEOUT_S = 600.0
DEFAULT_NUM_RETRIES = 2
DEFAULT_MAX_REQUEST_SIZE_MB = 10.0
DEFAULT_MAX_FALLBACKS = 5


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
