"""The real ``Router`` in process, on fake providers: routing decisions in milliseconds.

Each fake deployment answers after a scripted delay, or raises the scripted
errors in turn, and counts what it was sent. No network, no gateway process:
what is under test is the router's choice, not the wire.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gateway.config.loader import build_config
from gateway.errors import UpstreamError
from gateway.providers.base import (
    ChunkStream,
    Operation,
    StreamChunk,
    UpstreamCall,
    UpstreamResult,
    Usage,
)
from gateway.router.cooldown import InProcessCooldowns
from gateway.router.groups import ModelGroups
from gateway.router.request import RouteRequest
from gateway.router.router import Router
from gateway.state.pins import LocalPins
from gateway.state.windows import MinuteWindows


@dataclass
class FakeProvider:
    deployment: str
    delay: float = 0.0
    errors: deque[UpstreamError] = field(default_factory=deque)
    calls: int = 0
    cancelled: int = 0
    in_flight: int = 0
    name: str = "openai"
    api_base: str | None = "http://fake"

    def fail_next(self, *errors: UpstreamError) -> None:
        self.errors.extend(errors)

    async def _answer(self) -> None:
        self.calls += 1
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.errors:
                raise self.errors.popleft()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        await self._answer()
        body = {"id": f"chatcmpl-{self.deployment}", "model": self.deployment, "choices": []}
        return UpstreamResult(body=body, usage=Usage(prompt_tokens=10, completion_tokens=5))

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        await self._answer()
        return _Chunks([StreamChunk(data=b"{}", usage=Usage(10, 5))])


class _Chunks:
    def __init__(self, chunks: list[StreamChunk]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        return None


def deployment(group: str, name: str, **params: Any) -> dict[str, Any]:
    info = params.pop("model_info", {})
    return {
        "model_name": group,
        "litellm_params": {"model": f"openai/{name}", "api_key": "sk-fake", **params},
        "model_info": {"id": name, **info},
    }


class RouterUnderTest:
    def __init__(
        self, model_list: list[dict[str, Any]], seed: int = 7, **router_settings: Any
    ) -> None:
        data = {"model_list": model_list, "router_settings": router_settings}
        self.config = build_config(data, {}, "unit").config
        self.providers = {spec.id: FakeProvider(spec.id) for spec in self.config.deployments}
        self.cooldowns = InProcessCooldowns()
        self.pins = LocalPins()
        self.router = Router(
            self.config,
            ModelGroups(self.config, self.providers),
            cooldowns=self.cooldowns,
            limits=MinuteWindows(),
            rng=random.Random(seed),
            price_of=lambda spec: spec.info.input_cost_per_token,
            pins=self.pins,
        )
        self._serial = 0

    def __getitem__(self, deployment_id: str) -> FakeProvider:
        return self.providers[deployment_id]

    def request(self, model: str, *, stream: bool = False, **options: Any) -> RouteRequest:
        self._serial += 1
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return RouteRequest(
            operation=Operation.CHAT,
            model=model,
            body=body,
            stream=stream,
            request_id=f"req-{self._serial}",
            deadline=time.monotonic() + options.pop("timeout", 30.0),
            timeout=30.0,
            **options,
        )

    async def send(self, model: str, **options: Any) -> str:
        """One request; the deployment that served it."""
        _, trace = await self.router.send(self.request(model, **options))
        return trace.deployment_id

    def calls(self) -> dict[str, int]:
        return {name: provider.calls for name, provider in self.providers.items()}
