"""Where the shared Redis comes from, and what ``check-config`` says about Redis and cache keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gateway.config.loader import build_config
from gateway.state.settings import RedisSettingsError, redis_settings
from support.clients import CLIENT_TIMEOUT_S
from support.configs import CHAT, upstream_config
from support.gateway_process import StartGateway, run_gateway, write_config
from support.mock_upstream import MockUpstream
from support.redis_server import shared_redis_prefix

__all__ = ["shared_redis_prefix"]

SECRET = "s3cret-Redis-pass/word"


def settings_for(sections: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    config = build_config({"model_list": [], **sections}, env or {}, "test").config
    return redis_settings(config, env or {})


def test_no_redis_named_anywhere_means_state_in_process() -> None:
    assert settings_for({}) is None


def test_redis_url_in_the_environment_wins_over_the_config() -> None:
    settings = settings_for(
        {"router_settings": {"redis_host": "10.0.0.9", "redis_port": 6380}},
        {"REDIS_URL": "rediss://:pw@127.0.0.1:6390/2"},
    )
    assert settings.source == "REDIS_URL"
    assert settings.url == "rediss://:pw@127.0.0.1:6390/2"
    assert settings.where == "rediss://127.0.0.1:6390/2"
    assert not settings.cluster


def test_litellm_host_port_and_password_build_a_url_that_never_shows_the_password() -> None:
    settings = settings_for(
        {
            "router_settings": {
                "redis_host": "127.0.0.1",
                "redis_port": 6390,
                "redis_password": SECRET,
                "redis_pool_size": 7,
                "redis_timeout_ms": 25,
                "redis_key_prefix": "fleet-a",
            }
        }
    )
    assert settings.source == "router_settings.redis_host"
    assert settings.url == "redis://:s3cret-Redis-pass%2Fword@127.0.0.1:6390"
    assert SECRET not in settings.where and "s3cret" not in repr(settings.where)
    assert (settings.pool_size, settings.budget_s, settings.key_prefix) == (7, 0.025, "fleet-a")


def test_the_cache_params_redis_is_used_when_nothing_else_names_one() -> None:
    litellm = {"cache": True, "cache_params": {"type": "redis", "host": "127.0.0.1", "port": 6391}}
    settings = settings_for({"litellm_settings": litellm})
    assert settings.url == "redis://127.0.0.1:6391"
    assert settings.source == "litellm_settings.cache_params.host"
    local = {"cache": True, "cache_params": {"type": "local", "host": "127.0.0.1"}}
    assert settings_for({"litellm_settings": local}) is None


def test_a_cluster_is_named_by_scheme_or_by_setting() -> None:
    by_scheme = settings_for({}, {"REDIS_URL": "rediss+cluster://127.0.0.1:7000"})
    assert by_scheme.cluster
    assert by_scheme.url == "rediss://127.0.0.1:7000"
    by_setting = settings_for(
        {"router_settings": {"redis_cluster": True}}, {"REDIS_URL": "redis://127.0.0.1:7000"}
    )
    assert by_setting.cluster


def test_an_unusable_redis_url_is_refused_with_its_source_named_and_no_secret() -> None:
    with pytest.raises(RedisSettingsError, match="REDIS_URL: unsupported scheme 'http'"):
        settings_for({}, {"REDIS_URL": "http://127.0.0.1:6379"})
    # An unencoded "/" in the password makes the rest look like a port.
    with pytest.raises(RedisSettingsError) as raised:
        settings_for({}, {"REDIS_URL": f"redis://:{SECRET}@127.0.0.1:6379/0"})
    assert "REDIS_URL: not a valid URL" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_check_config_accepts_the_redis_and_cache_keys_and_warns_on_an_unknown_cache_type(
    tmp_path: Path,
) -> None:
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/echo"}}],
        "router_settings": {"redis_host": "127.0.0.1", "redis_port": 6379, "redis_password": "x"},
        "litellm_settings": {
            "cache": True,
            "cache_params": {"type": "s3", "ttl": 60, "supported_call_types": ["acompletion", "x"]},
        },
    }
    result = run_gateway(["check-config", str(write_config(tmp_path / "c.yaml", config))])
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: litellm_settings.cache_params.type: 's3' is not supported; answers are "
        "cached in process (use 'local', or 'redis' to share them)",
        "warning: litellm_settings.cache_params.supported_call_types[1]: 'x' is never cached "
        "here; expected one of acompletion, aembedding, atext_completion, completion, "
        "embedding, text_completion",
    ]


def test_a_redis_that_refuses_the_password_costs_no_request_and_the_password_is_never_logged(
    upstream: MockUpstream, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    config = upstream_config(upstream.base_url)
    config["router_settings"] = {"redis_key_prefix": shared_redis_prefix}
    config["litellm_settings"] = {"cache": True, "cache_params": {"type": "redis"}}
    password = quote(SECRET, safe="")
    url = f"redis://gateway-user:{password}@127.0.0.1:6379/0"  # no such user: refused
    gateway = start_gateway(config, env={"REDIS_URL": url})
    with httpx.Client(base_url=gateway.v1_url, timeout=CLIENT_TIMEOUT_S) as http:
        for index in range(10):
            response = http.post(
                "/chat/completions",
                headers=gateway.auth_headers(),
                json={"model": CHAT, "messages": [{"role": "user", "content": f"hi {index}"}]},
            )
            assert response.status_code == 200, response.text
    log = gateway.log_text()
    assert "redis unavailable" in log
    assert "s3cret" not in log
    assert "s3cret" not in http_get_ping(gateway)


def http_get_ping(gateway: Any) -> str:
    with httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as http:
        return http.get("/cache/ping", headers=gateway.auth_headers()).text
