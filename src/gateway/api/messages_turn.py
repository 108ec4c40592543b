"""One Messages API request's attempts: passed through to Anthropic, translated for the others.

The router picks a deployment; this decides how that deployment is asked:

- **native**: ``anthropic/`` deployments, and any whose
  ``model_info.supported_endpoints`` lists ``/v1/messages``, get the caller's
  body as it is (the deployment's model put in) with its ``anthropic-version``
  and ``anthropic-beta``, and their answer is relayed as it came
  (``UpstreamResult.raw``, or the stream's own events).
- **translated**: every other deployment gets the OpenAI chat translation
  (worked out once, on first need), and the handler turns its answer or stream
  back into the Messages format.

A request only the native path can carry (a block or tool with no chat
equivalent) is refused with a 400 naming it only when a deployment that needs
the translation is reached: a group of Anthropic deployments serves it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.api.formats.anthropic import chat_request
from gateway.config.model import with_defaults
from gateway.config.providers import speaks_anthropic
from gateway.errors import InvalidRequest
from gateway.providers.base import ChunkStream, Operation, UpstreamCall, UpstreamResult
from gateway.providers.translate import TranslationError
from gateway.router.groups import Deployment

MESSAGES_ENDPOINTS = ("/v1/messages", "/messages")


def serves_messages(deployment: Deployment) -> bool:
    """Whether the deployment's upstream has Anthropic's Messages API itself."""
    endpoints = deployment.spec.info.supported_endpoints
    if endpoints:
        return any(endpoint in MESSAGES_ENDPOINTS for endpoint in endpoints)
    return speaks_anthropic(deployment.spec.provider, deployment.spec.model)


class MessagesTurn:
    def __init__(self, body: dict[str, Any], forwarded: dict[str, str] | None) -> None:
        self._body = body
        self._forwarded = forwarded
        self._chat: dict[str, Any] | None = None

    def chat(self) -> dict[str, Any]:
        """The request as an OpenAI chat request (a 400 when it has no translation)."""
        if self._chat is None:
            try:
                self._chat = chat_request(self._body)
            except TranslationError as exc:
                raise InvalidRequest(exc.message, param=exc.param) from None
        return self._chat

    def _call(self, deployment: Deployment, call: UpstreamCall) -> UpstreamCall:
        if serves_messages(deployment):
            return replace(
                call, operation=Operation.MESSAGES, body=self._body, headers=self._forwarded
            )
        chat = self.chat()
        if deployment.defaults:
            chat = with_defaults(chat, deployment.defaults)
        return replace(call, operation=Operation.CHAT, body=chat)

    # --- the router's attempts ----------------------------------------------------------

    async def send(self, deployment: Deployment, call: UpstreamCall) -> UpstreamResult:
        """A Message as Anthropic sent it (``raw`` set), or an OpenAI chat completion."""
        return await deployment.provider.send(self._call(deployment, call))

    async def open_stream(self, deployment: Deployment, call: UpstreamCall) -> ChunkStream:
        """The Messages stream's own events (``event`` set), or OpenAI chunks."""
        return await deployment.provider.open_stream(self._call(deployment, call))
