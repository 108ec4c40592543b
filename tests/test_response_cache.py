"""The response cache: hits skip the upstream, controls steer it, keys do not share answers.

Every test runs a real gateway with ``litellm_settings.cache: true`` (in-process
cache unless said otherwise) in front of the mock upstream, and counts the
calls the upstream received.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from support.clients import CLIENT_TIMEOUT_S, sdk_client
from support.configs import CHAT, EMBED, TEXT, upstream_config
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import MockUpstream, Reply

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Paris is the capital of France."
CHAT_PATH = "/v1/chat/completions"
SPEND_POLL_S = 0.1
SPEND_WAIT_S = 15.0


def cache_config(upstream: MockUpstream, **cache_params: Any) -> dict[str, Any]:
    config = upstream_config(upstream.base_url)
    config["litellm_settings"] = {"cache": True, "cache_params": {"type": "local", **cache_params}}
    return config


def ask(client: openai.OpenAI, **extra: Any) -> tuple[str, str | None, str | None]:
    """(content, x-gateway-cache, x-gateway-cache-key) of one chat completion."""
    raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES, **extra)
    completion = raw.parse()
    return (
        completion.choices[0].message.content or "",
        raw.headers.get("x-gateway-cache"),
        raw.headers.get("x-gateway-cache-key"),
    )


def test_the_second_identical_request_is_a_hit_with_no_upstream_call(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    upstream.default = Reply(content=ANSWER)
    gateway = start_gateway(cache_config(upstream))
    with sdk_client(gateway) as client:
        first, first_state, key = ask(client)
        second, second_state, second_key = ask(client, temperature=None)
    assert (first, first_state) == (ANSWER, "miss")
    assert (second, second_state) == (ANSWER, "hit")
    assert second_key == key
    assert upstream.calls(CHAT_PATH) == 1


def test_different_sampling_parameters_or_messages_are_different_entries(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream))
    with sdk_client(gateway) as client:
        assert ask(client)[1] == "miss"
        assert ask(client, temperature=0.5)[1] == "miss"
        assert ask(client, temperature=0.5)[1] == "hit"
        other = client.chat.completions.with_raw_response.create(
            model=CHAT, messages=[{"role": "user", "content": "And of Spain?"}]
        )
        assert other.headers["x-gateway-cache"] == "miss"
        # The end-user label and the stream flag do not change the answer.
        assert ask(client, user="someone-else")[1] == "hit"
    assert upstream.calls(CHAT_PATH) == 3


def test_no_cache_skips_the_lookup_and_the_cache_field_never_reaches_the_provider(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream))
    with sdk_client(gateway) as client:
        assert ask(client)[1] == "miss"
        assert ask(client, extra_body={"cache": {"no-cache": True}})[1] == "miss"
        assert upstream.calls(CHAT_PATH) == 2
        assert "cache" not in upstream.last_request(CHAT_PATH).body
        # An answer too old for s-maxage is not used either.
        assert ask(client, extra_body={"cache": {"s-maxage": 0}})[1] == "miss"
        assert upstream.calls(CHAT_PATH) == 3
        assert ask(client, extra_body={"cache": {"s-maxage": 600}})[1] == "hit"
        assert upstream.calls(CHAT_PATH) == 3


def test_no_store_and_a_zero_ttl_leave_nothing_behind(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream))
    messages = [{"role": "user", "content": "Do not keep this."}]
    with sdk_client(gateway) as client:
        for controls in ({"no-store": True}, {"ttl": 0}):
            raw = client.chat.completions.with_raw_response.create(
                model=CHAT, messages=messages, extra_body={"cache": controls}
            )
            assert raw.headers["x-gateway-cache"] == "miss"
        raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=messages)
        assert raw.headers["x-gateway-cache"] == "miss"
    assert upstream.calls(CHAT_PATH) == 3


def test_a_bad_cache_field_is_a_400_naming_it(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream))
    with httpx.Client(base_url=gateway.v1_url, timeout=CLIENT_TIMEOUT_S) as http:
        for bad, param in (
            ("yes", "cache"),
            ({"no-cache": "yes"}, "cache.no-cache"),
            ({"ttl": -1}, "cache.ttl"),
            ({"forever": True}, "cache.forever"),
        ):
            response = http.post(
                "/chat/completions",
                headers=gateway.auth_headers(),
                json={"model": CHAT, "messages": MESSAGES, "cache": bad},
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["param"] == param
    assert upstream.calls() == 0


def test_a_key_never_sees_another_keys_answer_unless_the_cache_is_shared(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    scoped = start_gateway(cache_config(upstream), master_key=None)
    shared = start_gateway(cache_config(upstream, shared=True), master_key=None)
    for gateway, bob_sees_alices_answer in ((scoped, False), (shared, True)):
        upstream.reset()
        with (
            sdk_client(gateway, api_key="sk-alice") as alice,
            sdk_client(gateway, api_key="sk-bob") as bob,
        ):
            assert ask(alice)[1] == "miss"
            assert ask(bob)[1] == ("hit" if bob_sees_alices_answer else "miss")
            assert ask(alice)[1] == "hit"
            assert ask(bob)[1] == "hit"
        assert upstream.calls(CHAT_PATH) == (1 if bob_sees_alices_answer else 2)


def test_a_streamed_request_is_served_from_the_cache_as_a_well_formed_stream(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    upstream.default = Reply(content=ANSWER, chunks=4)
    gateway = start_gateway(cache_config(upstream))
    with sdk_client(gateway) as client:
        ask(client)  # stored whole
        with client.chat.completions.with_streaming_response.create(
            model=CHAT,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            assert response.headers["x-gateway-cache"] == "hit"
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = list(response.parse())
    assert upstream.calls(CHAT_PATH) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_a_streamed_answer_is_stored_and_served_to_streams_and_whole_requests(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    upstream.default = Reply(content=ANSWER, chunks=5)
    gateway = start_gateway(cache_config(upstream))
    with sdk_client(gateway) as client:
        with client.chat.completions.with_streaming_response.create(
            model=CHAT, messages=MESSAGES, stream=True
        ) as response:
            assert response.headers["x-gateway-cache"] == "miss"
            first = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        # The answer is stored as the stream ends, before the caller sees [DONE].
        whole, state, _ = ask(client)
        with client.chat.completions.with_streaming_response.create(
            model=CHAT, messages=MESSAGES, stream=True
        ) as response:
            assert response.headers["x-gateway-cache"] == "hit"
            chunks = list(response.parse())
    assert first == whole == ANSWER
    assert state == "hit"
    # Without include_usage the replay carries no usage chunk.
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert upstream.calls(CHAT_PATH) == 1


def test_completions_and_embeddings_are_cached_too(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream))
    with sdk_client(gateway) as client:
        states = []
        for _ in range(2):
            raw = client.completions.with_raw_response.create(model=TEXT, prompt="Say hi")
            states.append(raw.headers["x-gateway-cache"])
            raw = client.embeddings.with_raw_response.create(model=EMBED, input="hello")
            states.append(raw.headers["x-gateway-cache"])
            vector = raw.parse().data[0].embedding
    assert states == ["miss", "miss", "hit", "hit"]
    assert len(vector) > 0
    assert upstream.calls() == 2


def test_supported_call_types_limits_what_is_cached(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream, supported_call_types=["aembedding"]))
    with sdk_client(gateway) as client:
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
            assert "x-gateway-cache" not in raw.headers
    assert upstream.calls(CHAT_PATH) == 2


def test_default_off_caches_only_requests_that_opt_in(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream, mode="default_off"))
    opt_in = {"cache": {"use-cache": True}}
    with sdk_client(gateway) as client:
        assert ask(client)[1] is None
        assert ask(client, extra_body=opt_in)[1] == "miss"
        assert ask(client, extra_body=opt_in)[1] == "hit"
        assert ask(client)[1] is None
    assert upstream.calls(CHAT_PATH) == 3


def test_admin_routes_ping_delete_and_flush_with_the_master_key(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(cache_config(upstream))
    with (
        sdk_client(gateway) as client,
        httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as http,
    ):
        assert http.get("/cache/ping").status_code == 401
        assert http.post("/cache/flushall").status_code == 401
        ping = http.get("/cache/ping", headers=gateway.auth_headers())
        assert ping.status_code == 200
        assert ping.json() | {"shared_state": None} == {
            "status": "healthy",
            "cache_type": "local",
            "ping_response": True,
            "shared_state": None,
        }

        _, _, key = ask(client)
        assert ask(client)[1] == "hit"
        deleted = http.post("/cache/delete", headers=gateway.auth_headers(), json={"keys": [key]})
        assert deleted.status_code == 200
        assert deleted.json() == {"status": "success", "deleted": 1}
        assert ask(client)[1] == "miss"
        assert ask(client)[1] == "hit"

        flushed = http.post("/cache/flushall", headers=gateway.auth_headers())
        assert flushed.status_code == 200
        assert flushed.json()["status"] == "success"
        assert ask(client)[1] == "miss"

        bad = http.post("/cache/delete", headers=gateway.auth_headers(), json={"keys": "x"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "keys"


def test_admin_routes_answer_503_when_the_cache_is_off(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(upstream_config(upstream.base_url))
    with httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as http:
        response = http.get("/cache/ping", headers=gateway.auth_headers())
    assert response.status_code == 503
    assert "litellm_settings.cache" in response.json()["error"]["message"]


def test_a_cache_hit_is_recorded_in_the_ledger_and_costs_nothing(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    config = cache_config(upstream)
    config["general_settings"]["proxy_batch_write_at"] = 0.1
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        miss = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
        hit = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
    assert hit.headers["x-gateway-cache"] == "hit"
    rows = _spend_rows(gateway, {miss.headers["x-request-id"], hit.headers["x-request-id"]})
    by_id = {row["request_id"]: row for row in rows}
    hit_row = by_id[hit.headers["x-request-id"]]
    miss_row = by_id[miss.headers["x-request-id"]]
    assert hit_row["cache_hit"] is True
    assert hit_row["cost_usd"] == 0
    assert hit_row["deployment_id"] is None
    assert hit_row["model_group"] == CHAT
    assert miss_row["cache_hit"] is False
    assert miss_row["deployment_id"] is not None


def _spend_rows(gateway: GatewayProcess, request_ids: set[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + SPEND_WAIT_S
    with httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as http:
        while True:
            response = http.get("/spend/logs", headers=gateway.auth_headers())
            assert response.status_code == 200, response.text
            rows = [r for r in response.json()["data"] if r["request_id"] in request_ids]
            if len(rows) == len(request_ids):
                return rows
            if time.monotonic() > deadline:
                pytest.fail(f"the ledger has {len(rows)} of {len(request_ids)} rows")
            time.sleep(SPEND_POLL_S)
