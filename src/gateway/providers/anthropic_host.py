"""Where a deployment's Messages API lives: Anthropic's own, or Claude on Vertex AI.

Anthropic takes ``POST /v1/messages`` with the model in the body and an API key.
Vertex AI takes the same body at the model's own URL (``:rawPredict``, and
``:streamRawPredict`` for streams) with ``anthropic_version: vertex-2023-10-16`` in
the body instead of the model and of the ``anthropic-version`` header, and a Google
access token. Everything else, the answer and its stream included, is the same API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

VERTEX_VERSION = "vertex-2023-10-16"


@dataclass(frozen=True, slots=True)
class AnthropicHost:
    message_url: str
    stream_url: str
    count_url: str
    # Vertex AI: the model is in the URL and the API version in the body.
    vertex: bool = False
    # Headers fetched per request (a Google access token, refreshed before it expires).
    auth: Callable[[], Awaitable[Mapping[str, str]]] | None = None

    @classmethod
    def anthropic(cls, api_base: str) -> AnthropicHost:
        url = api_base + "/v1/messages"
        return cls(url, url, url + "/count_tokens")

    @classmethod
    def vertex_ai(
        cls,
        publisher_url: str,
        model: str,
        auth: Callable[[], Awaitable[Mapping[str, str]]],
    ) -> AnthropicHost:
        """``publisher_url``: ``…/projects/P/locations/L/publishers/anthropic/models``."""
        model_url = f"{publisher_url}/{model}"
        return cls(
            message_url=model_url + ":rawPredict",
            stream_url=model_url + ":streamRawPredict",
            count_url=publisher_url + "/count-tokens:rawPredict",
            vertex=True,
            auth=auth,
        )

    def body(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request as this host takes it (``request`` is the caller's or a copy)."""
        if not self.vertex:
            return request
        shaped = {key: value for key, value in request.items() if key != "model"}
        shaped["anthropic_version"] = VERTEX_VERSION
        return shaped

    async def headers(self, base: Mapping[str, str]) -> Mapping[str, str]:
        if self.auth is None:
            return base
        headers = {**base, **await self.auth()}
        headers.pop("anthropic-version", None)  # Vertex reads the version from the body
        return headers
