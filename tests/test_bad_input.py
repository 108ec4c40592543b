"""Bad requests get OpenAI-shaped errors with the right status, never a 500.

Every error body is ``{"error": {"message", "type", "param", "code"}}`` and
every error response carries ``x-request-id``. Requests the gateway rejects
never reach the upstream; an upstream 400 reaches the caller as a 400 with the
upstream's own message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from support.clients import async_sdk_client, sdk_client
from support.configs import CHAT, GROUPS, MASTER_KEY, MAX_REQUEST_SIZE_MB
from support.gateway_process import GatewayProcess
from support.mock_upstream import Fail, MockUpstream, Raw

CHAT_PATH = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hello"}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
JSON = {"content-type": "application/json"}


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """``response`` is an OpenAI-shaped error with ``status``; returns its ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)
    return error


# --- through the SDK ------------------------------------------------------------


def test_unknown_model_is_not_found_and_lists_the_existing_models(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-nonexistent", messages=MESSAGES)

    message = raised.value.message
    assert "gpt-nonexistent" in message
    assert all(group in message for group in GROUPS)
    assert raised.value.response.headers.get("x-request-id")
    assert upstream.calls() == 0


async def test_unknown_model_in_a_stream_request_is_not_found_too(
    async_client: openai.AsyncOpenAI, upstream: MockUpstream
) -> None:
    with pytest.raises(openai.NotFoundError):
        await async_client.chat.completions.create(
            model="gpt-nonexistent", messages=MESSAGES, stream=True
        )
    assert upstream.calls() == 0


def test_wrong_api_key_is_an_authentication_error(
    gateway: GatewayProcess, upstream: MockUpstream
) -> None:
    with (
        sdk_client(gateway, api_key="sk-not-the-master-key") as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.chat.completions.create(model=CHAT, messages=MESSAGES)
    assert upstream.calls() == 0


async def test_missing_api_key_is_an_authentication_error(
    gateway: GatewayProcess, upstream: MockUpstream
) -> None:
    no_auth = {"Authorization": openai.Omit()}  # no Authorization header at all
    async with async_sdk_client(gateway) as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.chat.completions.create(model=CHAT, messages=MESSAGES, extra_headers=no_auth)
        with pytest.raises(openai.AuthenticationError):
            await sdk.models.list(extra_headers=no_auth)
    assert upstream.calls() == 0


def test_master_key_in_x_api_key_header_is_accepted(
    gateway: GatewayProcess, upstream: MockUpstream
) -> None:
    # The SDK's own key is wrong: it must not be sent, only x-api-key.
    headers = {"Authorization": openai.Omit(), "x-api-key": MASTER_KEY}
    with sdk_client(gateway, api_key="sk-wrong-and-never-sent") as client:
        completion = client.chat.completions.create(
            model=CHAT, messages=MESSAGES, extra_headers=headers
        )
    assert completion.choices[0].message.content
    assert upstream.calls(CHAT_PATH) == 1
    assert upstream.last_request().headers.get("x-api-key") is None


def test_malformed_body_is_a_bad_request(client: openai.OpenAI, upstream: MockUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=CHAT, messages="not a list")  # type: ignore[arg-type]

    assert "messages" in raised.value.message
    assert upstream.calls() == 0


def test_upstream_400_reaches_the_caller_as_400_with_the_upstream_message(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.default = Fail(
        400,
        "Invalid value for 'temperature': must be at most 2.",
        param="temperature",
        code="invalid_value",
    )

    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=CHAT, messages=MESSAGES, temperature=7)

    assert raised.value.status_code == 400
    assert "Invalid value for 'temperature': must be at most 2." in raised.value.message
    assert upstream.calls(CHAT_PATH) == 1


@pytest.mark.parametrize(
    "garbage",
    [
        Raw(b"<html>502 Bad Gateway</html>", content_type="text/html"),
        Raw(b'["not", "an", "object"]'),
        Raw(b'{"choices": [', content_type="application/json"),
    ],
    ids=["html", "json-array", "truncated-json"],
)
def test_upstream_answering_garbage_is_an_openai_error_not_a_500(
    client: openai.OpenAI, upstream: MockUpstream, garbage: Raw
) -> None:
    upstream.default = garbage

    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model=CHAT, messages=MESSAGES)

    assert 502 <= raised.value.status_code < 600
    assert raised.value.status_code != 500
    assert isinstance(raised.value.body, dict)
    assert raised.value.body.get("message")
    assert raised.value.response.headers.get("x-request-id")


# --- raw HTTP -------------------------------------------------------------------


@pytest.fixture
def auth_http(gateway: GatewayProcess, upstream: MockUpstream) -> Iterator[httpx.Client]:
    """Raw httpx with the master key; asserts the upstream was never called."""
    with httpx.Client(base_url=gateway.base_url, headers=AUTH, timeout=30.0) as client:
        yield client
    assert upstream.calls() == 0


def test_missing_api_key_raw_is_401(http: httpx.Client) -> None:
    response = http.post(CHAT_PATH, json={"model": CHAT, "messages": MESSAGES})

    error = assert_openai_error(response, 401)
    assert error["type"] == "authentication_error"


BAD_BODIES = {
    "malformed-json": b'{"model": "chat", "messages": [',
    "empty-body": b"",
    "json-array": b'[{"model": "chat"}]',
    "json-string": b'"hello"',
    "json-number": b"42",
    "json-null": b"null",
    "model-int": b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}',
    "model-missing": b'{"messages": [{"role": "user", "content": "hi"}]}',
    "messages-string": b'{"model": "chat", "messages": "hi"}',
    "messages-missing": b'{"model": "chat"}',
    "messages-empty": b'{"model": "chat", "messages": []}',
    "message-not-object": b'{"model": "chat", "messages": ["hi"]}',
    "stream-yes": b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], '
    b'"stream": "yes"}',
    "stream-options-list": b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], '
    b'"stream": true, "stream_options": []}',
}
BAD_PARAMS = {
    "model-int": "model",
    "model-missing": "model",
    "messages-string": "messages",
    "messages-missing": "messages",
    "messages-empty": "messages",
    "stream-yes": "stream",
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_chat_body_is_400(auth_http: httpx.Client, case: str) -> None:
    response = auth_http.post(CHAT_PATH, content=BAD_BODIES[case], headers=JSON)

    error = assert_openai_error(response, 400)
    assert error["type"] == "invalid_request_error"
    if case in BAD_PARAMS:
        assert error["param"] == BAD_PARAMS[case]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"model": "text", "prompt": 42}),
        ("/v1/completions", {"model": "text"}),
        ("/v1/embeddings", {"model": "embed", "input": []}),
        ("/v1/embeddings", {"model": "embed"}),
        ("/v1/embeddings", {"model": "embed", "input": "x", "stream": True}),
    ],
    ids=[
        "prompt-number",
        "prompt-missing",
        "input-empty",
        "input-missing",
        "embedding-stream",
    ],
)
def test_bad_completion_and_embedding_bodies_are_400(
    auth_http: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    assert_openai_error(auth_http.post(path, json=body), 400)


def test_body_over_max_request_size_is_413(auth_http: httpx.Client) -> None:
    content = "x" * (MAX_REQUEST_SIZE_MB * 1024 * 1024 + 1)
    response = auth_http.post(
        CHAT_PATH, json={"model": CHAT, "messages": [{"role": "user", "content": content}]}
    )

    error = assert_openai_error(response, 413)
    assert "max_request_size_mb" in error["message"]


def test_chunked_body_over_max_request_size_is_413(auth_http: httpx.Client) -> None:
    # No Content-Length: the limit is enforced while reading.
    piece = b"x" * 65536
    count = MAX_REQUEST_SIZE_MB * 16 + 1

    def body() -> Iterator[bytes]:
        yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
        for _ in range(count):
            yield piece
        yield b'"}]}'

    response = auth_http.post(CHAT_PATH, content=body(), headers=JSON)

    assert_openai_error(response, 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(auth_http: httpx.Client, content_type: str) -> None:
    response = auth_http.post(
        CHAT_PATH,
        content=b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}',
        headers={"content-type": content_type},
    )

    assert_openai_error(response, 415)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/no-such-route"), ("GET", "/v2/models"), ("GET", "/"), ("POST", "/v1")],
)
def test_unknown_path_is_404(auth_http: httpx.Client, method: str, path: str) -> None:
    assert_openai_error(auth_http.request(method, path, json={}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),
        ("PUT", "/v1/embeddings"),
        ("DELETE", "/v1/models"),
        ("POST", "/v1/models"),
        ("POST", "/models/chat"),
        ("GET", "/completions"),
    ],
)
def test_wrong_method_is_405(auth_http: httpx.Client, method: str, path: str) -> None:
    assert_openai_error(auth_http.request(method, path), 405)


def test_error_responses_echo_the_callers_request_id(auth_http: httpx.Client) -> None:
    response = auth_http.post(
        CHAT_PATH, content=b"{not json", headers={**JSON, "x-request-id": "caller-id-7"}
    )

    assert_openai_error(response, 400)
    assert response.headers["x-request-id"] == "caller-id-7"
