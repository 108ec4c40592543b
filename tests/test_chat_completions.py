"""Chat completions through the gateway with the OpenAI SDK, sync and async.

The caller's body reaches the upstream untouched except ``model``; the upstream
sees the deployment's key, never the gateway's; the response tells the caller
its request id and which model group and deployment served it.
"""

from __future__ import annotations

import openai

from support.configs import (
    CHAT,
    CHAT_DEPLOYMENT,
    CHAT_KEY,
    CHAT_UPSTREAM_MODEL,
    MASTER_KEY,
    SLASHED,
    SLASHED_DEPLOYMENT,
    SLASHED_KEY,
)
from support.mock_upstream import MockUpstream, Reply

CHAT_PATH = "/v1/chat/completions"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]
# Fields no OpenAI SDK knows of, plus ordinary ones: all must reach the upstream as sent.
EXTRA_FIELDS = {
    "vendor_specific_knob": {"nested": [1, 2.5, None, True], "text": "ünïcødé"},
    "reasoning_effort": "low",
    "seed": 1234,
}


def test_sync_sdk_gets_the_upstream_answer_and_usage(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Reply(content="Hello there!", prompt_tokens=21, completion_tokens=3))

    completion = client.chat.completions.create(model=CHAT, messages=MESSAGES)

    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (21, 3)
    assert upstream.calls(CHAT_PATH) == 1


async def test_async_sdk_gets_the_upstream_answer(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Reply(content="Hello, async caller."))

    completion = await async_client.chat.completions.create(model=CHAT, messages=MESSAGES)

    assert completion.choices[0].message.content == "Hello, async caller."
    assert upstream.calls(CHAT_PATH) == 1


def test_upstream_receives_the_callers_body_untouched_except_model(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    client.chat.completions.create(
        model=CHAT, messages=MESSAGES, temperature=0.25, max_tokens=64, extra_body=EXTRA_FIELDS
    )

    received = upstream.last_request(CHAT_PATH).body
    expected = {
        "model": CHAT_UPSTREAM_MODEL,
        "messages": MESSAGES,
        "temperature": 0.25,
        "max_tokens": 64,
        **EXTRA_FIELDS,
    }
    assert received == expected


async def test_async_body_pass_through_uses_the_deployments_model(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    await async_client.chat.completions.create(
        model=SLASHED, messages=MESSAGES, extra_body=EXTRA_FIELDS
    )

    received = upstream.last_request(CHAT_PATH).body
    assert received == {"model": "gpt-5.5", "messages": MESSAGES, **EXTRA_FIELDS}


def test_upstream_is_called_with_the_deployment_key_never_the_master_key(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    client.chat.completions.create(model=CHAT, messages=MESSAGES)
    client.chat.completions.create(model=SLASHED, messages=MESSAGES)

    first, second = upstream.requests
    assert first.headers["authorization"] == f"Bearer {CHAT_KEY}"
    assert second.headers["authorization"] == f"Bearer {SLASHED_KEY}"
    for request in (first, second):
        assert all(MASTER_KEY not in value for value in request.headers.values())
        assert MASTER_KEY.encode() not in request.raw


def test_response_headers_name_request_id_model_group_and_deployment(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)

    request_id = raw.headers.get("x-request-id")
    assert request_id
    # The gateway's own id, not the upstream's.
    assert request_id != "req_mock_upstream"
    assert raw.headers.get("x-gateway-model-group") == CHAT
    assert raw.headers.get("x-gateway-deployment") == CHAT_DEPLOYMENT
    assert raw.parse().choices[0].message.content

    again = client.chat.completions.with_raw_response.create(model=SLASHED, messages=MESSAGES)
    assert again.headers.get("x-request-id") not in (None, request_id)
    assert again.headers.get("x-gateway-model-group") == SLASHED
    assert again.headers.get("x-gateway-deployment") == SLASHED_DEPLOYMENT


async def test_the_callers_own_request_id_is_echoed(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    raw = await async_client.chat.completions.with_raw_response.create(
        model=CHAT, messages=MESSAGES, extra_headers={"x-request-id": "caller-chosen-id-42"}
    )

    assert raw.headers.get("x-request-id") == "caller-chosen-id-42"
    assert raw.headers.get("x-gateway-model-group") == CHAT
    assert raw.headers.get("x-gateway-deployment") == CHAT_DEPLOYMENT
