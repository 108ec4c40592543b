"""``/admin/board`` and ``/admin/failures`` over a ``gateway serve --workers 2``: whichever
worker answers, the figures are the whole serve's (each worker's own, added up from the
status files they rewrite with their heartbeat), and the document describes them."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.api.admin.board import Board, Failures
from support.clients import CLIENT_TIMEOUT_S
from support.control import wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Fail

REQUESTS = 40
MESSAGES = [{"role": "user", "content": "hello"}]


def board_config(fleet: UpstreamFleet) -> dict[str, Any]:
    return {
        "model_list": [
            fleet.deployment("chat", "chat-a"),
            fleet.deployment("chat", "chat-b"),
            fleet.deployment("spare", "spare-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1000,  # chat-b keeps failing without cooling down
            "fallbacks": [{"chat": ["spare"]}],
            "routing_strategy": "simple-shuffle",
        },
    }


def test_the_board_counts_every_worker_of_the_serve(
    start_gateway: StartGateway, fleet: UpstreamFleet
) -> None:
    fleet["chat-b"].default = Fail(503, "chat-b is overloaded")
    gateway = start_gateway(board_config(fleet), args=["--workers", "2"])
    wait_for(lambda: gateway.log_text().count('"message":"gateway ready"') == 2, "two workers")
    with httpx.Client(
        base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=CLIENT_TIMEOUT_S
    ) as http:
        answered_by: set[str] = set()
        for _ in range(REQUESTS):
            # A new connection each time, so both workers take requests.
            response = httpx.post(
                f"{gateway.v1_url}/chat/completions",
                headers={**gateway.auth_headers(), "connection": "close"},
                json={"model": "chat", "messages": MESSAGES},
                timeout=CLIENT_TIMEOUT_S,
            )
            assert response.status_code == 200, response.text
            answered_by.add(response.headers["x-gateway-deployment"])
        calls = fleet.calls()
        assert calls["chat-b"] > 0 and answered_by <= {"chat-a", "spare-a"}

        def board() -> dict[str, Any]:
            answer = http.get("/admin/board")
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        def deployments(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
            return {d["id"]: d for g in body["groups"] for d in g["deployments"]}

        def whole_serve_counted() -> bool:
            body = board()
            seen = deployments(body)
            served = sum(d["requests"] for d in seen.values())
            return body["workers"] == 2 and served == REQUESTS

        # Each worker writes its figures every 2 s; any worker's answer adds them all up.
        wait_for(whole_serve_counted, "both workers' figures on the board", timeout=20)
        for _ in range(6):  # several answers, from either worker: the same sums
            body = board()
            Board.model_validate(body)
            seen = deployments(body)
            assert seen["chat-a"]["requests"] == calls["chat-a"]
            assert seen["chat-b"]["failures"] == calls["chat-b"]
            assert seen["chat-b"]["requests"] == 0 and seen["chat-b"]["success_rate"] == 0.0
            assert seen["spare-a"]["requests"] == calls["spare-a"]
            assert seen["chat-a"]["latency_p50_ms"] <= seen["chat-a"]["latency_p95_ms"]
            chat = next(g for g in body["groups"] if g["name"] == "chat")
            assert chat["fallbacks"] == ["spare"] and chat["fallbacks_source"] == "config"
            assert chat["routing_strategy"] == "simple-shuffle"
            assert seen["chat-b"]["state"] == "ok"  # allowed_fails keeps it in service

        failures = http.get("/admin/failures", params={"limit": 100}).json()
        Failures.model_validate(failures)
        listed = failures["data"]
        assert len(listed) == calls["chat-b"]
        assert all(f["deployment"] == "chat-b" for f in listed)
        assert all(f["rescued"] is True and f["upstream_status"] == 503 for f in listed)
        assert {f["served_by"] for f in listed} <= {"chat-a", "spare-a"}
        assert [f["at"] for f in listed] == sorted((f["at"] for f in listed), reverse=True)

        refused = http.get("/admin/failures", params={"limit": 0})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "limit"
        assert http.get("/admin/board", params={"x": 1}).status_code == 400
        document = http.get("/openapi.json").json()
        answer = document["paths"]["/admin/board"]["get"]["responses"]["200"]
        schema = answer["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == {"generated_at", "window_seconds", "workers", "groups"}
        assert "GroupState" in document["components"]["schemas"]
