"""Build the provider for each deployment, and say which deployments cannot work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gateway.config.model import DeploymentSpec
from gateway.config.providers import speaks_anthropic
from gateway.config.schema import MockToolCall
from gateway.errors import UpstreamServerError
from gateway.providers import anthropic, azure, gemini
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.anthropic_cache_points import CachePoint
from gateway.providers.anthropic_host import AnthropicHost
from gateway.providers.anthropic_thinking import Thinking
from gateway.providers.base import ChunkStream, Provider, UpstreamCall, UpstreamResult
from gateway.providers.bedrock import DEFAULT_MAX_TOKENS as DEFAULT_BEDROCK_MAX_TOKENS
from gateway.providers.bedrock import CredentialsMissing, build_bedrock, region_of
from gateway.providers.gemini import Flavor, GeminiProvider
from gateway.providers.mock import MockProvider
from gateway.providers.openai_compat import (
    PATHS,
    VENDORS,
    OpenAICompatibleProvider,
    openai_headers,
    resolve_base,
)
from gateway.providers.transport import UpstreamPool
from gateway.providers.vertex_auth import CredentialsError, VertexTokens, load_service_account

NOT_IMPLEMENTED_STATUS = 501
TRANSLATED = ("anthropic", "gemini", "vertex_ai", "azure", "azure_ai", "bedrock")
# Where Vertex AI settings come from when litellm_params does not say (as in LiteLLM).
VERTEX_PROJECT_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")
VERTEX_LOCATION_ENV = ("VERTEXAI_LOCATION", "VERTEX_LOCATION")
VERTEX_CREDENTIALS_ENV = ("VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS")
DEFAULT_VERTEX_LOCATION = "us-central1"
# The environment's AWS credentials (keys, a profile, a container's or a web identity's).
AWS_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def is_supported(provider: str) -> bool:
    return provider == "mock" or provider in VENDORS or provider in TRANSLATED


def deployment_warnings(
    deployments: tuple[DeploymentSpec, ...], env: Mapping[str, str]
) -> list[str]:
    """Problems that do not stop the gateway but will fail requests to a deployment."""
    warnings = []
    for spec in deployments:
        where = f"{spec.path}.litellm_params"
        if spec.params.mock_response is not None:
            continue  # answered locally: nothing about its upstream can fail
        if not is_supported(spec.provider):
            warnings.append(
                f"{where}.model: provider {spec.provider!r} is not supported by this gateway; "
                f"requests routed to {spec.id} fail with {NOT_IMPLEMENTED_STATUS} "
                "and go to fallbacks"
            )
        elif spec.provider in VENDORS:
            warnings.extend(_vendor_warnings(spec, env))
        elif spec.provider != "mock":
            problem = _translated_problem(spec, env)
            if problem is not None:
                warnings.append(f"{where}.{problem}")
    return warnings


def _vendor_warnings(spec: DeploymentSpec, env: Mapping[str, str]) -> list[str]:
    warnings = []
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


def _translated_problem(spec: DeploymentSpec, env: Mapping[str, str]) -> str | None:
    """What is missing for an Anthropic, Gemini, Vertex AI or Azure deployment, if anything."""
    params = spec.params
    key_env = {
        "anthropic": anthropic.KEY_ENV,
        "gemini": gemini.KEY_ENV,
        "azure": azure.KEY_ENV,
        "azure_ai": azure.AI_KEY_ENV,
    }
    if spec.provider == "azure" and azure.azure_base(params.api_base, env) is None:
        return (
            f"api_base: azure needs the resource address (or {azure.BASE_ENV} in the environment)"
        )
    if spec.provider == "azure_ai" and azure.azure_ai_base(params.api_base, env) is None:
        return (
            "api_base: azure_ai needs the endpoint address "
            f"(or {azure.AI_BASE_ENV} in the environment)"
        )
    if spec.provider == "bedrock":
        # Only what needs no network: the instance-role chain is asked at start-up.
        explicit = params.aws_access_key_id and params.aws_secret_access_key
        if explicit or params.aws_profile_name or any(env.get(n) for n in AWS_CREDENTIAL_ENV):
            return None
        return (
            "aws_access_key_id: no AWS credentials in litellm_params or the environment; "
            "at start-up the instance's or container's role is asked, else requests fail"
        )
    if spec.provider == "vertex_ai":
        credentials = _vertex_credentials(spec, env)
        if credentials is None:
            return (
                "vertex_credentials: not set, and none of "
                f"{', '.join(VERTEX_CREDENTIALS_ENV)} is in the environment"
            )
        try:
            account = load_service_account(credentials)
        except CredentialsError as exc:
            return f"vertex_credentials: {exc}"
        if _vertex_project(spec, env) is None and account.project_id is None:
            return "vertex_project: not set and the credentials name no project_id"
        return None
    env_name = key_env.get(spec.provider)
    if params.api_key is None and env_name is not None and env_name not in env:
        return (
            f"api_key: not set and {env_name} is not in the environment; "
            "the upstream will likely answer 401"
        )
    return None


def upstream_base(spec: DeploymentSpec, env: Mapping[str, str]) -> str | None:
    """The address a deployment's requests go to, by the same rules that build its
    provider; None when it answers in process (mock) or has no address configured."""
    params = spec.params
    if spec.provider == "mock" or params.mock_response is not None:
        return None
    if spec.provider == "bedrock":
        # Built without asking for credentials (that may take the network): only the address.
        endpoint = params.api_base or params.aws_bedrock_runtime_endpoint
        return (
            endpoint
            or f"https://bedrock-runtime.{region_of(params.aws_region_name, env)}.amazonaws.com"
        )
    # Building opens no connection: the pool connects on a provider's first request.
    return build_provider(spec, env, UpstreamPool()).api_base


def build_provider(
    spec: DeploymentSpec,
    env: Mapping[str, str],
    pool: UpstreamPool,
    *,
    drop_params: bool = False,
) -> Provider:
    """The provider of one deployment; ``drop_params`` is ``litellm_settings.drop_params``."""
    params = spec.params
    drop = params.drop_params if params.drop_params is not None else drop_params
    key = params.api_key.get_secret_value() if params.api_key else None
    if spec.provider == "mock" or params.mock_response is not None:
        # mock_response on any deployment answers locally, as LiteLLM does (for drills).
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
            tool_calls=_mock_tool_calls(params.mock_tool_calls),
        )
    if spec.provider in VENDORS:
        base = resolve_base(spec.provider, params.api_base)
        if base is None:
            return UnavailableProvider(spec.provider, "no api_base is configured")
        vendor = VENDORS[spec.provider]
        if key is None and vendor.key_env:
            key = env.get(vendor.key_env)
        return OpenAICompatibleProvider(
            provider=spec.provider,
            model=spec.model,
            api_base=base,
            urls={operation: base + path for operation, path in PATHS.items()},
            headers=openai_headers(key, params.organization, params.extra_headers),
            secret=key,
            pool=pool,
            deployment_id=spec.id,
        )
    if spec.provider == "anthropic":
        return _anthropic(
            spec,
            env,
            pool,
            drop,
            api_key=key or env.get(anthropic.KEY_ENV),
            host=None,
            api_base=(params.api_base or anthropic.DEFAULT_BASE).rstrip("/"),
        )
    if spec.provider == "gemini":
        key = key or env.get(gemini.KEY_ENV)
        base = (params.api_base or gemini.AI_STUDIO_BASE).rstrip("/")
        return GeminiProvider(
            flavor=Flavor.AI_STUDIO,
            model=spec.model,
            api_base=base,
            model_url=f"{base}/models/{quote(spec.model, safe='')}",
            headers={**({"x-goog-api-key": key} if key else {}), **(params.extra_headers or {})},
            auth=None,
            secrets=[key] if key else [],
            pool=pool,
            deployment_id=spec.id,
            drop_params=drop,
        )
    if spec.provider == "vertex_ai":
        return _vertex(spec, env, pool, drop)
    if spec.provider == "azure":
        base = azure.azure_base(params.api_base, env)
        if base is None:
            return UnavailableProvider("azure", "no api_base is configured")
        return azure.build_azure(
            deployment_name=spec.model,
            api_base=base,
            api_key=key,
            api_version=params.api_version,
            extra_headers=params.extra_headers,
            env=env,
            pool=pool,
            deployment_id=spec.id,
        )
    if spec.provider == "bedrock":
        try:
            return build_bedrock(
                model=spec.model,
                params=params,
                env=env,
                pool=pool,
                deployment_id=spec.id,
                drop_params=drop,
                default_max_tokens=spec.info.max_output_tokens or DEFAULT_BEDROCK_MAX_TOKENS,
            )
        except CredentialsMissing as exc:
            return UnavailableProvider("bedrock", str(exc))
    if spec.provider == "azure_ai":
        base = azure.azure_ai_base(params.api_base, env)
        if base is None:
            return UnavailableProvider("azure_ai", "no api_base is configured")
        return azure.build_azure_ai(
            model=spec.model,
            api_base=base,
            api_key=key,
            api_version=params.api_version,
            extra_headers=params.extra_headers,
            env=env,
            pool=pool,
            deployment_id=spec.id,
        )
    return UnavailableProvider(spec.provider, "this provider is not supported")


def _anthropic(
    spec: DeploymentSpec,
    env: Mapping[str, str],
    pool: UpstreamPool,
    drop: bool,
    *,
    api_key: str | None,
    host: AnthropicHost | None,
    api_base: str,
) -> Provider:
    """Anthropic's Messages API, at Anthropic or (``host``) Claude on Vertex AI."""
    info, params = spec.info, spec.params
    return AnthropicProvider(
        model=spec.model,
        api_base=api_base,
        api_key=api_key,
        extra_headers=params.extra_headers,
        pool=pool,
        deployment_id=spec.id,
        default_max_tokens=info.max_output_tokens
        or info.max_tokens
        or anthropic.DEFAULT_MAX_TOKENS,
        drop_params=drop,
        thinking=Thinking.for_model(spec.model, info.thinking_mode, env),
        cache_points=tuple(
            CachePoint(role=point.role, index=point.index, ttl=point.control.ttl)
            for point in params.cache_control_injection_points or ()
        ),
        allowed_betas=(
            None
            if info.supported_anthropic_betas is None
            else frozenset(info.supported_anthropic_betas)
        ),
        host=host,
        provider=spec.provider,
    )


def _vertex(
    spec: DeploymentSpec, env: Mapping[str, str], pool: UpstreamPool, drop: bool
) -> Provider:
    credentials = _vertex_credentials(spec, env)
    if credentials is None:
        return UnavailableProvider("vertex_ai", "no vertex_credentials are configured")
    try:
        account = load_service_account(credentials)
    except CredentialsError as exc:
        return UnavailableProvider("vertex_ai", f"vertex_credentials: {exc}")
    project = _vertex_project(spec, env) or account.project_id
    if project is None:
        return UnavailableProvider("vertex_ai", "no vertex_project is configured")
    location = spec.params.vertex_location or _first_env(env, VERTEX_LOCATION_ENV)
    location = location or DEFAULT_VERTEX_LOCATION
    base = spec.params.api_base
    if base is None:
        host = "aiplatform.googleapis.com"
        base = f"https://{host if location == 'global' else f'{location}-{host}'}/v1"
    base = base.rstrip("/")
    where = f"/projects/{quote(project, safe='')}/locations/{quote(location, safe='')}"
    tokens = VertexTokens(account, pool, spec.id)
    if speaks_anthropic(spec.provider, spec.model):
        return _anthropic(
            spec,
            env,
            pool,
            drop,
            api_key=None,
            host=AnthropicHost.vertex_ai(
                f"{base}{where}/publishers/anthropic/models",
                quote(spec.model, safe="@"),
                tokens.headers,
            ),
            api_base=base,
        )
    path = f"{where}/publishers/google/models/{quote(spec.model, safe='')}"
    return GeminiProvider(
        flavor=Flavor.VERTEX,
        model=spec.model,
        api_base=base,
        model_url=base + path,
        headers=spec.params.extra_headers or {},
        auth=tokens.headers,
        secrets=[],
        pool=pool,
        deployment_id=spec.id,
        drop_params=drop,
    )


def _vertex_credentials(spec: DeploymentSpec, env: Mapping[str, str]) -> str | None:
    secret = spec.params.vertex_credentials
    return (
        secret.get_secret_value() if secret is not None else _first_env(env, VERTEX_CREDENTIALS_ENV)
    )


def _vertex_project(spec: DeploymentSpec, env: Mapping[str, str]) -> str | None:
    return spec.params.vertex_project or _first_env(env, VERTEX_PROJECT_ENV)


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


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


def _mock_tool_calls(setting: str | list[MockToolCall] | None) -> str | list[Any] | None:
    if isinstance(setting, list):
        return [call.model_dump() for call in setting]
    return setting
