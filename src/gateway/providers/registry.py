"""Build the provider for each deployment, and say which deployments cannot work."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.model import DeploymentSpec
from gateway.errors import UpstreamServerError
from gateway.providers.base import ChunkStream, Provider, UpstreamCall, UpstreamResult
from gateway.providers.mock import MockProvider
from gateway.providers.openai_compat import VENDORS, OpenAICompatibleProvider, resolve_base
from gateway.providers.transport import UpstreamPool

NOT_IMPLEMENTED_STATUS = 501


def is_supported(provider: str) -> bool:
    return provider == "mock" or provider in VENDORS


def deployment_warnings(
    deployments: tuple[DeploymentSpec, ...], env: Mapping[str, str]
) -> list[str]:
    """Problems that do not stop the gateway but will fail requests to a deployment."""
    warnings = []
    for spec in deployments:
        where = f"{spec.path}.litellm_params.model"
        if not is_supported(spec.provider):
            warnings.append(
                f"{where}: provider {spec.provider!r} is not supported by this gateway; "
                f"requests routed to {spec.id} fail with {NOT_IMPLEMENTED_STATUS} "
                "and go to fallbacks"
            )
            continue
        if spec.provider == "mock":
            continue
        if resolve_base(spec.provider, spec.params.api_base) is None:
            warnings.append(
                f"{spec.path}.litellm_params.api_base: provider {spec.provider!r} "
                "has no default address; set api_base"
            )
        vendor = VENDORS[spec.provider]
        if spec.params.api_key is None and vendor.key_env and vendor.key_env not in env:
            warnings.append(
                f"{spec.path}.litellm_params.api_key: not set and {vendor.key_env} "
                "is not in the environment; the upstream will likely answer 401"
            )
    return warnings


def build_provider(spec: DeploymentSpec, env: Mapping[str, str], pool: UpstreamPool) -> Provider:
    params = spec.params
    if spec.provider == "mock":
        return MockProvider(
            model=spec.model,
            deployment_id=spec.id,
            response=params.mock_response,
            latency_ms=params.mock_latency_ms,
            failure_rate=params.mock_failure_rate,
            failure_status=params.mock_failure_status,
            stream_chunks=params.mock_stream_chunks,
            chunk_delay_ms=params.mock_chunk_delay_ms,
            prompt_tokens=params.mock_prompt_tokens,
            completion_tokens=params.mock_completion_tokens,
            embedding_dimensions=params.mock_embedding_dimensions,
        )
    if spec.provider in VENDORS:
        base = resolve_base(spec.provider, params.api_base)
        if base is None:
            return UnavailableProvider(spec.provider, "no api_base is configured")
        vendor = VENDORS[spec.provider]
        key = params.api_key.get_secret_value() if params.api_key else None
        if key is None and vendor.key_env:
            key = env.get(vendor.key_env)
        return OpenAICompatibleProvider(
            provider=spec.provider,
            model=spec.model,
            api_base=base,
            api_key=key,
            organization=params.organization,
            extra_headers=params.extra_headers,
            pool=pool,
            deployment_id=spec.id,
        )
    return UnavailableProvider(spec.provider, "this provider is not supported")


class UnavailableProvider:
    """Stands in for a deployment that cannot be called, failing clearly every time."""

    def __init__(self, provider: str, reason: str) -> None:
        self._provider = provider
        self._reason = reason

    @property
    def name(self) -> str:
        return self._provider

    @property
    def api_base(self) -> str | None:
        return None

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        raise self._failure()

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        raise self._failure()

    def _failure(self) -> UpstreamServerError:
        return UpstreamServerError(
            f"provider {self._provider!r} cannot be called: {self._reason}",
            upstream_status=NOT_IMPLEMENTED_STATUS,
        )
