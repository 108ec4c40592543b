"""The pass-through floor: the least a Python proxy can do per request, as a contender.

    python bench/floor.py --config CONFIG.json --port 9000

A raw ASGI app on uvicorn (one worker, uvloop and httptools, as the gateway
serves) that checks the master key, picks one of the model group's two
deployments in turn, forwards the request body's bytes to it with one shared
aiohttp session and relays the answer: whole, or chunk by chunk when the
upstream answers with a server-sent-event stream. It never parses JSON: the
model name is cut out of the body's bytes. Whatever a proxy does beyond this
(validation, translation, metrics, spend, retries) is what ``run.py`` shows
as its distance to the floor.

It reads the same config as the proxies (``configs.proxy_config``): the
deployments' ``api_base`` and ``api_key``, and ``general_settings.master_key``.
"""

from __future__ import annotations

import argparse
import hmac
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The gateway's own client and server settings (providers/transport.py, serving.py), so the
# floor differs from it in what it does per request, not in how it holds connections.
UPSTREAM_KEEPALIVE_S = 30.0
UPSTREAM_CONNECTIONS = 1000
CONNECT_TIMEOUT_S = 10.0
SERVER_KEEPALIVE_S = 75

MODEL_FIELD = b'"model":'
EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class Deployment:
    url: str
    headers: dict[str, str]


def load_groups(config: dict[str, Any]) -> dict[bytes, Iterator[Deployment]]:
    """Model name (bytes, as it appears in a body) -> its deployments, endlessly in turn."""
    grouped: dict[bytes, list[Deployment]] = {}
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        deployment = Deployment(
            url=params["api_base"].rstrip("/") + "/chat/completions",
            headers={
                "Authorization": f"Bearer {params['api_key']}",
                "Content-Type": "application/json",
            },
        )
        grouped.setdefault(entry["model_name"].encode(), []).append(deployment)
    return {name: itertools.cycle(deployments) for name, deployments in grouped.items()}


def model_of(body: bytes) -> bytes | None:
    """The value of the body's ``"model"`` field, found in its bytes (no JSON parsing).

    Enough for a body written as ``json.dumps`` writes it (a plain string value, with or
    without a space after the colon), which is what the load sends.
    """
    start = body.find(MODEL_FIELD)
    if start < 0:
        return None
    opening = body.find(b'"', start + len(MODEL_FIELD))
    closing = body.find(b'"', opening + 1)
    if opening < 0 or closing < 0:
        return None
    return body[opening + 1 : closing]


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message}}).encode()
    await answer(send, status, body, b"application/json")


class Floor:
    """The ASGI app: auth, the next deployment, the body forwarded, the answer relayed."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.groups = load_groups(config)
        self.expected_auth = f"Bearer {config['general_settings']['master_key']}".encode()
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = new_session()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                # Constant time, as the gateway compares its master key.
                return hmac.compare_digest(value, self.expected_auth)
        return False

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET" and scope["path"] == "/health":
            await answer(send, 200, b'{"status":"ok"}', b"application/json")
            return
        if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await error(send, 404, "not found")
            return
        if not self.authorized(scope):
            await error(send, 401, "invalid api key")
            return
        body = await read_body(receive)
        deployments = self.groups.get(model_of(body) or b"")
        if deployments is None:
            await error(send, 400, "unknown model")
            return
        await self.forward(next(deployments), body, send)

    async def forward(self, deployment: Deployment, body: bytes, send: Send) -> None:
        assert self.session is not None, "the lifespan startup made the session"
        try:
            async with self.session.post(
                deployment.url, data=body, headers=deployment.headers
            ) as upstream:
                content_type = upstream.headers.get("Content-Type", "application/json")
                if content_type.startswith(EVENT_STREAM):
                    await relay_stream(upstream, content_type, send)
                else:
                    await answer(
                        send, upstream.status, await upstream.read(), content_type.encode()
                    )
        except aiohttp.ClientError as exc:
            await error(send, 502, f"upstream unreachable ({type(exc).__name__})")


async def relay_stream(upstream: aiohttp.ClientResponse, content_type: str, send: Send) -> None:
    """Each chunk as it arrives from the upstream, unread (uvicorn chunk-encodes them)."""
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    async for chunk in upstream.content.iter_any():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def new_session() -> aiohttp.ClientSession:
    """One keep-alive pool for every upstream call, set up as the gateway's."""
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=UPSTREAM_CONNECTIONS,
        keepalive_timeout=UPSTREAM_KEEPALIVE_S,
        ttl_dns_cache=300,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", required=True, help="the proxies' config (JSON)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    server = uvicorn.Server(
        uvicorn.Config(
            Floor(config),
            host=args.host,
            port=args.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level="warning",
            timeout_keep_alive=SERVER_KEEPALIVE_S,
        )
    )
    server.run()


if __name__ == "__main__":
    main()
