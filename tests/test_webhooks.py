"""Per-request events to webhook sinks: generic JSON and PostHog, batched, never prompts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Fail
from support.webhook_receiver import WebhookReceiver

PROMPT = "the secret plan for the quarter"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def test_success_and_failure_events_reach_their_sinks_without_prompts_or_keys(
    fleet: UpstreamFleet, start_gateway: StartGateway, receiver: WebhookReceiver
) -> None:
    fleet["bad-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [fleet.deployment("chat", "chat-a"), fleet.deployment("bad", "bad-a")],
        "router_settings": {"num_retries": 0},
        "litellm_settings": {
            "success_callback": ["webhook", "posthog"],
            "failure_callback": ["webhook"],
        },
    }
    gateway = start_gateway(
        config,
        env={
            "GENERIC_LOGGER_ENDPOINT": f"{receiver.url}/events",
            "GENERIC_LOGGER_HEADERS": "Authorization=Bearer hook-token",
            "POSTHOG_API_KEY": "phc_test_project",
            "POSTHOG_API_URL": f"{receiver.url}/ph",
        },
    )
    ids = []
    with httpx.Client(
        base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
    ) as http:
        for model in ("chat", "chat", "chat", "bad"):
            response = http.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": PROMPT}]},
            )
            ids.append(response.headers["x-request-id"])
    generic = receiver.wait_for("/events", 4, None)
    posthog = receiver.wait_for("/ph/batch/", 3, "batch")

    assert sorted(e["request_id"] for e in generic) == sorted(ids)
    outcomes = {e["request_id"]: (e["event"], e["status"]) for e in generic}
    assert outcomes[ids[3]] == ("failure", 500)
    assert all(outcomes[i] == ("success", 200) for i in ids[:3])
    assert all(h["Authorization"] == "Bearer hook-token" for h in receiver.headers("/events"))

    assert len(posthog) == 3  # failures go only to the failure sinks
    assert all(body["api_key"] == "phc_test_project" for body in receiver.bodies("/ph/batch/"))
    event = posthog[0]
    assert event["event"] == "$ai_generation"
    assert event["properties"]["$ai_trace_id"] in ids[:3]
    assert event["properties"]["$ai_input_tokens"] > 0

    everything = str(receiver.received)
    assert PROMPT not in everything
    assert gateway.master_key is not None and gateway.master_key not in everything


def test_unknown_callbacks_are_reported_not_silently_ignored(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    config = {
        "model_list": [fleet.deployment("chat", "chat-a")],
        "litellm_settings": {"success_callback": ["langfuse", "webhook"]},
    }
    gateway = start_gateway(config)
    log = gateway.log_text()
    assert "litellm_settings.success_callback[0]: callback 'langfuse' is not supported" in log
    assert "GENERIC_LOGGER_ENDPOINT is not set" in log
