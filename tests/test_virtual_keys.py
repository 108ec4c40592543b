"""Virtual keys through the official OpenAI SDK, on two gateway processes sharing a fleet.

The gateways share one Redis (the test's own key prefix) and one Postgres
database. Keys are made with the admin API and used as the SDK's ``api_key``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from support.clients import sdk_client
from support.control import (
    PROPAGATION_BOUND_S,
    Admin,
    control_db,
    fleet_env,
    wait_for,
)
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.ledger import fetch, wait_until
from support.mock_upstream import Reply
from support.redis_server import shared_redis_prefix

__all__ = ["control_db", "shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]


def keys_config(fleet: UpstreamFleet, prefix: str) -> dict[str, Any]:
    chat = fleet.deployment("chat", "chat-a")
    chat["model_info"].update(input_cost_per_token=1e-06, output_cost_per_token=2e-06)
    return {
        "model_list": [chat, fleet.deployment("other", "other-a")],
        "router_settings": {"num_retries": 0, "redis_key_prefix": prefix},
        "general_settings": {"proxy_batch_write_at": 0.2},
    }


def start_pair(
    start_gateway: StartGateway, fleet: UpstreamFleet, prefix: str, database_url: str
) -> list[GatewayProcess]:
    config = keys_config(fleet, prefix)
    env = fleet_env(database_url)
    return [start_gateway(config, env=env), start_gateway(config, env=env)]


def chat(client: openai.OpenAI, model: str = "chat") -> str:
    completion = client.chat.completions.create(model=model, messages=MESSAGES)
    return completion.choices[0].message.content or ""


def refused(call: Callable[[], object], kind: type[openai.APIStatusError]) -> openai.APIStatusError:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def fresh_minute() -> None:
    """Wait, if need be, so that what follows runs well inside one fixed rpm window."""
    if time.time() % 60 > 45:
        time.sleep(60.5 - time.time() % 60)


def test_key_lifecycle_generate_use_rpm_budget_update_delete_on_two_processes(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    gateways = start_pair(start_gateway, fleet, shared_redis_prefix, control_db)
    with Admin(gateways[0]) as admin:
        created = admin.generate_key(key_alias="svc-a", models=["chat"], metadata={"owner": "a"})
    key = created["key"]
    assert key.startswith("sk-") and len(key) > 40
    assert created["token"] == hashlib.sha256(key.encode()).hexdigest()
    assert created["key_name"] == f"sk-...{key[-4:]}"
    stored = asyncio.run(fetch(control_db, "SELECT key_hash, doc::text AS doc FROM gateway_keys"))
    assert [r["key_hash"] for r in stored] == [created["token"]]
    assert key not in stored[0]["doc"] and key[3:] not in stored[0]["doc"]

    clients = [sdk_client(g, api_key=key) for g in gateways]
    try:
        # Use: both processes know the key at once.
        assert chat(clients[0]) and chat(clients[1])

        # rpm_limit 3 holds across the two processes: the fourth request in a minute is refused.
        with Admin(gateways[1]) as admin:
            admin.ok(admin.post("/key/update", {"key": key, "rpm_limit": 3}))
        fresh_minute()
        for index in range(3):
            assert chat(clients[index % 2])
        error = refused(lambda: chat(clients[1]), openai.RateLimitError)
        assert error.status_code == 429
        assert int(error.response.headers["retry-after"]) >= 1
        assert "svc-a" in error.message and "rpm_limit 3" in error.message

        # A model outside the key's list: 403 naming the allowed ones.
        with Admin(gateways[0]) as admin:
            admin.ok(admin.post("/key/update", {"key": key, "rpm_limit": None}))
        error = refused(lambda: chat(clients[0], "other"), openai.PermissionDeniedError)
        assert error.status_code == 403 and "Allowed models: chat" in error.message

        # A tiny budget for this hour: one request is allowed, the next is refused with 400.
        with Admin(gateways[0]) as admin:
            admin.ok(
                admin.post("/key/update", {"key": key, "max_budget": 1e-9, "budget_duration": "1h"})
            )
        assert chat(clients[0])
        error = refused(lambda: chat(clients[0]), openai.BadRequestError)
        assert error.status_code == 400 and error.code == "budget_exceeded"
        assert "spent $" in error.message and "resets at" in error.message
        assert "budget_duration 1h" in error.message

        def refused_on_other() -> bool:
            try:
                chat(clients[1])
            except openai.BadRequestError as exc:
                return exc.code == "budget_exceeded"
            return False

        # The other process learns the spend from the fleet's counter.
        wait_for(refused_on_other, "the budget to hold on the other process", timeout=5)

        # Update: a bigger budget works again, on both processes.
        with Admin(gateways[1]) as admin:
            updated = admin.ok(admin.post("/key/update", {"key": key, "max_budget": 100}))
        assert updated["max_budget"] == 100 and updated["budget_duration"] == "1h"
        assert updated["budget_reset_at"].endswith("Z")
        wait_for(
            lambda: _status(lambda: chat(clients[0])) == _status(lambda: chat(clients[1])) == 200,
            "the update everywhere",
        )

        # Delete: 401 on both processes within a second.
        with Admin(gateways[0]) as admin:
            assert admin.ok(admin.post("/key/delete", {"keys": [key]})) == {"deleted_keys": [key]}
        deleted_at = time.monotonic()
        for client in clients:

            def unauthorized(client: openai.OpenAI = client) -> bool:
                try:
                    chat(client)
                except openai.AuthenticationError:
                    return True
                return False

            wait_for(unauthorized, "the deleted key to be refused", timeout=PROPAGATION_BOUND_S)
        print(f"key deletion took effect on both processes in {time.monotonic() - deleted_at:.3f}s")
    finally:
        for client in clients:
            client.close()

    # Every request was metered to the key (by hash and alias) in the ledger.
    async def metered() -> bool:
        rows = await fetch(
            control_db,
            "SELECT count(*) AS n FROM spend_log WHERE key_hash = $1 AND key_alias = 'svc-a'",
            created["token"],
        )
        return int(rows[0]["n"]) >= 5

    asyncio.run(wait_until(metered, "the key's requests in the ledger"))


def test_unknown_expired_and_blocked_keys_get_401_with_a_clear_message(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    gateway = start_gateway(keys_config(fleet, shared_redis_prefix), env=fleet_env(control_db))
    with Admin(gateway) as admin:
        expired = admin.generate_key(key_alias="old", expires="2020-01-01T00:00:00Z")["key"]
        blocked = admin.generate_key(key_alias="stopped", blocked=True)["key"]
        management = admin.generate_key(key_alias="ops", key_type="management")["key"]
    cases = {
        "sk-not-a-key-of-this-gateway": "Invalid API key",
        expired: "expired at 2020-01-01T00:00:00Z",
        blocked: "is blocked",
    }
    for key, needle in cases.items():
        with sdk_client(gateway, api_key=key) as client:
            error = refused(lambda client=client: chat(client), openai.AuthenticationError)
        assert error.status_code == 401 and needle in error.message
    with sdk_client(gateway, api_key=management) as client:
        error = refused(lambda: chat(client), openai.PermissionDeniedError)
    assert "management key" in error.message


def test_a_team_budget_and_rate_limit_apply_to_all_its_keys_together(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    gateways = start_pair(start_gateway, fleet, shared_redis_prefix, control_db)
    with Admin(gateways[0]) as admin:
        team = admin.ok(
            admin.post(
                "/team/new",
                {"team_id": "search", "team_alias": "Search", "rpm_limit": 2, "models": ["chat"]},
            )
        )
        assert team["team_id"] == "search" and team["rpm_limit"] == 2
        one = admin.generate_key(key_alias="search-1", team_id="search")["key"]
        two = admin.generate_key(key_alias="search-2", team_id="search")["key"]
        response = admin.post("/key/generate", {"team_id": "search", "models": ["other"]})
        assert response.status_code == 400 and "does not allow" in response.text

    fresh_minute()
    with (
        sdk_client(gateways[0], api_key=one) as first,
        sdk_client(gateways[1], api_key=two) as second,
    ):
        assert chat(first) and chat(second)
        error = refused(lambda: chat(first), openai.RateLimitError)
    assert "team 'Search'" in error.message

    with Admin(gateways[1]) as admin:
        admin.ok(admin.post("/team/update", {"team_id": "search", "blocked": True}))
        info = admin.ok(admin.get("/team/info", team_id="search"))
        assert info["team_info"]["blocked"] is True
        assert {k["key_alias"] for k in info["keys"]} == {"search-1", "search-2"}
    with sdk_client(gateways[0], api_key=two) as client:
        wait_for(
            lambda: _status(lambda: chat(client)) == 401,
            "the blocked team to be refused",
            timeout=PROPAGATION_BOUND_S,
        )
    with Admin(gateways[0]) as admin:
        deleted = admin.ok(admin.post("/team/delete", {"team_ids": ["search"]}))
        assert deleted == {"deleted_teams": ["search"], "deleted_keys": 2}
        assert admin.get("/key/info", key=one).status_code == 404


def test_max_parallel_requests_refuses_a_second_request_while_one_is_in_flight(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    gateways = start_pair(start_gateway, fleet, shared_redis_prefix, control_db)
    with Admin(gateways[0]) as admin:
        key = admin.generate_key(key_alias="single", max_parallel_requests=1)["key"]
    release = threading.Event()
    fleet["chat-a"].script(Reply(hold_last_chunk=release, chunks=2))
    results: list[str] = []

    def stream() -> None:
        with sdk_client(gateways[0], api_key=key) as client:
            parts = client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
            results.append("".join(c.choices[0].delta.content or "" for c in parts if c.choices))

    holder = threading.Thread(target=stream)
    holder.start()
    try:
        assert fleet["chat-a"].wait_for_calls(1)
        with sdk_client(gateways[1], api_key=key) as client:
            error = refused(lambda: chat(client), openai.RateLimitError)
        assert "max_parallel_requests is 1" in error.message
        assert error.response.headers["retry-after"] == "1"
    finally:
        release.set()
        holder.join(30)
    assert results and results[0]
    with sdk_client(gateways[1], api_key=key) as client:
        wait_for(lambda: _status(lambda: chat(client)) == 200, "the slot to be released")


def _status(call: Callable[[], object]) -> int:
    try:
        call()
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def test_a_key_sees_and_uses_only_its_models_in_litellms_forms(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    """``/v1/models`` lists what a key may use; ``*``, ``all-proxy-models``, ``all-team-models``
    and ``prefix*`` entries mean what they mean in LiteLLM (embedded control store)."""
    config = {
        "model_list": [
            fleet.deployment("chat", "chat-a"),
            fleet.deployment("chat-mini", "mini-a"),
            fleet.deployment("other", "other-a"),
        ],
        "router_settings": {"num_retries": 0},
    }
    gateway = start_gateway(config)
    with Admin(gateway) as admin:
        only_chat = admin.generate_key(models=["chat"])["key"]
        chat_family = admin.generate_key(models=["chat*"])["key"]
        everything = admin.generate_key(models=["all-proxy-models"])["key"]
        admin.ok(admin.post("/team/new", {"team_id": "t-chat", "models": ["chat"]}))
        team_key = admin.generate_key(team_id="t-chat", models=["all-team-models"])["key"]

    def listed(key: str | None) -> list[str]:
        with sdk_client(gateway, api_key=key or gateway.master_key) as client:
            return sorted(model.id for model in client.models.list())

    assert listed(None) == ["chat", "chat-mini", "other"]
    assert listed(only_chat) == ["chat"]
    assert listed(chat_family) == ["chat", "chat-mini"]
    assert listed(everything) == ["chat", "chat-mini", "other"]
    assert listed(team_key) == ["chat"]

    with sdk_client(gateway, api_key=only_chat) as client:
        assert client.models.retrieve("chat").id == "chat"
        hidden = refused(lambda: client.models.retrieve("other"), openai.NotFoundError)
        assert "may not use it" in hidden.message and "Available models: chat" in hidden.message
    with sdk_client(gateway, api_key=chat_family) as client:
        assert chat(client, "chat-mini")
        assert refused(lambda: chat(client, "other"), openai.PermissionDeniedError)
    with sdk_client(gateway, api_key=everything) as client:
        assert chat(client, "other")
    with sdk_client(gateway, api_key=team_key) as client:
        assert chat(client, "chat")
        denied = refused(lambda: chat(client, "other"), openai.PermissionDeniedError)
        assert "team 't-chat'" in denied.message
