"""The router: from a model group to an answer from one of its deployments."""

from __future__ import annotations

import random
import time

from gateway.config.model import GatewayConfig
from gateway.errors import DeadlineExceeded
from gateway.providers.base import ChunkStream, UpstreamCall, UpstreamResult
from gateway.router.groups import Deployment, ModelGroup, ModelGroups
from gateway.router.request import RouteRequest, RouteTrace
from gateway.router.shuffle import pick


class Router:
    def __init__(self, config: GatewayConfig, groups: ModelGroups) -> None:
        self._config = config
        self._groups = groups
        self._rng = random.Random()

    @property
    def groups(self) -> ModelGroups:
        return self._groups

    def resolve(self, model: str) -> ModelGroup:
        return self._groups.resolve(model)

    async def send(self, request: RouteRequest) -> tuple[UpstreamResult, RouteTrace]:
        group = self._groups.resolve(request.model)
        deployment = pick(group.deployments, self._rng)
        trace = self._trace(group, deployment)
        call = self._call(request, deployment)
        started = time.monotonic()
        try:
            result = await deployment.provider.send(call)
        finally:
            trace.upstream_seconds = time.monotonic() - started
        return result, trace

    async def open_stream(self, request: RouteRequest) -> tuple[ChunkStream, RouteTrace]:
        group = self._groups.resolve(request.model)
        deployment = pick(group.deployments, self._rng)
        trace = self._trace(group, deployment)
        call = self._call(request, deployment)
        started = time.monotonic()
        try:
            stream = await deployment.provider.open_stream(call)
        finally:
            trace.upstream_seconds = time.monotonic() - started
        return stream, trace

    def _trace(self, group: ModelGroup, deployment: Deployment) -> RouteTrace:
        return RouteTrace(
            model_group=group.name,
            deployment_id=deployment.id,
            provider=deployment.provider.name,
            api_base=deployment.provider.api_base,
            attempts=1,
        )

    def _call(self, request: RouteRequest, deployment: Deployment) -> UpstreamCall:
        remaining = request.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the request timed out before an upstream could be tried")
        params = deployment.spec.params
        timeout = min(remaining, params.timeout) if params.timeout else remaining
        return UpstreamCall(
            operation=request.operation,
            body=request.body,
            stream=request.stream,
            timeout=timeout,
            stream_timeout=params.stream_timeout or self._config.stream_timeout,
            request_id=request.request_id,
        )
