"""Runtime models: added, changed and removed through the admin API, on every process at once.

Two gateways share Redis and Postgres. The stored model's credentials must be
sealed in the database (never readable there, nor in the audit trail, nor in
any answer), and the router of every process rebuilt with each change.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from support.control import PROPAGATION_BOUND_S, Admin, control_db, error_of, fleet_env, wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.ledger import fetch
from support.redis_server import shared_redis_prefix

__all__ = ["control_db", "shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]
SALT_KEY = "salt-key-of-this-test-0123456789"
SECRET_ONE = "sk-runtime-model-secret-one"
SECRET_TWO = "sk-runtime-model-secret-two"


def models_config(fleet: UpstreamFleet, prefix: str) -> dict[str, Any]:
    return {
        "model_list": [fleet.deployment("chat", "chat-a")],
        "router_settings": {"num_retries": 0, "redis_key_prefix": prefix},
        "general_settings": {"store_model_in_db": True},
    }


def status_of(gateway: GatewayProcess, model: str) -> int:
    with httpx.Client(timeout=30.0) as http:
        response = http.post(
            f"{gateway.v1_url}/chat/completions",
            headers=gateway.auth_headers(),
            json={"model": model, "messages": MESSAGES},
        )
    return response.status_code


def test_a_stored_model_is_served_everywhere_sealed_at_rest_changed_and_removed(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    config = models_config(fleet, shared_redis_prefix)
    env = fleet_env(control_db, GATEWAY_SALT_KEY=SALT_KEY)
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    assert status_of(gateways[1], "dyn") == 404

    with Admin(gateways[0]) as admin:
        added = admin.ok(
            admin.post(
                "/model/new",
                {
                    "model_name": "dyn",
                    "litellm_params": {
                        "model": "openai/dyn-upstream",
                        "api_base": fleet["dyn-a"].base_url,
                        "api_key": SECRET_ONE,
                    },
                    "model_info": {"mode": "chat"},
                },
            )
        )
    model_id = added["model_info"]["id"]
    assert model_id.startswith("db-") and added["model_info"]["db_model"] is True
    assert added["litellm_params"]["api_key"] == "<redacted>"
    assert status_of(gateways[0], "dyn") == 200
    took = wait_for(lambda: status_of(gateways[1], "dyn") == 200, "the other process", 5)
    assert took < PROPAGATION_BOUND_S
    assert {r.headers["authorization"] for r in fleet["dyn-a"].requests} == {f"Bearer {SECRET_ONE}"}

    # Sealed at rest: neither the key nor any other parameter is readable in the database.
    rows = asyncio.run(fetch(control_db, "SELECT * FROM gateway_models"))
    assert len(rows) == 1 and rows[0]["model_name"] == "dyn"
    assert SECRET_ONE not in str(dict(rows[0])) and "dyn-upstream" not in rows[0]["params_sealed"]
    audit = asyncio.run(fetch(control_db, "SELECT before::text, after::text FROM gateway_audit"))
    assert audit and SECRET_ONE not in str([dict(r) for r in audit])

    with Admin(gateways[1]) as admin:
        listed = admin.ok(admin.get("/model/info"))["data"]
        by_id = {m["model_info"]["id"]: m for m in listed}
        assert by_id["chat-a"]["model_info"]["db_model"] is False
        assert by_id["chat-a"]["litellm_params"]["api_key"] == "<redacted>"
        assert by_id[model_id]["litellm_params"]["api_key"] == "<redacted>"
        assert by_id[model_id]["litellm_params"]["model"] == "openai/dyn-upstream"
        assert SECRET_ONE not in str(listed) and "sk-chat-a" not in str(listed)

        # A config-file model is changed in the file, not here.
        response = admin.post("/model/update", {"id": "chat-a", "model_name": "x"})
        assert response.status_code == 400 and "config file" in error_of(response)["message"]

        # Rotate the stored model's key: every process uses the new one at once.
        admin.ok(
            admin.post(
                "/model/update",
                {"model_info": {"id": model_id}, "litellm_params": {"api_key": SECRET_TWO}},
            )
        )
    fleet["dyn-a"].reset()

    def rotated_everywhere() -> bool:
        for gateway in gateways:
            assert status_of(gateway, "dyn") == 200
        seen = [r.headers["authorization"] for r in fleet["dyn-a"].requests]
        if seen[-2:] == [f"Bearer {SECRET_TWO}"] * 2:
            return True
        fleet["dyn-a"].reset()
        return False

    wait_for(rotated_everywhere, "the new key on both processes", PROPAGATION_BOUND_S)

    # A restarted process loads the stored model from the database.
    gateways[1].stop()
    gateways[1].start()
    assert status_of(gateways[1], "dyn") == 200

    with Admin(gateways[0]) as admin:
        assert admin.ok(admin.post("/model/delete", {"id": model_id})) == {
            "id": model_id,
            "deleted": True,
        }
    assert status_of(gateways[0], "dyn") == 404
    wait_for(lambda: status_of(gateways[1], "dyn") == 404, "the removal", PROPAGATION_BOUND_S)
    actions = asyncio.run(
        fetch(
            control_db,
            "SELECT action FROM gateway_audit WHERE target_kind = 'model' ORDER BY id",
        )
    )
    assert [r["action"] for r in actions] == ["create", "update", "delete"]


def test_a_model_change_that_would_break_the_config_is_refused(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    config = models_config(fleet, shared_redis_prefix)
    config["router_settings"]["fallbacks"] = [{"chat": ["backup"]}]
    config["model_list"].append(fleet.deployment("backup", "backup-a"))
    env = fleet_env(control_db, GATEWAY_SALT_KEY=SALT_KEY)
    gateway = start_gateway(config, env=env)
    with Admin(gateway) as admin:
        bad = [
            ({"model_name": "x"}, "litellm_params: required field is missing"),
            ({"model_name": "x", "litellm_params": {"model": ""}}, "litellm_params.model"),
            (
                {"model_name": "x", "litellm_params": {"model": "mock/x", "rpm": -1}},
                "litellm_params.rpm",
            ),
            (
                {
                    "model_name": "x",
                    "litellm_params": {"model": "mock/x"},
                    "model_info": {"id": "chat-a"},
                },
                "exists already",
            ),
        ]
        for body, needle in bad:
            response = admin.post("/model/new", body)
            assert response.status_code == 400, (body, response.text)
            assert needle in error_of(response)["message"], (body, response.text)
        assert admin.post("/model/delete", {"id": "db-none"}).status_code == 404
        assert admin.ok(admin.get("/model/info"))["data"][0]["model_info"]["db_model"] is False
