"""Background deployment health checks (``general_settings.background_health_checks``).

Run by the health process, so each machine probes each deployment once per
``health_check_interval`` (default 300 s) whatever its number of workers. A
probe is the cheapest real call: a one-token chat completion, or a one-word
embedding for ``model_info.mode: embedding``. Results go to the run directory;
``GET /health`` on the data port (admin) returns them without a live call.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from gateway.config.model import DeploymentSpec, GatewayConfig
from gateway.errors import UpstreamError
from gateway.observability.status import RunDir, write_json
from gateway.providers.base import Operation, Provider, UpstreamCall
from gateway.providers.registry import build_provider
from gateway.providers.transport import UpstreamPool

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 300.0
PROBE_TIMEOUT_S = 30.0
MAX_PARALLEL_PROBES = 8
MAX_MESSAGE_CHARS = 300


def probe_call(spec: DeploymentSpec) -> UpstreamCall:
    body: dict[str, Any]
    if spec.info.mode == "embedding":
        operation, body = Operation.EMBEDDING, {"model": spec.model_group, "input": "ping"}
    else:
        operation = Operation.CHAT
        body = {
            "model": spec.model_group,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        }
    return UpstreamCall(
        operation=operation,
        body=body,
        stream=False,
        timeout=PROBE_TIMEOUT_S,
        stream_timeout=None,
        request_id=f"health-{uuid.uuid4().hex}",
    )


async def probe(spec: DeploymentSpec, provider: Provider) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {
        "model_group": spec.model_group,
        "deployment": spec.id,
        "provider": spec.provider,
        "model": spec.model,
    }
    try:
        await provider.send(probe_call(spec))
    except UpstreamError as error:
        result.update(
            healthy=False,
            error_type=error.label,
            status=error.upstream_status,
            message=error.message[:MAX_MESSAGE_CHARS],
        )
    else:
        result["healthy"] = True
    result["latency_ms"] = round((time.monotonic() - started) * 1000.0, 1)
    result["checked_at"] = time.time()
    return result


class DeploymentProber:
    def __init__(
        self, config: GatewayConfig, env: Mapping[str, str], run_dir: RunDir, interval: float
    ) -> None:
        self._config = config
        self._env = env
        self._run_dir = run_dir
        self._interval = interval

    async def run_forever(self) -> None:
        pool = UpstreamPool()
        providers = {
            spec.id: build_provider(spec, self._env, pool, drop_params=self._config.drop_params)
            for spec in self._config.deployments
        }
        try:
            while True:
                await self.check_all(providers)
                await asyncio.sleep(self._interval)
        finally:
            await pool.close()

    async def check_all(self, providers: Mapping[str, Provider]) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(MAX_PARALLEL_PROBES)

        async def bounded(spec: DeploymentSpec) -> dict[str, Any]:
            async with gate:
                return await probe(spec, providers[spec.id])

        results = list(await asyncio.gather(*(bounded(s) for s in self._config.deployments)))
        write_json(
            self._run_dir.health_checks_file,
            {"checked_at": time.time(), "interval": self._interval, "results": results},
        )
        unhealthy = [r["deployment"] for r in results if not r["healthy"]]
        if unhealthy:
            log.warning("deployment health checks failed", extra={"deployments": unhealthy})
        return results
