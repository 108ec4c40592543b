"""The config file, in LiteLLM's own schema.

Each section declares the keys the gateway honours. Anything else lands in
``model_extra`` and is reported by ``gateway check-config`` and at start-up
(see ``unsupported.py``): never silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class Section(BaseModel):
    """A config section: extra keys are kept so they can be reported."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MockFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    # A JSON string, as OpenAI sends it, or an object the mock encodes.
    arguments: str | dict[str, Any] = "{}"


class MockToolCall(BaseModel):
    """One tool call the mock answers with, in OpenAI's chat shape."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    type: Literal["function"] = "function"
    function: MockFunction


class AliasTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    hidden: bool = False


def alias_group(target: str | AliasTarget) -> str:
    """The model group an alias names, in either of LiteLLM's forms."""
    return target if isinstance(target, str) else target.model


RoutingStrategyName = Literal[
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
]


class CacheControl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["ephemeral"] = "ephemeral"
    ttl: Literal["5m", "1h"] | None = None


class CacheControlInjectionPoint(BaseModel):
    """Where a breakpoint goes on requests that carry none (LiteLLM's setting): the
    system prompt or every message of a ``role``, or the message at ``index``."""

    model_config = ConfigDict(extra="forbid")
    location: Literal["message"] = "message"
    role: Literal["system", "user", "assistant"] | None = None
    index: int | None = None
    control: CacheControl = Field(default_factory=CacheControl)

    @model_validator(mode="after")
    def _one_target(self) -> CacheControlInjectionPoint:
        if (self.role is None) == (self.index is None):
            raise ValueError("give either a role (system, user, assistant) or an index")
        return self


class LiteLLMParams(Section):
    model: str
    # LiteLLM's explicit provider: wins over the model's prefix and any inference.
    custom_llm_provider: str | None = None
    api_base: str | None = None
    api_key: SecretStr | None = None
    organization: str | None = None
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    weight: float | None = Field(default=None, gt=0)
    order: int | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    extra_headers: dict[str, str] | None = None
    # Per deployment, overrides litellm_settings.drop_params.
    drop_params: bool | None = None
    # Request defaults for this deployment (LiteLLM passes these to every call); a
    # request's own value wins.
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    stop: str | list[str] | None = None
    # Azure OpenAI (``model: azure/<deployment>``).
    api_version: str | None = None
    # Vertex AI (``model: vertex_ai/...``): the service account's JSON, or the path of its file.
    vertex_project: str | None = None
    vertex_location: str | None = None
    vertex_credentials: SecretStr | None = None
    # Amazon Bedrock (``model: bedrock/<model id>``): credentials, else the profile's,
    # else the environment's; the region picks the endpoint.
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_region_name: str | None = None
    aws_profile_name: str | None = None
    aws_bedrock_runtime_endpoint: str | None = None
    # Tag-based routing (router_settings.enable_tag_filtering): the tags this deployment
    # serves; "default" marks the deployments for requests whose tags match none.
    tags: list[str] | None = None
    # The mock provider (``model: mock/...``): a local answer, no network.
    mock_response: str | None = None
    mock_latency_ms: float = Field(default=0.0, ge=0)
    mock_failure_rate: float = Field(default=0.0, ge=0, le=1)
    mock_failure_status: int = Field(default=500, ge=400, le=599)
    mock_stream_chunks: int = Field(default=8, ge=1, le=10_000)
    mock_chunk_delay_ms: float = Field(default=0.0, ge=0)
    mock_prompt_tokens: int | None = Field(default=None, ge=0)
    mock_completion_tokens: int | None = Field(default=None, ge=0)
    mock_embedding_dimensions: int = Field(default=8, ge=1, le=8192)
    # "first_tool" (call the tool the request offers) or a list of OpenAI tool calls;
    # either is answered only when the request has tools and no tool result is last.
    mock_tool_calls: Literal["first_tool"] | list[MockToolCall] | None = None
    # Anthropic deployments: prompt-cache breakpoints put on requests that have none.
    cache_control_injection_points: list[CacheControlInjectionPoint] | None = None

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model, e.g. openai/gpt-4o or mock/echo")
        return value


class ModelInfo(Section):
    id: str | None = None
    # Per-deployment cooldown overrides (else router_settings).
    allowed_fails: int | None = Field(default=None, ge=0)
    cooldown_time: float | None = Field(default=None, ge=0)
    mode: str | None = None
    max_tokens: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    input_cost_per_token: float | None = Field(default=None, ge=0)
    output_cost_per_token: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost: float | None = Field(default=None, ge=0)
    # Cache writes: 5-minute (or the provider's only ttl) and 1-hour (Anthropic's ttl "1h").
    cache_creation_input_token_cost: float | None = Field(default=None, ge=0)
    cache_creation_input_token_cost_above_1hr: float | None = Field(default=None, ge=0)
    # Long-context prices (every token of a request whose prompt is above the threshold)
    # and service-tier prices (the tier the provider says served it), LiteLLM's names.
    input_cost_per_token_above_128k_tokens: float | None = Field(default=None, ge=0)
    output_cost_per_token_above_128k_tokens: float | None = Field(default=None, ge=0)
    input_cost_per_token_above_200k_tokens: float | None = Field(default=None, ge=0)
    output_cost_per_token_above_200k_tokens: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost_above_200k_tokens: float | None = Field(default=None, ge=0)
    cache_creation_input_token_cost_above_200k_tokens: float | None = Field(default=None, ge=0)
    input_cost_per_token_above_272k_tokens: float | None = Field(default=None, ge=0)
    output_cost_per_token_above_272k_tokens: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost_above_272k_tokens: float | None = Field(default=None, ge=0)
    input_cost_per_token_flex: float | None = Field(default=None, ge=0)
    output_cost_per_token_flex: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost_flex: float | None = Field(default=None, ge=0)
    input_cost_per_token_priority: float | None = Field(default=None, ge=0)
    output_cost_per_token_priority: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost_priority: float | None = Field(default=None, ge=0)
    # The model this deployment is priced as (an Azure deployment's name says nothing).
    base_model: str | None = None
    # The endpoints the upstream itself serves (LiteLLM's field): "/v1/responses" here
    # sends Responses API requests to it as they are, whatever its provider.
    supported_endpoints: list[str] | None = None
    # Per group (any deployment of the group may say it): its routing strategy, and
    # how long an unanswered request waits before a hedge is sent (over router_settings).
    routing_strategy: RoutingStrategyName | None = None
    hedge_after_ms: float | None = Field(default=None, gt=0, le=600_000)
    # Anthropic models: how reasoning_effort becomes thinking (a token budget, or
    # adaptive thinking at an effort level); unset, the model's version decides.
    thinking_mode: Literal["budget", "adaptive"] | None = None
    # Anthropic deployments: the anthropic-beta flags the upstream takes; a caller's other
    # flags are left off its requests (an Anthropic-compatible upstream that lacks them
    # refuses the whole request). Unset, every flag is forwarded.
    supported_anthropic_betas: list[str] | None = None


class ModelEntry(Section):
    model_name: str
    litellm_params: LiteLLMParams
    model_info: ModelInfo = Field(default_factory=ModelInfo)

    @field_validator("model_name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


FallbackList = list[dict[str, list[str]]]


class RetryBudget(Section):
    """Caps retries at a share of recent requests, so a failing provider cannot multiply load."""

    ratio: float = Field(default=0.2, ge=0, le=10)
    min_retries_per_window: int = Field(default=10, ge=0)
    window_seconds: float = Field(default=10.0, gt=0, le=3600)


class RoutingStrategyArgs(Section):
    """``routing_strategy_args``: LiteLLM's names where it has them, then the gateway's."""

    # latency-based-routing: a latency estimate older than this is forgotten (the
    # deployment is tried again), and deployments within this share of the fastest
    # count as fast (one of them is picked at random).
    ttl: float = Field(default=3600.0, gt=0)
    lowest_latency_buffer: float = Field(default=0.0, ge=0, le=10)
    # The weight of the newest latency sample in a deployment's moving average, and how
    # long a deployment may go without a request before one is sent to re-measure it.
    latency_ewma_alpha: float = Field(default=0.3, gt=0, le=1)
    explore_after_s: float = Field(default=10.0, gt=0)


class SessionAffinity(Section):
    """``session_affinity``: the requests of one session go to one deployment while it
    is healthy (its prompt cache lives there)."""

    enabled: bool = True
    # A session unheard of for this long is forgotten (each request renews it).
    ttl: float = Field(default=3600.0, gt=0, le=7 * 86400)
    # The most sessions one process remembers (the least recently used go first).
    max_sessions: int = Field(default=100_000, ge=1, le=10_000_000)


class RouterSettings(Section):
    routing_strategy: RoutingStrategyName = "simple-shuffle"
    routing_strategy_args: RoutingStrategyArgs = Field(default_factory=RoutingStrategyArgs)
    # Per group, over routing_strategy (model_info.routing_strategy says the same).
    model_group_routing_strategy: dict[str, RoutingStrategyName] = Field(default_factory=dict)
    # Tags on deployments (litellm_params.tags) and requests (body tags, metadata.tags):
    # a tagged request goes only to deployments with its tags (any of them, or all of
    # them when tag_filtering_match_any is false).
    enable_tag_filtering: bool = False
    tag_filtering_match_any: bool = True
    # The longest a deployment that keeps failing its probes is cooled down for (each
    # failed probe in a row doubles the cooldown up to this).
    max_cooldown_time: float = Field(default=300.0, gt=0)
    # ``true``, or {enabled, ttl, max_sessions}: see SessionAffinity.
    session_affinity: bool | SessionAffinity = False
    # A request still unanswered after this long (a stream: without its first chunk) gets
    # a second attempt on another deployment; the first answer wins. Off when unset.
    hedge_after_ms: float | None = Field(default=None, gt=0, le=600_000)
    num_retries: int | None = Field(default=None, ge=0, le=20)
    timeout: float | None = Field(default=None, gt=0)
    allowed_fails: int | None = Field(default=None, ge=0)
    cooldown_time: float | None = Field(default=None, ge=0)
    allowed_fails_policy: dict[str, int] = Field(default_factory=dict)
    retry_policy: dict[str, int] = Field(default_factory=dict)
    model_group_retry_policy: dict[str, dict[str, int]] = Field(default_factory=dict)
    max_fallbacks: int | None = Field(default=None, ge=0, le=50)
    enable_pre_call_checks: bool = False
    # Longest a single 429's Retry-After may cool a deployment down.
    max_retry_after_cooldown: float = Field(default=300.0, gt=0)
    retry_budget: RetryBudget = Field(default_factory=RetryBudget)
    fallbacks: FallbackList = Field(default_factory=list)
    context_window_fallbacks: FallbackList = Field(default_factory=list)
    content_policy_fallbacks: FallbackList = Field(default_factory=list)
    default_fallbacks: list[str] | None = None
    # An alias is a group's name, or LiteLLM's dict form {model: group, hidden: true}
    # (a hidden alias routes but is not listed by /v1/models).
    model_group_alias: dict[str, str | AliasTarget] = Field(default_factory=dict)
    # Shared state on Redis (REDIS_URL in the environment wins over all of these).
    redis_url: SecretStr | None = None
    redis_host: str | None = None
    redis_port: int | None = Field(default=None, ge=1, le=65535)
    redis_password: SecretStr | None = None
    # The gateway's own Redis settings (not LiteLLM's).
    redis_cluster: bool = False
    redis_pool_size: int = Field(default=32, ge=1, le=10_000)
    # The longest a request waits on one Redis call; past it, local state answers.
    redis_timeout_ms: float = Field(default=50.0, gt=0, le=60_000)
    # Every key and channel starts with it, so several fleets can share one Redis.
    redis_key_prefix: str = Field(default="gateway", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    def affinity(self) -> SessionAffinity:
        """``session_affinity`` in its full form (``true`` / ``false`` are shorthand)."""
        if isinstance(self.session_affinity, bool):
            return SessionAffinity(enabled=self.session_affinity)
        return self.session_affinity


class CacheParams(Section):
    # "local" (in process) or "redis" (shared); other LiteLLM types fall back to local.
    type: str = "local"
    ttl: float | None = Field(default=None, gt=0)
    namespace: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    password: SecretStr | None = None
    supported_call_types: list[str] | None = None
    # default_off: only requests that send ``cache: {"use-cache": true}`` use the cache.
    mode: Literal["default_on", "default_off"] = "default_on"
    # The gateway's own: one answer for every API key (else each key sees only its own).
    shared: bool = False
    max_entries: int = Field(default=10_000, ge=1, le=10_000_000)


class LitellmSettings(Section):
    drop_params: bool = False
    cache: bool = False
    cache_params: CacheParams = Field(default_factory=CacheParams)
    require_auth_for_metrics_endpoint: bool = False
    # Per-request events to webhook sinks (see observability/webhooks.py).
    success_callback: list[str] = Field(default_factory=list)
    failure_callback: list[str] = Field(default_factory=list)
    # "otel": OpenTelemetry traces (observability/tracing.py); "prometheus": always on.
    callbacks: list[str] = Field(default_factory=list)
    request_timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    num_retries: int | None = Field(default=None, ge=0, le=20)
    default_fallbacks: list[str] | None = None
    context_window_fallbacks: FallbackList | None = None
    content_policy_fallbacks: FallbackList | None = None
    # Key and team budgets reset at midnight in this zone (an IANA name); UTC when unset.
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None or value == "UTC":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            if not available_timezones():
                raise ValueError(
                    f"cannot read the time zone {value!r}: this machine has no time zone "
                    "database (install the tzdata package)"
                ) from None
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC', "
                "'Europe/Berlin', 'America/New_York' or 'Asia/Kolkata'"
            ) from None
        return value


AlertTypeName = Literal[
    # Sent by the gateway:
    "cooldown_deployment",
    "outage_alerts",
    "fallback_reports",
    "llm_too_slow",
    "llm_requests_hanging",
    "budget_alerts",
    "db_exceptions",
    "daily_reports",
    # LiteLLM's other types: accepted (a config naming them loads), not sent.
    "llm_exceptions",
    "spend_reports",
    "failed_tracking_spend",
    "new_model_added",
    "region_outage_alerts",
    "new_virtual_key_created",
    "virtual_key_updated",
    "virtual_key_deleted",
    "new_team_created",
    "team_updated",
    "team_deleted",
    "new_internal_user_created",
    "internal_user_updated",
    "internal_user_deleted",
]


class AlertingArgs(Section):
    """``general_settings.alerting_args``: LiteLLM's names first, then the gateway's own."""

    daily_report_frequency: float = Field(default=43200, gt=0)
    report_check_interval: float = Field(default=3600, gt=0)
    budget_alert_ttl: float = Field(default=86400, gt=0)
    outage_alert_ttl: float = Field(default=60, gt=0)
    region_outage_alert_ttl: float = Field(default=60, gt=0)
    minor_outage_alert_threshold: int = Field(default=5, ge=1)
    major_outage_alert_threshold: int = Field(default=10, ge=1)
    max_outage_alert_list_size: int = Field(default=1000, ge=1)
    log_to_console: bool = False
    # The gateway's own: how long one alert about one subject stays quiet after it is sent.
    alert_ttl: float = Field(default=300, gt=0)
    # fallback_reports: alert when fallbacks serve more than this share of a group's
    # requests over the window (with at least fallback_min_requests requests).
    fallback_share: float = Field(default=0.25, gt=0, le=1)
    fallback_window: float = Field(default=300, gt=0)
    fallback_min_requests: int = Field(default=10, ge=1)
    # db_exceptions: alert when this many spend records wait in memory.
    ledger_backlog_threshold: int = Field(default=10_000, ge=1)
    # How long alerts gather before one message is sent.
    batch_window: float = Field(default=1.0, gt=0, le=60)


class GeneralSettings(Section):
    master_key: SecretStr | None = None
    request_timeout: float | None = Field(default=None, gt=0)
    max_request_size_mb: float | None = Field(default=None, gt=0)
    # Recycle a worker after this many requests (gunicorn, with jitter).
    max_requests_before_restart: int | None = Field(default=None, ge=1)
    # Recycle a worker whose own memory passes this many MiB (the gateway's own setting).
    max_worker_memory_mb: float | None = Field(default=None, gt=0)
    # Background deployment health checks, run by the health process.
    background_health_checks: bool = False
    health_check_interval: float | None = Field(default=None, ge=5)
    # Runtime models (POST /model/new): stored in the database, credentials sealed under
    # GATEWAY_SALT_KEY. Off unless this (or STORE_MODEL_IN_DB=True) turns them on.
    store_model_in_db: bool = False
    # The spend ledger (DATABASE_URL in the environment wins over database_url).
    database_url: SecretStr | None = None
    database_connection_pool_limit: int | None = Field(default=None, ge=2, le=1000)
    proxy_batch_write_at: float | None = Field(default=None, gt=0, le=3600)
    use_redis_transaction_buffer: bool = False
    # Raw spend rows older than this are dropped, a day partition at a time: "30d", "12w",
    # or a number of seconds. Held as seconds.
    maximum_spend_logs_retention_period: float | None = None
    # How long stored Responses API responses (store: true) are kept; 30 days, as OpenAI.
    responses_retention_period: float = 30 * 86400
    # The gateway's own ledger settings (not LiteLLM's).
    ledger_batch_size: int | None = Field(default=None, ge=1, le=100_000)
    ledger_buffer_size: int | None = Field(default=None, ge=1, le=10_000_000)
    ledger_data_dir: str | None = None
    ledger_report_timeout: float | None = Field(default=None, gt=0, le=600)
    # Alerts (LiteLLM's keys): channels, slow/hanging threshold in seconds, which types,
    # per-type Slack webhook URLs, and the tuning above.
    # Channels: slack and webhook are sent; others (email, pagerduty) are reported, not sent.
    alerting: list[str] = Field(default_factory=list)
    alerting_threshold: float = Field(default=300, gt=0)
    alert_types: list[AlertTypeName] | None = None
    alert_to_webhook_url: dict[AlertTypeName, str | list[str]] | None = None
    alerting_args: AlertingArgs = Field(default_factory=AlertingArgs)

    @field_validator("maximum_spend_logs_retention_period", mode="before")
    @classmethod
    def _retention_seconds(cls, value: Any) -> float | None:
        return None if value is None else duration_seconds(value)

    @field_validator("responses_retention_period", mode="before")
    @classmethod
    def _responses_retention_seconds(cls, value: Any) -> float:
        return duration_seconds(value)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(value: Any) -> float:
    """``"30d"``, ``"12h"``, ``"2w"`` or a number of seconds, as seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30d', not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        unit = DURATION_UNITS.get(text[-1])
        number = text[:-1] if unit is not None else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise ValueError(
                f"expected a duration such as '30d', '12h' or '2w', not {value!r}"
            ) from None
    else:
        raise ValueError(f"expected a duration such as '30d', not {value!r}")
    if not seconds > 0:
        raise ValueError("must be a positive duration")
    return seconds


class ConfigFile(Section):
    model_list: list[ModelEntry] = Field(default_factory=list)

    @field_validator(
        "model_list", "router_settings", "litellm_settings", "general_settings", mode="before"
    )
    @classmethod
    def _empty_section(cls, value: Any, info: Any) -> Any:
        # A section with every line commented out is null in YAML: LiteLLM reads it as empty.
        if value is None:
            return [] if info.field_name == "model_list" else {}
        return value

    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    litellm_settings: LitellmSettings = Field(default_factory=LitellmSettings)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    environment_variables: dict[str, Any] | None = None
