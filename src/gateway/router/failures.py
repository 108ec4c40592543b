"""What a failed attempt does to its deployment: counted, and cooled down when it must be.

The error's class decides: a cooldown at once (a failed half-open probe, an
auth error), a 429 cooling for its ``Retry-After`` when the group has other
deployments, or a failure counted against ``allowed_fails`` (per error class
with ``allowed_fails_policy``) within the cooldown window. ``TrackedStream``
reports a stream's end: tokens for the rpm/tpm windows, a failure after the
first chunk for the cooldowns.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from gateway.errors import UpstreamError
from gateway.providers.base import ChunkStream, StreamChunk, Usage
from gateway.router.classify import Cooldown, Verdict
from gateway.router.cooldown import CooldownStore
from gateway.router.groups import Deployment, ModelGroup
from gateway.router.observer import RouterObserver
from gateway.router.policy import RouterPolicy
from gateway.router.walk import Walk


class Failures:
    def __init__(
        self, policy: RouterPolicy, cooldowns: CooldownStore, observer: RouterObserver
    ) -> None:
        self._policy = policy
        self._cooldowns = cooldowns
        self._observer = observer

    def on_failure(
        self,
        group: ModelGroup,
        deployment: Deployment,
        error: UpstreamError,
        verdict: Verdict,
        *,
        probing: bool,
        walk: Walk | None,
    ) -> None:
        if walk is not None:
            walk.note(group.name, deployment.id, error)
            self._observer.attempt_failed(walk.request.request_id, group.name, deployment.id, error)
        if verdict.cooldown is Cooldown.NO:
            # The request was wrong (a 400, a context window), not the deployment: a probe
            # ends without a verdict, and the next request probes again.
            if probing:
                self._cooldowns.release_probe(deployment.id)
            return
        now = time.time()
        cooldown_time = self.cooldown_time(deployment)
        if probing:
            seconds = self.probe_cooldown(deployment, error, cooldown_time)
            in_row = self._cooldowns.failed_probes(deployment.id) + 1
            reason = "its half-open probe failed" + (f" ({in_row} in a row)" if in_row > 1 else "")
            self.cool(
                group,
                deployment,
                now + seconds,
                f"{reason}: {error.message}",
                probe_failed=True,
                walk=walk,
            )
            return
        if verdict.cooldown is Cooldown.AT_ONCE:
            reason = f"{error.label} from upstream"
            self.cool(
                group, deployment, now + cooldown_time, f"{reason}: {error.message}", walk=walk
            )
            return
        if verdict.cooldown is Cooldown.AT_ONCE_IF_GROUP_HAS_OTHERS and len(group.deployments) > 1:
            seconds = min(
                error.retry_after if error.retry_after is not None else cooldown_time,
                self._policy.max_retry_after_cooldown,
            )
            self.cool(
                group, deployment, now + seconds, f"rate limited (429): {error.message}", walk=walk
            )
            return
        error_class = verdict.policy_class
        if error_class in self._policy.allowed_fails_policy:
            allowed = self._policy.allowed_fails_policy[error_class]
            counter = error_class
        else:
            own = deployment.spec.info.allowed_fails
            allowed = own if own is not None else self._policy.allowed_fails
            counter = "*"
        window = max(cooldown_time, 1.0)
        if self._cooldowns.record_failure(deployment.id, counter, allowed, window, now):
            self.cool(
                group,
                deployment,
                now + cooldown_time,
                f"{allowed + 1} failures within {window:g}s, last: {error.label}",
                walk=walk,
            )

    def cool(
        self,
        group: ModelGroup,
        deployment: Deployment,
        until: float,
        reason: str,
        *,
        probe_failed: bool = False,
        walk: Walk | None = None,
    ) -> None:
        cooling = self._cooldowns.cool(
            deployment.id, until, reason[:300], probe_failed=probe_failed
        )
        self._observer.cooled_down(group.name, deployment.id, cooling)
        spans = walk.request.spans if walk is not None else None
        if spans is not None:
            spans.event(
                "gateway.cooldown",
                {
                    "gateway.deployment": deployment.id,
                    "gateway.cooling_until": cooling.until,
                    "gateway.reason": cooling.reason,
                },
            )

    def probe_cooldown(
        self, deployment: Deployment, error: UpstreamError, cooldown_time: float
    ) -> float:
        """The longer of ``cooldown_time`` and the upstream's Retry-After, doubled for each
        probe already failed in a row, up to ``max_cooldown_time``."""
        base = cooldown_time
        if error.retry_after is not None:
            base = max(base, min(error.retry_after, self._policy.max_retry_after_cooldown))
        doublings = min(self._cooldowns.failed_probes(deployment.id), 30)
        return min(base * float(2**doublings), max(base, self._policy.max_cooldown_time))

    def cooldown_time(self, deployment: Deployment) -> float:
        own = deployment.spec.info.cooldown_time
        return own if own is not None else self._policy.cooldown_time


class TrackedStream:
    """A stream that reports how it ended: ``finished(usage)``, or ``failed(error)``; and
    ``closed()`` exactly once, however it ended (done, failed, or dropped by the caller)."""

    def __init__(
        self,
        stream: ChunkStream,
        finished: Callable[[Usage | None], None],
        failed: Callable[[UpstreamError], None],
        closed: Callable[[], None],
    ) -> None:
        self._stream = stream
        self._finished = finished
        self._failed = failed
        self._closed: Callable[[], None] | None = closed

    def _close(self) -> None:
        closed, self._closed = self._closed, None
        if closed is not None:
            closed()

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        usage: Usage | None = None
        try:
            async for chunk in self._stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                yield chunk
        except UpstreamError as error:
            self._close()
            self._failed(error)
            raise
        finally:
            self._close()
        self._finished(usage)

    async def aclose(self) -> None:
        self._close()
        await self._stream.aclose()

    def __del__(self) -> None:
        # A stream dropped without being read or closed must not stay "in flight".
        self._close()
