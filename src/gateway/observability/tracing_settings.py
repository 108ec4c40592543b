"""What traces are set to do: ``callbacks: ["otel"]`` and the standard ``OTEL_*`` environment.

Read once at start-up (``tracing_settings``); a setting the gateway cannot honour is a
``TracingConfigError`` naming it (the URL itself is never repeated: it may carry
credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.util.re import parse_env_headers

from gateway.config.schema import ConfigFile
from gateway.config.validate import TRACE_CALLBACKS

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
TRACES_PATH = "/v1/traces"
DEFAULT_SERVICE_NAME = "gateway"
DEFAULT_TIMEOUT_S = 10.0
TRUE = frozenset({"true", "1", "yes", "on"})


class TracingConfigError(ValueError):
    """The tracing environment asks for something the gateway cannot do."""


@dataclass(frozen=True, slots=True)
class TracingSettings:
    exporter: str  # "otlp" or "console"
    endpoint: str
    headers: Mapping[str, str]
    service_name: str
    sampler: Sampler
    capture_content: bool
    timeout_s: float = DEFAULT_TIMEOUT_S
    gzip: bool = False
    ca_file: str | None = None


def tracing_wanted(file: ConfigFile, env: Mapping[str, str]) -> bool:
    """Whether the config or the environment turns tracing on."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in TRUE:
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    settings = file.litellm_settings
    named = {*settings.callbacks, *settings.success_callback, *settings.failure_callback}
    if named & TRACE_CALLBACKS:
        return True
    return any(
        env.get(name)
        for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def tracing_settings(file: ConfigFile, env: Mapping[str, str]) -> TracingSettings | None:
    """The tracing settings, or None when tracing is off; ``TracingConfigError`` names
    a setting the gateway cannot honour."""
    if not tracing_wanted(file, env):
        return None
    exporter = _exporter_kind(env)
    return TracingSettings(
        exporter=exporter,
        endpoint=_endpoint(env),
        headers=_headers(env),
        service_name=env.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        sampler=sampler_from(env),
        capture_content=env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "")
        .strip()
        .lower()
        in TRUE,
        timeout_s=_timeout(env),
        gzip=_signal_env(env, "COMPRESSION").lower() == "gzip",
        ca_file=_signal_env(env, "CERTIFICATE") or None,
    )


def _signal_env(env: Mapping[str, str], name: str) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``."""
    return (
        env.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or ""
    ).strip()


def _timeout(env: Mapping[str, str]) -> float:
    # Seconds, as the OpenTelemetry Python exporters read it.
    text = _signal_env(env, "TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_TIMEOUT={text!r} is not a number") from None
    if not seconds > 0:
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_TIMEOUT={text!r} must be positive")
    return seconds


def _exporter_kind(env: Mapping[str, str]) -> str:
    # OTEL_EXPORTER is LiteLLM's spelling (otlp_http, otlp_grpc, console).
    legacy = env.get("OTEL_EXPORTER", "").strip().lower()
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or legacy or "otlp"
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if chosen == "console":
        return "console"
    if chosen == "otlp_grpc" or protocol == "grpc":
        raise TracingConfigError(
            "OTLP over gRPC is not supported: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf "
            "and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (4318)"
        )
    if chosen not in ("otlp", "otlp_http"):
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={chosen!r} is not supported (otlp, console or none)"
        )
    if protocol != "http/protobuf":
        raise TracingConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported (http/protobuf)"
        )
    return "otlp"


def _endpoint(env: Mapping[str, str]) -> str:
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint:
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_ENDPOINT")
        if not base:
            return DEFAULT_ENDPOINT
        base = base.rstrip("/")
        endpoint = base if base.endswith(TRACES_PATH) else base + TRACES_PATH
    address = urlsplit(endpoint)
    if address.scheme not in ("http", "https") or not address.hostname:
        # The URL itself is not repeated: it may carry credentials.
        raise TracingConfigError("the OTLP trace endpoint is not an http:// or https:// URL")
    return endpoint


def _headers(env: Mapping[str, str]) -> Mapping[str, str]:
    spec = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        or env.get("OTEL_EXPORTER_OTLP_HEADERS")
        or env.get("OTEL_HEADERS")
        or ""
    )
    return parse_env_headers(spec, liberal=True)


def sampler_from(env: Mapping[str, str]) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` name (the SDK's
    default, parent-based always-on, when unset)."""
    name = (env.get("OTEL_TRACES_SAMPLER") or "parentbased_always_on").strip().lower()
    if name in ("traceidratio", "parentbased_traceidratio"):
        ratio = _ratio(env.get("OTEL_TRACES_SAMPLER_ARG"))
        if name == "traceidratio":
            return TraceIdRatioBased(ratio)
        return ParentBasedTraceIdRatio(ratio)
    fixed: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
    }
    if name not in fixed:
        raise TracingConfigError(
            f"OTEL_TRACES_SAMPLER={name!r} is not supported (always_on, always_off, "
            "traceidratio, parentbased_always_on, parentbased_always_off, "
            "parentbased_traceidratio)"
        )
    return fixed[name]


def _ratio(text: str | None) -> float:
    if text is None or not text.strip():
        return 1.0
    try:
        ratio = float(text)
    except ValueError:
        raise TracingConfigError(
            f"OTEL_TRACES_SAMPLER_ARG={text!r} is not a number between 0 and 1"
        ) from None
    if not 0.0 <= ratio <= 1.0:
        raise TracingConfigError(f"OTEL_TRACES_SAMPLER_ARG={text!r} is not between 0 and 1")
    return ratio
