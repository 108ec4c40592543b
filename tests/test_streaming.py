"""Streaming chat completions: relayed chunk by chunk, usage on request, failures visible.

A stream that breaks upstream (connection dropped, error event, stalled past
``stream_timeout``) ends with an error event the SDK raises as ``APIError``:
never a silent, successful-looking finish, never a hang.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import pytest

from support.clients import sdk_client
from support.configs import CHAT, MASTER_KEY, upstream_config
from support.gateway_process import StartGateway
from support.mock_upstream import Ending, Fail, MockUpstream, Reply

CHAT_PATH = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Count to three."}]
CONTENT = "one, two, three"


def stream_error(stream: Iterable[Any]) -> tuple[list[Any], openai.APIError]:
    """Read ``stream`` until it raises; (chunks before the error, the error)."""
    chunks: list[Any] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            chunks.append(chunk)
    return chunks, raised.value


def assert_error_event(error: openai.APIError) -> None:
    """The gateway ended the stream with an error event (not a broken or timed-out socket)."""
    assert not isinstance(error, openai.APIConnectionError), f"transport failure: {error!r}"
    assert isinstance(error.body, dict)
    assert error.body.get("message")


def sse_events(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of a raw SSE response, in order."""
    events = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            events.append(line[len("data:") :].strip())
    return events


def test_first_chunk_reaches_the_client_before_the_upstream_sends_its_last(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    release = threading.Event()
    upstream.script(Reply(content=CONTENT, chunks=3, hold_last_chunk=release))

    text = ""
    with client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            # Only once a chunk reached us may the upstream send its last one. A gateway
            # that buffered would get nothing more: the hold expires, the upstream drops.
            release.set()
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content

    assert text == CONTENT
    assert upstream.hold_timeouts == 0


async def test_async_stream_is_incremental_too(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    release = threading.Event()
    upstream.script(Reply(content=CONTENT, chunks=3, hold_last_chunk=release))

    text = ""
    finish = None
    stream = await async_client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True)
    async with stream:
        async for chunk in stream:
            release.set()
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish

    assert text == CONTENT
    assert finish == "stop"
    assert upstream.hold_timeouts == 0


def test_usage_chunk_is_sent_when_the_caller_asks_for_it(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Reply(content=CONTENT, prompt_tokens=13, completion_tokens=5))

    with client.chat.completions.create(
        model=CHAT, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (13, 5)
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert upstream.last_request(CHAT_PATH).body["stream_options"] == {"include_usage": True}


def test_no_usage_chunk_unless_asked_but_the_upstream_is_always_asked(
    http: httpx.Client, upstream: MockUpstream
) -> None:
    body = {"model": CHAT, "messages": MESSAGES, "stream": True}
    with http.stream(
        "POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as response:
        assert response.status_code == 200
        events = sse_events(response)

    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks, "no chunk before [DONE]"
    assert all(chunk["choices"] for chunk in chunks), "a usage-only chunk was sent unasked"
    assert all(chunk.get("usage") is None for chunk in chunks)
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == Reply().content
    # The gateway meters streams, so it asks the upstream for usage regardless.
    assert upstream.last_request(CHAT_PATH).body["stream_options"] == {"include_usage": True}


def test_stream_response_disables_caching_and_proxy_buffering(
    http: httpx.Client, upstream: MockUpstream
) -> None:
    body = {"model": CHAT, "messages": MESSAGES, "stream": True}
    with http.stream(
        "POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as response:
        events = sse_events(response)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers.get("x-request-id")
    assert response.headers.get("x-gateway-model-group") == CHAT
    assert events[-1] == "[DONE]"


def test_upstream_error_before_the_first_chunk_is_a_plain_http_error(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Fail(400, "Invalid 'max_tokens': too large.", param="max_tokens"))

    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True, max_tokens=10**9)

    assert "Invalid 'max_tokens': too large." in raised.value.message
    assert raised.value.response.headers["content-type"].startswith("application/json")
    assert upstream.calls(CHAT_PATH) == 1


def test_upstream_dropping_mid_stream_raises_api_error_in_the_sdk(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Reply(content=CONTENT, chunks=3, ending=Ending.DROP, ending_after=1))

    with client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True) as stream:
        chunks, error = stream_error(stream)

    assert_error_event(error)
    # What arrived before the drop was relayed; nothing claimed the answer was complete.
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one, "
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)


async def test_upstream_error_event_mid_stream_raises_api_error_with_its_message(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    upstream.script(
        Reply(
            content=CONTENT,
            ending=Ending.ERROR_EVENT,
            ending_after=2,
            error_message="The upstream model crashed half way.",
        )
    )

    stream = await async_client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True)
    chunks = []
    async with stream:
        with pytest.raises(openai.APIError) as raised:
            async for chunk in stream:
                chunks.append(chunk)

    assert_error_event(raised.value)
    assert "The upstream model crashed half way." in raised.value.message
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)


def test_stream_timeout_ends_a_stalled_stream_with_an_error(
    start_gateway: StartGateway, upstream: MockUpstream
) -> None:
    gateway = start_gateway(
        upstream_config(upstream.base_url, litellm_settings={"stream_timeout": 0.5})
    )
    upstream.script(Reply(content=CONTENT, ending=Ending.STALL, ending_after=1))

    with (
        sdk_client(gateway) as client,
        client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True) as stream,
    ):
        chunks, error = stream_error(stream)

    assert_error_event(error)
    assert any(c.choices and c.choices[0].delta.content == "one, " for c in chunks)
    # The gateway gave up on the stalled upstream itself and closed the connection.
    assert upstream.stall_timeouts == 0
    assert upstream.stream_client_gone.wait(10)
