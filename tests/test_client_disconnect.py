"""A client that leaves mid-stream makes the gateway close its upstream connection.

The upstream holds its stream open (or keeps trickling chunks); the client
reads the first chunk and closes. The mock upstream must then see its
connection closed by the gateway, within a bounded wait.
"""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from support.configs import CHAT, MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_upstream import MockUpstream, Reply

MESSAGES = [{"role": "user", "content": "Tell me a long story."}]
GONE_WAIT_S = 10.0


def held_stream() -> Reply:
    """A stream whose last chunk waits for an event nobody sets."""
    return Reply(
        content="a long story, never finished", chunks=4, hold_last_chunk=threading.Event()
    )


def test_sync_sdk_closing_mid_stream_closes_the_upstream_connection(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(held_stream())

    stream = client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True)
    first = next(iter(stream))
    assert first.choices
    assert not upstream.stream_client_gone.is_set()
    stream.close()

    assert upstream.stream_client_gone.wait(GONE_WAIT_S)


async def test_async_sdk_closing_mid_stream_closes_the_upstream_connection(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    upstream.script(held_stream())

    stream = await async_client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True)
    async for chunk in stream:
        assert chunk.choices
        break
    assert not upstream.stream_client_gone.is_set()
    await stream.close()

    assert upstream.stream_client_gone.wait(GONE_WAIT_S)


def test_raw_client_hanging_up_on_a_trickling_stream_stops_the_upstream(
    http: httpx.Client, upstream: MockUpstream
) -> None:
    # The upstream keeps writing (slowly); it must notice the gateway went away.
    upstream.script(Reply(content="x" * 200, chunks=200, chunk_delay=0.05))
    body = {"model": CHAT, "messages": MESSAGES, "stream": True}

    with http.stream(
        "POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                break

    assert upstream.stream_client_gone.wait(GONE_WAIT_S)


def test_gateway_keeps_serving_after_a_client_left(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(held_stream(), Reply(content="still here"))

    stream = client.chat.completions.create(model=CHAT, messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    assert upstream.stream_client_gone.wait(GONE_WAIT_S)

    completion = client.chat.completions.create(model=CHAT, messages=MESSAGES)
    assert completion.choices[0].message.content == "still here"


def test_a_client_leaving_a_slow_non_streaming_request_cancels_the_upstream_call(
    gateway: GatewayProcess, upstream: MockUpstream
) -> None:
    upstream.script(Reply(delay=20))
    with (
        httpx.Client(
            base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=2.5
        ) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.post("/v1/chat/completions", json={"model": CHAT, "messages": MESSAGES})
    # The client gave up; the gateway stops waiting on the upstream for it.
    assert upstream.client_gone.wait(GONE_WAIT_S)
    # And keeps serving.
    with httpx.Client(
        base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
    ) as http:
        response = http.post("/v1/chat/completions", json={"model": CHAT, "messages": MESSAGES})
    assert response.status_code == 200
