"""Config reload: rotate a provider credential without a restart, on every worker.

The mock upstream records the ``Authorization`` header of every call, so the
tests see exactly which credential each request carried. Requests go out on
fresh connections, so gunicorn's workers share them.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import orjson

from support.control import Admin, error_of, fleet_env, wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway, write_config
from support.redis_server import shared_redis_prefix

__all__ = ["shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]
OLD_KEY = "sk-provider-credential-old"
NEW_KEY = "sk-provider-credential-new"
REQUESTS = 40


def rotation_config(fleet: UpstreamFleet, api_key: str, prefix: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "chat",
                "litellm_params": {
                    "model": "openai/upstream-chat",
                    "api_base": fleet["chat-a"].base_url,
                    "api_key": api_key,
                },
                "model_info": {"id": "chat-a"},
            }
        ],
        "router_settings": {"num_retries": 0},
    }
    if prefix is not None:
        config["router_settings"]["redis_key_prefix"] = prefix
    return config


def send_on_fresh_connections(gateway: GatewayProcess, count: int) -> None:
    for _ in range(count):
        with httpx.Client(timeout=30.0) as http:
            response = http.post(
                f"{gateway.v1_url}/chat/completions",
                headers={**gateway.auth_headers(), "connection": "close"},
                json={"model": "chat", "messages": MESSAGES},
            )
        assert response.status_code == 200, response.text


def credentials_seen(fleet: UpstreamFleet) -> set[str]:
    return {r.headers["authorization"] for r in fleet["chat-a"].requests}


def log_events(gateway: GatewayProcess, message: str) -> list[dict[str, Any]]:
    events = []
    for line in gateway.log_text().splitlines():
        if line.startswith("{") and f'"message":"{message}"' in line:
            events.append(orjson.loads(line))
    return events


def reloaded_pids(gateway: GatewayProcess) -> set[int]:
    return {event["pid"] for event in log_events(gateway, "config reloaded")}


def rotate_and_check_every_worker(
    fleet: UpstreamFleet, gateway: GatewayProcess, config_path: Path, prefix: str | None
) -> None:
    wait_for(lambda: len(log_events(gateway, "gateway ready")) == 2, "both workers to start")
    send_on_fresh_connections(gateway, REQUESTS)
    assert credentials_seen(fleet) == {f"Bearer {OLD_KEY}"}

    write_config(config_path, rotation_config(fleet, NEW_KEY, prefix))
    with Admin(gateway) as admin:
        answer = admin.ok(admin.post("/config/reload", {"reason": "rotate the provider key"}))
    assert answer["reloaded"] is True and answer["deployments"] == 1
    # The worker that answered has reloaded; the other one follows on the announcement.
    wait_for(lambda: len(reloaded_pids(gateway)) == 2, "both workers to reload")

    fleet["chat-a"].reset()
    send_on_fresh_connections(gateway, REQUESTS)
    assert fleet["chat-a"].calls() == REQUESTS
    assert credentials_seen(fleet) == {f"Bearer {NEW_KEY}"}

    with Admin(gateway) as admin:
        audit = admin.ok(admin.get("/admin/audit", target_kind="config"))["data"]
    assert [(a["actor"], a["action"], a["reason"]) for a in audit] == [
        ("master_key", "reload", "rotate the provider key")
    ]


def test_a_rotated_credential_is_used_by_every_worker_after_a_reload(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    config = rotation_config(fleet, OLD_KEY, shared_redis_prefix)
    gateway = start_gateway(config, env=fleet_env(), args=["--workers", "2"])
    assert gateway.config_path is not None
    rotate_and_check_every_worker(fleet, gateway, gateway.config_path, shared_redis_prefix)


def test_without_redis_the_other_worker_reloads_from_the_database_version(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(rotation_config(fleet, OLD_KEY, None), args=["--workers", "2"])
    assert gateway.config_path is not None
    rotate_and_check_every_worker(fleet, gateway, gateway.config_path, None)


def test_a_bad_config_file_is_refused_with_every_problem_and_the_running_config_stays(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(rotation_config(fleet, OLD_KEY, None))
    assert gateway.config_path is not None
    broken = rotation_config(fleet, NEW_KEY, None)
    broken["model_list"].append({"model_name": "second"})  # no litellm_params
    broken["router_settings"]["fallbacks"] = [{"chat": ["nowhere"]}]
    write_config(gateway.config_path, broken)
    with Admin(gateway) as admin:
        response = admin.post("/config/reload")
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "invalid_config"
        assert "model_list[1].litellm_params: required field is missing" in error["message"]
        assert "the running config stays" in error["message"]

        gateway.config_path.write_text("model_list: [unclosed", encoding="utf-8")
        response = admin.post("/config/reload")
        assert response.status_code == 400 and "not valid YAML" in error_of(response)["message"]
    send_on_fresh_connections(gateway, 3)
    assert credentials_seen(fleet) == {f"Bearer {OLD_KEY}"}


def test_sighup_reloads_the_config_file_and_a_bad_file_is_refused(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(rotation_config(fleet, OLD_KEY, None))
    assert gateway.config_path is not None
    write_config(gateway.config_path, rotation_config(fleet, NEW_KEY, None))
    gateway.send_signal(signal.SIGHUP)
    wait_for(lambda: len(reloaded_pids(gateway)) == 1, "the reload after SIGHUP")
    send_on_fresh_connections(gateway, 3)
    assert credentials_seen(fleet) == {f"Bearer {NEW_KEY}"}

    gateway.config_path.write_text("model_list: 7\n", encoding="utf-8")
    gateway.send_signal(signal.SIGHUP)
    wait_for(
        lambda: bool(log_events(gateway, "config reload refused: the running config stays")),
        "the refusal in the log",
    )
    fleet["chat-a"].reset()
    send_on_fresh_connections(gateway, 3)
    assert credentials_seen(fleet) == {f"Bearer {NEW_KEY}"}
    assert gateway.alive()
