"""Without Redis, control changes still reach every worker: they poll the database's versions.

One ``gateway serve --workers 2`` on its embedded database and no Redis. The
admin request lands on one worker; the other learns of the change from the
control versions it polls. Requests go out on fresh connections, so both
workers answer them.
"""

from __future__ import annotations

from typing import Any

import httpx

from support.control import Admin, wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway

MESSAGES = [{"role": "user", "content": "hello"}]
SAMPLE = 20


def answers(gateway: GatewayProcess, key: str | None, model: str = "primary") -> list[Any]:
    """``SAMPLE`` requests on fresh connections: each one's status and serving deployment."""
    seen = []
    for _ in range(SAMPLE):
        headers = {"connection": "close"}
        headers.update({"Authorization": f"Bearer {key}"} if key else gateway.auth_headers())
        with httpx.Client(timeout=30.0) as http:
            response = http.post(
                f"{gateway.v1_url}/chat/completions",
                headers=headers,
                json={"model": model, "messages": MESSAGES},
            )
        seen.append((response.status_code, response.headers.get("x-gateway-deployment")))
    return seen


def ready_pair(fleet: UpstreamFleet, start_gateway: StartGateway) -> GatewayProcess:
    config = {
        "model_list": [fleet.deployment("primary", "primary-a"), fleet.deployment("target", "t-a")],
        "router_settings": {"num_retries": 0},
    }
    gateway = start_gateway(config, args=["--workers", "2"])
    wait_for(lambda: gateway.log_text().count('"message":"gateway ready"') == 2, "two workers")
    return gateway


def test_a_deleted_key_stops_working_on_every_worker(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = ready_pair(fleet, start_gateway)
    with Admin(gateway) as admin:
        key = admin.generate_key(key_alias="local")["key"]
        assert {status for status, _ in answers(gateway, key)} == {200}
        admin.ok(admin.post("/key/delete", {"key_aliases": ["local"]}))
    took = wait_for(
        lambda: {status for status, _ in answers(gateway, key)} == {401},
        "the deletion on both workers",
    )
    print(f"key deletion reached both workers within {took:.2f}s")


def test_an_override_reaches_every_worker(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = ready_pair(fleet, start_gateway)
    with Admin(gateway) as admin:
        admin.ok(
            admin.put(
                "/admin/overrides/primary",
                {"redirect_to": "target", "ttl_seconds": 600, "reason": "no redis drill"},
            )
        )
        wait_for(
            lambda: set(answers(gateway, None)) == {(200, "t-a")}, "the redirect on both workers"
        )
        admin.ok(admin.delete("/admin/overrides/primary"))
        wait_for(
            lambda: set(answers(gateway, None)) == {(200, "primary-a")},
            "traffic back on both workers",
        )
