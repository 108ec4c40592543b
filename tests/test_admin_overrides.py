"""Emergency fallback overrides: the 2 AM drill, on two gateway processes under load.

Two gateways share one Redis (a key prefix of the test's own) and one Postgres
database. Each model group is a mock upstream of its own, so the deployment
header of every answer says which group served it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import redis

from support.clients import async_sdk_client
from support.control import (
    PROPAGATION_BOUND_S,
    Admin,
    control_db,
    error_of,
    fleet_env,
    wait_for,
)
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.ledger import fetch
from support.mock_upstream import Fail
from support.redis_server import SHARED_REDIS_URL, delete_prefixed, shared_redis_prefix

__all__ = ["control_db", "shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]
CLIENTS = 20
# Requests each process must serve in each phase before the phase is judged.
PER_PHASE = 60


def drill_config(fleet: UpstreamFleet, prefix: str) -> dict[str, Any]:
    return {
        "model_list": [
            fleet.deployment("primary", "primary-a"),
            fleet.deployment("target", "target-a"),
            fleet.deployment("third", "third-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "fallbacks": [{"primary": ["third"]}],
            "model_group_alias": {"main": "primary"},
            "redis_key_prefix": prefix,
        },
        "general_settings": {"proxy_batch_write_at": 0.2},
    }


@dataclass(frozen=True)
class Served:
    process: int
    started: float  # monotonic
    deployment: str


class Load:
    """``CLIENTS`` clients sending chat requests for ``primary``, alternating processes."""

    def __init__(self, gateways: list[GatewayProcess]) -> None:
        self.gateways = gateways
        self.served: list[Served] = []
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._clients = [async_sdk_client(g) for g in gateways]

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(CLIENTS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        for client in self._clients:
            await client.close()

    async def wait_served(self, since: float, count: int, timeout: float = 60.0) -> None:
        """Until each process has answered ``count`` requests started after ``since``."""
        deadline = time.monotonic() + timeout
        while any(self.count(p, since) < count for p in range(len(self.gateways))):
            assert not self.errors, self.errors[:5]
            assert time.monotonic() < deadline, "the load stalled"
            await asyncio.sleep(0.01)

    def count(self, process: int, since: float) -> int:
        return sum(1 for s in self.served if s.process == process and s.started >= since)

    def between(self, start: float, end: float) -> list[Served]:
        return [s for s in self.served if start <= s.started < end]

    async def _client(self, index: int) -> None:
        process = index % len(self.gateways)
        client = self._clients[process]
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="primary", messages=MESSAGES
                )
            except openai.APIError as exc:
                self.errors.append(f"process {process}: {exc}")
                return
            self.served.append(Served(process, started, raw.headers["x-gateway-deployment"]))


async def test_override_drill_redirects_every_request_on_both_processes_within_a_second(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    env = fleet_env(control_db)
    config = drill_config(fleet, shared_redis_prefix)
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    load = Load(gateways)
    load.start()
    async with httpx.AsyncClient(base_url=gateways[0].base_url, timeout=30.0) as admin:
        try:
            began = time.monotonic()
            await load.wait_served(began, 20)

            put_sent = time.monotonic()
            response = await admin.put(
                "/admin/overrides/primary",
                json={"redirect_to": "target", "ttl_seconds": 3600, "reason": "primary degraded"},
                headers=gateways[0].auth_headers(),
            )
            put_done = time.monotonic()
            assert response.status_code == 200, response.text
            assert response.json()["propagated"] is True
            await load.wait_served(put_done + PROPAGATION_BOUND_S, PER_PHASE)

            delete_sent = time.monotonic()
            response = await admin.request(
                "DELETE",
                "/admin/overrides/primary",
                json={"reason": "primary recovered"},
                headers=gateways[1].auth_headers(),
            )
            delete_done = time.monotonic()
            assert response.status_code == 200, response.text
            await load.wait_served(delete_done + PROPAGATION_BOUND_S, PER_PHASE)
        finally:
            await load.stop()
    assert not load.errors, load.errors[:5]

    before = load.between(began, put_sent)
    redirected = load.between(put_done + PROPAGATION_BOUND_S, delete_sent)
    after = load.between(delete_done + PROPAGATION_BOUND_S, float("inf"))
    assert before and {s.deployment for s in before} == {"primary-a"}
    for process in (0, 1):
        assert sum(1 for s in redirected if s.process == process) >= PER_PHASE
        assert sum(1 for s in after if s.process == process) >= PER_PHASE
    assert {s.deployment for s in redirected} == {"target-a"}
    assert {s.deployment for s in after} == {"primary-a"}
    # How fast it actually went: the last request that still reached primary after the PUT.
    stale = [
        s.started - put_sent
        for s in load.served
        if put_sent <= s.started < delete_sent and s.deployment != "target-a"
    ]
    print(
        f"PUT answered in {put_done - put_sent:.3f}s; the last request to reach primary "
        f"started {max(stale, default=0.0):.3f}s after the PUT was sent"
    )

    audit = await fetch(
        control_db,
        "SELECT actor, action, reason, before, after FROM gateway_audit"
        " WHERE target_kind = 'override' AND target_id = 'primary' ORDER BY id",
    )
    assert [(r["actor"], r["action"], r["reason"]) for r in audit] == [
        ("master_key", "set", "primary degraded"),
        ("master_key", "delete", "primary recovered"),
    ]
    assert audit[0]["before"] is None and '"redirect_to": "target"' in audit[0]["after"]
    assert '"redirect_to": "target"' in audit[1]["before"] and audit[1]["after"] is None
    log = gateways[0].log_text() + gateways[1].log_text()
    assert "fallback override set" in log and "fallback override deleted" in log


def test_a_fallback_override_replaces_the_chain_and_survives_a_restart_and_a_lost_redis(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    env = fleet_env(control_db)
    config = drill_config(fleet, shared_redis_prefix)
    first = start_gateway(config, env=env)
    with Admin(first) as admin:
        answer = admin.ok(
            admin.put(
                "/admin/overrides/primary",
                {"fallbacks": ["target"], "ttl_seconds": 3600, "reason": "third is down"},
            )
        )
        assert answer["fallbacks"] == ["target"] and answer["redirect_to"] is None
    first.stop()
    # Redis loses everything the fleet kept there; the database still has the override.
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        delete_prefixed(client, shared_redis_prefix)

    second = start_gateway(config, env=env)
    fleet["primary-a"].default = Fail(503, "primary is down")
    with httpx.Client(timeout=30.0) as http:
        response = http.post(
            f"{second.v1_url}/chat/completions",
            headers=second.auth_headers(),
            json={"model": "primary", "messages": MESSAGES},
        )
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-deployment"] == "target-a"
    assert fleet["third-a"].calls() == 0
    with Admin(second) as admin:
        listed = admin.ok(admin.get("/admin/overrides"))["data"]
    assert [(o["model_group"], o["fallbacks"], o["in_force_here"]) for o in listed] == [
        ("primary", ["target"], True)
    ]


def test_an_override_ends_by_itself_at_its_expiry_and_the_expiry_is_audited(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    gateway = start_gateway(drill_config(fleet, shared_redis_prefix), env=fleet_env(control_db))
    with Admin(gateway) as admin, httpx.Client(timeout=30.0) as http:

        def served() -> str:
            response = http.post(
                f"{gateway.v1_url}/chat/completions",
                headers=gateway.auth_headers(),
                json={"model": "primary", "messages": MESSAGES},
            )
            assert response.status_code == 200, response.text
            return response.headers["x-gateway-deployment"]

        admin.ok(
            admin.put(
                "/admin/overrides/primary",
                {"redirect_to": "target", "ttl_seconds": 2, "reason": "short drill"},
            )
        )
        assert served() == "target-a"
        wait_for(lambda: served() == "primary-a", "the override to expire", timeout=10)
        assert admin.ok(admin.get("/admin/overrides"))["data"] == []

        def expiry_audited() -> bool:
            rows = admin.ok(admin.get("/admin/audit", target_kind="override"))["data"]
            return any(r["action"] == "expire" and r["actor"] == "system" for r in rows)

        wait_for(expiry_audited, "the expiry in the audit trail", timeout=30)


def test_unknown_groups_cycles_self_redirects_and_chains_are_refused_with_400(
    fleet: UpstreamFleet, start_gateway: StartGateway, control_db: str, shared_redis_prefix: str
) -> None:
    config = drill_config(fleet, shared_redis_prefix)
    config["router_settings"]["fallbacks"] = [{"primary": ["third"]}, {"third": ["target"]}]
    gateway = start_gateway(config, env=fleet_env(control_db))
    base = {"ttl_seconds": 60, "reason": "test"}
    refused = {
        "nope": {"redirect_to": "target", **base},
        "primary": {"redirect_to": "nowhere", **base},
        "main": {"redirect_to": "target", **base},  # an alias
    }
    with Admin(gateway) as admin:
        for group, body in refused.items():
            response = admin.put(f"/admin/overrides/{group}", body)
            assert response.status_code == 400, (group, response.text)
        cases = [
            ({"redirect_to": "primary", **base}, "itself"),
            ({"redirect_to": "main", **base}, "itself"),
            ({"fallbacks": ["primary"], **base}, "itself"),
            ({"fallbacks": ["target", "target"], **base}, "twice"),
            ({"redirect_to": "target", "fallbacks": ["third"], **base}, "exactly one"),
            ({"redirect_to": None, "fallbacks": None, **base}, "exactly one"),
            ({"fallbacks": [], **base}, "at least one"),
            ({"redirect_to": "target", "ttl_seconds": 0, "reason": "x"}, "ttl_seconds"),
            ({"redirect_to": "target", "ttl_seconds": "soon", "reason": "x"}, "ttl_seconds"),
            ({"redirect_to": "target", "ttl_seconds": 60}, "reason"),
            ({"redirect_to": "target", "ttl_seconds": 60, "reason": "x", "why": 1}, "why"),
        ]
        for body, needle in cases:
            response = admin.put("/admin/overrides/primary", body)
            assert response.status_code == 400, (body, response.text)
            assert needle in error_of(response)["message"], (body, response.text)

        # target -> primary closes the loop primary -> third -> target -> primary.
        response = admin.put("/admin/overrides/target", {"fallbacks": ["primary"], **base})
        assert response.status_code == 400
        assert "target -> primary -> third -> target" in error_of(response)["message"]

        # Redirects do not chain, either way round.
        admin.ok(admin.put("/admin/overrides/third", {"redirect_to": "target", **base}))
        response = admin.put("/admin/overrides/primary", {"redirect_to": "third", **base})
        assert response.status_code == 400 and "do not chain" in error_of(response)["message"]
        response = admin.put("/admin/overrides/target", {"redirect_to": "primary", **base})
        assert response.status_code == 400 and "do not chain" in error_of(response)["message"]

        # Nothing refused was stored.
        listed = admin.ok(admin.get("/admin/overrides"))["data"]
        assert [o["model_group"] for o in listed] == ["third"]
        response = admin.delete("/admin/overrides/primary")
        assert response.status_code == 404
        assert error_of(response)["code"] == "override_not_found"
