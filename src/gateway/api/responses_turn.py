"""One Responses API request's attempts: passed through to some deployments, translated for others.

The router picks a deployment; this decides how that deployment is asked:

- **native**: ``openai/`` and ``azure/`` deployments, and any whose
  ``model_info.supported_endpoints`` lists ``/v1/responses``, get the body as it
  is on their own ``/responses`` (unknown fields and every tool type kept). A
  follow-up (``previous_response_id``) goes as it is to the deployment that
  issued the id (the router prefers it); any other gets the conversation
  rebuilt from the gateway's store instead of an id it has never seen.
- **translated**: every other deployment gets the OpenAI chat translation of the
  whole conversation, and its answer or stream is turned back into a Response.

A native upstream that answers 404 on ``/responses`` (an OpenAI-compatible
server without the Responses API) is remembered as chat-only, and this request
and later ones are translated for it instead: a model that exists never gets a
404 for want of an endpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.api.formats.responses_output import from_completion, new_id
from gateway.api.formats.responses_request import RESPONSES_NAMES, chat_request
from gateway.api.formats.responses_stream import ResponseEvents, TranslatedEventStream
from gateway.config.providers import speaks_anthropic
from gateway.errors import InvalidRequest, UpstreamBadRequest, UpstreamNotFound
from gateway.ledger.responses_store import ResponsesStore, StoredResponse
from gateway.providers.base import ChunkStream, Operation, UpstreamCall, UpstreamResult
from gateway.providers.translate import TranslationError
from gateway.router.groups import Deployment

log = logging.getLogger(__name__)

RESPONSES_ENDPOINTS = ("/v1/responses", "/responses")
NATIVE_PROVIDERS = frozenset({"openai", "azure"})


@dataclass(slots=True)
class ResponsesState:
    """What outlives one request: the store (None: nowhere to keep state) and what was learnt."""

    store: ResponsesStore | None
    drop_params: bool = False
    # Deployments whose upstream answered 404 on /responses: translated from then on.
    chat_only: set[str] = field(default_factory=set)


def serves_responses(deployment: Deployment) -> bool:
    """Whether the deployment's upstream has the Responses API itself."""
    endpoints = deployment.spec.info.supported_endpoints
    if endpoints:
        return any(endpoint in RESPONSES_ENDPOINTS for endpoint in endpoints)
    return deployment.spec.provider in NATIVE_PROVIDERS


class ResponsesTurn:
    def __init__(
        self,
        state: ResponsesState,
        body: dict[str, Any],
        items: list[dict[str, Any]],
        prior: StoredResponse | None,
    ) -> None:
        self._state = state
        self._body = body
        self._items = items
        self._prior = prior
        # The id of a translated answer (a native one keeps its upstream's).
        self.response_id = new_id("resp")
        self._chat: dict[tuple[bool, bool], dict[str, Any]] = {}
        self._rebuilt: dict[str, Any] | None = None

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation before this turn (from ``previous_response_id``)."""
        return list(self._prior.context) if self._prior is not None else []

    def native(self, deployment: Deployment) -> bool:
        return deployment.id not in self._state.chat_only and serves_responses(deployment)

    # --- the router's attempts ------------------------------------------------------------

    async def send(self, deployment: Deployment, call: UpstreamCall) -> UpstreamResult:
        if self.native(deployment):
            native = replace(
                call, operation=Operation.RESPONSES, body=self._native_body(deployment)
            )
            try:
                return await deployment.provider.send(native)
            except UpstreamNotFound:
                result = await self._send_translated(deployment, call)
                self._learn_chat_only(deployment)
                return result
        return await self._send_translated(deployment, call)

    async def open_stream(self, deployment: Deployment, call: UpstreamCall) -> ChunkStream:
        if self.native(deployment):
            native = replace(
                call, operation=Operation.RESPONSES, body=self._native_body(deployment)
            )
            try:
                return await deployment.provider.open_stream(native)
            except UpstreamNotFound:
                stream = await self._open_translated(deployment, call)
                self._learn_chat_only(deployment)
                return stream
        return await self._open_translated(deployment, call)

    async def _send_translated(self, deployment: Deployment, call: UpstreamCall) -> UpstreamResult:
        chat = replace(call, operation=Operation.CHAT, body=self._chat_body(deployment))
        try:
            result = await deployment.provider.send(chat)
        except UpstreamBadRequest as error:
            raise _named_for_responses(error) from None
        response = from_completion(result.body, self._body, self.response_id)
        return UpstreamResult(body=response, usage=result.usage)

    async def _open_translated(self, deployment: Deployment, call: UpstreamCall) -> ChunkStream:
        chat = replace(call, operation=Operation.CHAT, body=self._chat_body(deployment))
        try:
            stream = await deployment.provider.open_stream(chat)
        except UpstreamBadRequest as error:
            raise _named_for_responses(error) from None
        events = ResponseEvents(self._body, self.response_id, str(self._body["model"]))
        return TranslatedEventStream(stream, events)

    # --- bodies ----------------------------------------------------------------------------

    def _native_body(self, deployment: Deployment) -> dict[str, Any]:
        prior = self._prior
        if prior is None or prior.deployment_id == deployment.id:
            return self._body
        if self._rebuilt is None:
            # Another upstream never saw the id: send the conversation itself. Reasoning
            # items are left out, as they are valid only where they were made.
            body = dict(self._body)
            body.pop("previous_response_id", None)
            history = [item for item in prior.context if item.get("type") != "reasoning"]
            body["input"] = history + self._items
            self._rebuilt = body
        return self._rebuilt

    def _chat_body(self, deployment: Deployment) -> dict[str, Any]:
        own = deployment.spec.params.drop_params
        drop = own if own is not None else self._state.drop_params
        # Signed thinking blocks go back to Anthropic only: other upstreams refuse them.
        thinking = speaks_anthropic(deployment.spec.provider, deployment.spec.model)
        chat = self._chat.get((drop, thinking))
        if chat is None:
            try:
                chat = chat_request(
                    self._body, self.history + self._items, drop=drop, thinking=thinking
                )
            except TranslationError as exc:
                raise InvalidRequest(exc.message, param=exc.param) from None
            self._chat[(drop, thinking)] = chat
        return chat

    def _learn_chat_only(self, deployment: Deployment) -> None:
        if deployment.id not in self._state.chat_only:
            self._state.chat_only.add(deployment.id)
            log.warning(
                "deployment %s answered 404 on /responses: serving the Responses API there "
                "through chat completions from now on",
                deployment.id,
            )


def _named_for_responses(error: UpstreamBadRequest) -> UpstreamBadRequest:
    """A provider's refusal of a chat parameter, naming the Responses field it came from."""
    name = RESPONSES_NAMES.get(error.param or "")
    if name is None or name == error.param:
        return error
    message = error.message.replace(f"'{error.param}'", f"'{name}'")
    return type(error)(
        message,
        upstream_status=error.upstream_status,
        deployment=error.deployment,
        param=name,
        code=error.code,
        retry_after=error.retry_after,
    )
