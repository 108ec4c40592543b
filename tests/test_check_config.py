"""``gateway check-config``: a LiteLLM production config loads as it is; problems name their field.

It exits 0 with every unsupported key printed as a ``warning:`` line, exits 1
naming what is wrong (an unset variable, an unknown fallback group, bad YAML,
wrong types), prints no secret, and opens no network connection.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.gateway_process import run_gateway, write_config

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = REPO / "config" / "examples" / "litellm-production.yaml"

PRODUCTION_ENV = {
    "OPENAI_API_KEY": "sk-secret-openai-value",
    "XAI_API_KEY": "xai-secret-value",
    "ANTHROPIC_API_KEY": "sk-ant-secret-value",
    "VERTEX_CREDENTIALS_JSON": json.dumps(
        {
            "type": "service_account",
            "project_id": "vertex-project-id",
            "private_key": "-----BEGIN PRIVATE KEY-----\nsecret-pk\n-----END PRIVATE KEY-----\n",
            "client_email": "gateway@vertex-project-id.iam.gserviceaccount.com",
        }
    ),
    "VERTEX_PROJECT": "vertex-project-id",
    "LITELLM_MASTER_KEY": "sk-secret-master-value",
    "DATABASE_URL": "postgresql://ledger:secret-db-password@127.0.0.1:5432/ledger",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": "secret-redis-password",
}
SECRETS = [
    "sk-secret-openai-value",
    "xai-secret-value",
    "sk-ant-secret-value",
    "secret-pk",
    "sk-secret-master-value",
    "secret-db-password",
    "secret-redis-password",
]


def check_config(
    path: Path, env: Mapping[str, str] | None = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_gateway(["check-config", str(path), *extra], env=env)


def warnings_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("warning: ")]


@pytest.fixture(scope="module")
def production() -> subprocess.CompletedProcess[str]:
    """``check-config`` on the production config with every variable it references set."""
    return check_config(PRODUCTION, PRODUCTION_ENV)


@pytest.fixture(scope="module")
def without_each_variable() -> dict[str, subprocess.CompletedProcess[str]]:
    """``check-config`` on the production config once per variable, that one unset."""

    def run(variable: str) -> subprocess.CompletedProcess[str]:
        env = {name: value for name, value in PRODUCTION_ENV.items() if name != variable}
        return check_config(PRODUCTION, env)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(PRODUCTION_ENV, pool.map(run, PRODUCTION_ENV), strict=True))


def test_production_litellm_config_passes_with_its_variables_set(
    production: subprocess.CompletedProcess[str],
) -> None:
    result = production

    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()
    summary = result.stdout.splitlines()[-1]
    assert "9 deployments in 9 model groups: OK" in summary


# Keys of the production config that only mean something to LiteLLM itself: the
# gateway will never act on them, so they must always be reported.
LITELLM_ONLY = (
    "litellm_settings.set_verbose",
    "general_settings.disable_prisma_schema_update",
)
# Supported, but not usable without their credentials: reported too.
NEEDS_CREDENTIALS = ("litellm_settings.success_callback", "litellm_settings.failure_callback")


def resolve(tree: Any, path: str) -> bool:
    """Whether ``path`` (``a.b[2].c``) names a key present in ``tree``."""
    node = tree
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return False
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def test_production_config_reports_unsupported_keys_as_warnings(
    production: subprocess.CompletedProcess[str],
) -> None:
    result = production

    warnings = warnings_of(result)
    warned_paths = [line.removeprefix("warning: ").split(": ", 1)[0] for line in warnings]
    for key in LITELLM_ONLY + NEEDS_CREDENTIALS:
        assert key in warned_paths, f"no warning for {key}"
    assert any("POSTHOG_API_KEY is not set" in line for line in warnings)
    # Every warning names a key that is really in the file, and says why.
    tree = yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))
    for line, path in zip(warnings, warned_paths, strict=True):
        assert resolve(tree, path), f"warning for a key not in the file: {line}"
        assert line.split(": ", 2)[2].strip(), f"warning without a reason: {line}"
    assert f"{len(warnings)} warnings" in result.stdout


def test_unknown_keys_in_every_section_are_reported(tmp_path: Path) -> None:
    config = {
        "model_list": [
            {
                "model_name": "chat",
                "litellm_params": {"model": "mock/a", "made_up_param": 1},
                "model_info": {"made_up_info": "x"},
                "made_up_entry_key": True,
            }
        ],
        "router_settings": {"made_up_router_knob": 3},
        "litellm_settings": {"made_up_litellm_flag": True},
        "general_settings": {"made_up_general_setting": "on"},
        "made_up_section": {"a": 1},
    }

    result = check_config(write_config(tmp_path / "config.yaml", config))

    assert result.returncode == 0, result.stderr
    warned_paths = [
        line.removeprefix("warning: ").split(": ", 1)[0] for line in warnings_of(result)
    ]
    assert sorted(warned_paths) == sorted(
        [
            "model_list[0].litellm_params.made_up_param",
            "model_list[0].model_info.made_up_info",
            "model_list[0].made_up_entry_key",
            "router_settings.made_up_router_knob",
            "litellm_settings.made_up_litellm_flag",
            "general_settings.made_up_general_setting",
            "made_up_section",
        ]
    )


def test_check_config_prints_no_secret(production: subprocess.CompletedProcess[str]) -> None:
    output = production.stdout + production.stderr
    for secret in SECRETS:
        assert secret not in output


@pytest.mark.parametrize("variable", sorted(PRODUCTION_ENV))
def test_an_unset_variable_fails_and_is_named(
    variable: str, without_each_variable: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = without_each_variable[variable]

    assert result.returncode == 1
    assert f"environment variable {variable} is not set" in result.stderr


def test_fallback_to_an_unknown_group_fails_with_its_field_path(tmp_path: Path) -> None:
    config = {
        "model_list": [
            {"model_name": "primary", "litellm_params": {"model": "mock/a"}},
            {"model_name": "backup", "litellm_params": {"model": "mock/b"}},
        ],
        "router_settings": {"fallbacks": [{"primary": ["backup", "no-such-group"]}]},
    }

    result = check_config(write_config(tmp_path / "config.yaml", config))

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert "router_settings.fallbacks[0]" in errors[0]
    assert "no-such-group" in errors[0]


def test_invalid_yaml_fails_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list:\n  - model_name: chat\n    litellm_params: {model: mock/a\n", encoding="utf-8"
    )

    result = check_config(path)

    assert result.returncode == 1
    assert "not valid YAML" in result.stderr
    assert "line " in result.stderr


def test_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    result = check_config(tmp_path / "absent.yaml")

    assert result.returncode == 1
    assert "cannot read the file" in result.stderr


def test_wrong_types_are_all_reported_with_their_field_paths(tmp_path: Path) -> None:
    config: dict[str, Any] = {
        "model_list": [
            {"model_name": "ok", "litellm_params": {"model": "mock/a", "rpm": "lots"}},
            {"model_name": "no-model", "litellm_params": {"api_base": "http://127.0.0.1:9"}},
            {"model_name": "bad-timeout", "litellm_params": {"model": "mock/b", "timeout": -1}},
        ],
        "router_settings": {"num_retries": "three", "fallbacks": {"ok": ["no-model"]}},
        "general_settings": {"max_request_size_mb": "big"},
    }

    result = check_config(write_config(tmp_path / "config.yaml", config))

    assert result.returncode == 1
    for path in (
        "model_list[0].litellm_params.rpm",
        "model_list[1].litellm_params.model: required field is missing",
        "model_list[2].litellm_params.timeout",
        "router_settings.num_retries",
        "router_settings.fallbacks",
        "general_settings.max_request_size_mb",
    ):
        assert f"error: {path}" in result.stderr, f"{path} not reported"
    assert "6 errors" in result.stderr


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening TCP socket on 127.0.0.1 that never accepts on its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def connections_made(sock: socket.socket) -> int:
    """Connections waiting in ``sock``'s accept queue."""
    count = 0
    for _ in range(64):
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            break
        conn.close()
        count += 1
    return count


def test_check_config_opens_no_connection(tmp_path: Path, listener: socket.socket) -> None:
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    config = {
        "model_list": [
            {
                "model_name": "chat",
                "litellm_params": {
                    "model": "openai/gpt-x",
                    "api_base": f"http://{address}/v1",
                    "api_key": "sk-x",
                },
            }
        ]
    }
    env = {
        "DATABASE_URL": f"postgresql://u:p@{address}/db",
        "REDIS_URL": f"redis://{address}/0",
    }
    path = write_config(tmp_path / "config.yaml", config)

    result = check_config(path, env)

    assert result.returncode == 0, result.stderr
    assert connections_made(listener) == 0
    # The same setup is seen by the listener once connecting is asked for.
    connected = check_config(path, env, "--connect")
    assert connected.returncode == 0, connected.stdout + connected.stderr
    assert connections_made(listener) >= 1


def test_check_config_explains_each_groups_routing(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        """
model_list:
  - model_name: g
    litellm_params: {model: mock/a, order: 1, rpm: 100, tags: [teamA]}
    model_info: {id: first}
  - model_name: g
    litellm_params: {model: mock/b, order: 2, weight: 2}
    model_info: {id: second, hedge_after_ms: 250}
  - model_name: h
    litellm_params: {model: mock/c}
    model_info: {id: only, routing_strategy: cost-based-routing}
router_settings:
  routing_strategy: latency-based-routing
  enable_tag_filtering: true
  session_affinity: {ttl: 900}
  fallbacks: [{g: [h]}]
"""
    )
    result = check_config(path)
    assert result.returncode == 0, result.stderr
    assert (
        "routing: g: latency-based-routing; order 1: first (rpm 100; tags teamA) | then "
        "order 2: second (weight 2); tag filtering (any tag matches); session affinity "
        "(ttl 900s); hedged after 250ms; falls back to h"
    ) in result.stdout
    assert "routing: h: cost-based-routing; only" in result.stdout


def test_check_config_connect_tries_every_providers_address(tmp_path: Path) -> None:
    """Anthropic, Gemini, Azure and Bedrock deployments are checked as the OpenAI-compatible
    ones are: each unreachable address is named with the deployment that uses it."""
    closed = []
    for _ in range(4):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        closed.append(sock.getsockname()[1])
        sock.close()  # nothing listens there now
    anthropic_port, gemini_port, azure_port, bedrock_port = closed
    config = {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": f"http://127.0.0.1:{anthropic_port}",
                    "api_key": "sk-ant-x",
                },
            },
            {
                "model_name": "gem",
                "litellm_params": {
                    "model": "gemini/gemini-2.5-flash",
                    "api_base": f"http://127.0.0.1:{gemini_port}/v1beta",
                    "api_key": "g-x",
                },
            },
            {
                "model_name": "az",
                "litellm_params": {
                    "model": "azure/gpt-4o",
                    "api_base": f"http://127.0.0.1:{azure_port}",
                    "api_key": "az-x",
                    "api_version": "2024-10-21",
                },
            },
            {
                "model_name": "br",
                "litellm_params": {
                    "model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                    "aws_bedrock_runtime_endpoint": f"http://127.0.0.1:{bedrock_port}",
                    "aws_access_key_id": "AKIAX",
                    "aws_secret_access_key": "secret-x",
                    "aws_region_name": "us-east-1",
                },
            },
        ]
    }
    path = write_config(tmp_path / "config.yaml", config)

    result = check_config(path, {}, "--connect")

    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    for index, (provider, port) in enumerate(
        [
            ("anthropic", anthropic_port),
            ("gemini", gemini_port),
            ("azure", azure_port),
            ("bedrock", bedrock_port),
        ]
    ):
        assert any(
            f"model_list[{index}]" in line
            and f"({provider})" in line
            and f"cannot connect to 127.0.0.1:{port}" in line
            for line in errors
        ), (provider, errors)
    assert "secret-x" not in result.stdout + result.stderr
