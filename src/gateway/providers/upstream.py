"""One deployment's HTTP exchange with its upstream, shared by every HTTP provider.

A provider decides what to send and how to read the answer; this module sends
it under the call's deadline, turns transport failures into the gateway's
error tree, and holds a stream back until its first chunk so that a failure
before any output is raised while the router can still retry or fall back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamServerError,
    UpstreamTimeout,
)
from gateway.providers.base import StreamChunk, UpstreamCall
from gateway.providers.propagation import with_trace_context
from gateway.providers.transport import UpstreamPool

READ_BUFFER_BYTES = 1 << 20
MAX_CONNECT_S = 10.0

# (status, body, headers) of a failed answer -> the error to raise.
ErrorReader = Callable[[int, bytes, Mapping[str, str]], UpstreamError]
# An open 2xx response -> the OpenAI chunks it carries.
ChunkReader = Callable[[aiohttp.ClientResponse], AsyncGenerator[StreamChunk, None]]


class Upstream:
    """Sends requests for one deployment and translates what can go wrong."""

    def __init__(
        self,
        *,
        provider: str,
        deployment: str,
        pool: UpstreamPool,
        base: str,
        read_error: ErrorReader,
        secrets: Sequence[str] = (),
    ) -> None:
        self.provider = provider
        self.deployment = deployment
        self._pool = pool
        self._base = base
        self._read_error = read_error
        self._secrets = tuple(s for s in secrets if s)

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str], seconds: float
    ) -> dict[str, Any]:
        """POST and return the 2xx answer as a JSON object; any failure raises."""
        raw = await self.post(url, payload, headers, seconds)
        body = json_object(raw)
        if body is None:
            raise UpstreamServerError(
                f"{self.provider} returned a body that is not a JSON object",
                deployment=self.deployment,
            )
        return body

    async def post(
        self, url: str, payload: bytes, headers: Mapping[str, str], seconds: float
    ) -> bytes:
        return (await self.post_answer(url, payload, headers, seconds))[0]

    async def post_answer(
        self, url: str, payload: bytes, headers: Mapping[str, str], seconds: float
    ) -> tuple[bytes, Mapping[str, str]]:
        """POST; the 2xx answer's body and headers (any failure raises)."""
        session = self._pool.session_for(self._base)
        try:
            async with asyncio.timeout(seconds):
                async with session.post(
                    url,
                    data=payload,
                    headers=with_trace_context(headers),
                    read_bufsize=READ_BUFFER_BYTES,
                ) as response:
                    raw = await response.read()
                    if response.status >= 400:
                        raise self._read_error(response.status, raw, response.headers)
                    return raw, response.headers
        except UpstreamError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"no answer from {self.provider} within {seconds:.1f}s",
                deployment=self.deployment,
            ) from exc
        except aiohttp.ClientError as exc:
            raise self.transport_error(exc) from exc

    async def open_stream(
        self,
        url: str,
        payload: bytes,
        headers: Mapping[str, str],
        call: UpstreamCall,
        read_chunks: ChunkReader,
    ) -> PrimedStream:
        """POST, check the status, and return once the first chunk has arrived."""
        session = self._pool.session_for(self._base)
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=min(call.timeout, MAX_CONNECT_S),
            sock_read=call.stream_timeout,
        )
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(call.timeout):
                response = await session.post(
                    url,
                    data=payload,
                    headers=with_trace_context(headers),
                    timeout=timeout,
                    read_bufsize=READ_BUFFER_BYTES,
                )
                if response.status >= 400:
                    raw = await response.read()
                    raise self._read_error(response.status, raw, response.headers)
                stream = PrimedStream(response, read_chunks(response), self)
                await stream.prime()
                return stream
        except BaseException as exc:
            if response is not None:
                response.close()
            if isinstance(exc, UpstreamError):
                raise
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(
                    f"no first chunk from {self.provider} within the time left",
                    deployment=self.deployment,
                ) from exc
            if isinstance(exc, aiohttp.ClientError):
                raise self.transport_error(exc) from exc
            raise

    def redact(self, text: str) -> str:
        """``text`` with every credential of this deployment masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def transport_error(self, exc: aiohttp.ClientError) -> UpstreamError:
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return UpstreamTimeout(
                f"{self.provider} stopped sending data", deployment=self.deployment
            )
        return UpstreamConnectionError(
            f"could not talk to {self.provider} ({type(exc).__name__})", deployment=self.deployment
        )

    def interrupted(self, why: str) -> UpstreamError:
        return UpstreamConnectionError(
            f"{self.provider} stream broke off: {why}", deployment=self.deployment
        )

    def stream_failed(self, message: str, *, code: str | None = None) -> UpstreamError:
        """An error event inside an otherwise successful stream."""
        return UpstreamServerError(
            self.redact(message) or f"{self.provider} sent an error mid-stream",
            deployment=self.deployment,
            code=code,
        )


class PrimedStream:
    """An upstream stream of OpenAI chunks whose first chunk has already been read."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        chunks: AsyncGenerator[StreamChunk, None],
        upstream: Upstream,
    ) -> None:
        self._response = response
        self._chunks = chunks
        self._upstream = upstream
        self._first: StreamChunk | None = None

    async def prime(self) -> None:
        self._first = await anext(self._chunks, None)
        if self._first is None:
            raise self._upstream.interrupted("no chunk before the end of the stream")

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        try:
            async for chunk in self._chunks:
                yield chunk
            # Read to the end: the connection can go back to the pool.
            self._response.release()
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{self._upstream.provider} sent no chunk within stream_timeout",
                deployment=self._upstream.deployment,
            ) from exc
        except aiohttp.ClientError as exc:
            raise self._upstream.interrupted(type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._chunks.aclose()
        self._response.close()


def json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
