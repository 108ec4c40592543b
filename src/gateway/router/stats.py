"""What the routing strategies read about each deployment: load, latency and usage.

Per deployment, this process keeps exactly: requests in flight, a moving
average of latency (whole answers, and time to first chunk for streams), and
requests and tokens in the current minute. With a fleet (``state.snapshots``),
each process publishes ``snapshot()`` a few times a second and ``absorb`` takes in
everyone else's, so a strategy reads the fleet's load: this process's own
figures (exact, current) plus the others' (a fraction of a second old).

Everything here is a few dict operations per request: no I/O, no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WINDOW_S = 60.0
# Past this many deployments, those idle are forgotten: a wildcard's concrete
# deployments are per requested name, and made-up names must not pile up.
MAX_TRACKED = 4096
# A process whose snapshot is older than this is gone: its load no longer counts.
STALE_SNAPSHOT_S = 5.0


@dataclass(slots=True)
class Ewma:
    value: float = 0.0
    at: float = 0.0  # wall-clock time of the newest sample (0: none)

    def add(self, sample: float, alpha: float, now: float) -> None:
        self.value = sample if self.at == 0.0 else alpha * sample + (1 - alpha) * self.value
        self.at = now


@dataclass(slots=True)
class _Local:
    in_flight: int = 0
    latency: Ewma = field(default_factory=Ewma)
    ttft: Ewma = field(default_factory=Ewma)
    minute: int = 0
    requests: int = 0
    tokens: int = 0
    explored_at: float = 0.0


@dataclass(slots=True)
class _Fleet:
    """The other processes' figures for one deployment, summed (latency: the freshest)."""

    in_flight: int = 0
    minute: int = 0
    requests: int = 0
    tokens: int = 0
    latency: Ewma = field(default_factory=Ewma)
    ttft: Ewma = field(default_factory=Ewma)


@dataclass(frozen=True, slots=True)
class Latency:
    seconds: float
    at: float


class RoutingStats:
    def __init__(self, alpha: float = 0.3) -> None:
        self._alpha = alpha
        self._shared = False
        self._local: dict[str, _Local] = {}
        self._fleet: dict[str, _Fleet] = {}

    def __len__(self) -> int:
        """How many deployments this process keeps figures for."""
        return len(self._local)

    def configure(self, alpha: float, *, shared_with_fleet: bool) -> None:
        """Settings from the config in effect (they may change on a reload)."""
        self._alpha = alpha
        self._shared = shared_with_fleet

    def _own(self, deployment_id: str) -> _Local:
        own = self._local.get(deployment_id)
        if own is None:
            if len(self._local) >= MAX_TRACKED:
                self._forget_idle()
            own = self._local[deployment_id] = _Local()
        return own

    def _forget_idle(self) -> None:
        for deployment_id in [d for d, own in self._local.items() if not own.in_flight]:
            del self._local[deployment_id]

    # --- what the router reports -------------------------------------------------

    def started(self, deployment_id: str, now: float) -> None:
        own = self._own(deployment_id)
        own.in_flight += 1
        minute = int(now // WINDOW_S)
        if own.minute != minute:
            own.minute, own.requests, own.tokens = minute, 0, 0
        own.requests += 1

    def ended(self, deployment_id: str) -> None:
        own = self._local.get(deployment_id)
        if own is not None and own.in_flight > 0:
            own.in_flight -= 1

    def measured(self, deployment_id: str, seconds: float, *, stream: bool, now: float) -> None:
        """An attempt's latency: the whole answer, or a stream's first chunk."""
        own = self._own(deployment_id)
        (own.ttft if stream else own.latency).add(seconds, self._alpha, now)

    def add_tokens(self, deployment_id: str, tokens: int, now: float) -> None:
        own = self._own(deployment_id)
        if own.minute == int(now // WINDOW_S):
            own.tokens += tokens

    # --- what the strategies read ----------------------------------------------------

    def in_flight(self, deployment_id: str) -> int:
        own = self._local.get(deployment_id)
        fleet = self._fleet.get(deployment_id)
        return (own.in_flight if own else 0) + (fleet.in_flight if fleet else 0)

    def own_in_flight(self) -> dict[str, int]:
        """Requests this process has in flight, per deployment (the board adds workers up)."""
        return {d: own.in_flight for d, own in self._local.items() if own.in_flight}

    def usage(self, deployment_id: str, now: float) -> tuple[int, int]:
        """Requests and tokens in the current minute, fleet-wide."""
        minute = int(now // WINDOW_S)
        requests = tokens = 0
        own = self._local.get(deployment_id)
        if own is not None and own.minute == minute:
            requests, tokens = own.requests, own.tokens
        fleet = self._fleet.get(deployment_id)
        if fleet is not None and fleet.minute == minute:
            requests += fleet.requests
            tokens += fleet.tokens
        return requests, tokens

    def latency(self, deployment_id: str, *, stream: bool) -> Latency | None:
        """The freshest estimate the fleet has (streams: time to first chunk, else the
        whole answer; either stands in for the other when it is all there is)."""
        own = self._local.get(deployment_id)
        fleet = self._fleet.get(deployment_id)
        best: Ewma | None = None
        for kind in (True, False) if stream else (False, True):
            for source in (own, fleet):
                if source is None:
                    continue
                ewma = source.ttft if kind else source.latency
                if ewma.at and (best is None or ewma.at > best.at):
                    best = ewma
            if best is not None:
                return Latency(best.value, best.at)
        return None

    def claim_exploration(self, deployment_id: str, now: float, every: float) -> bool:
        """True at most once per ``every`` seconds per deployment (in this process)."""
        own = self._own(deployment_id)
        if now - own.explored_at < every:
            return False
        own.explored_at = now
        return True

    # --- the fleet --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any] | None:
        """This process's figures, as JSON-ready lists (deployments with anything to say);
        None when no strategy in the config reads the fleet's load."""
        if not self._shared:
            return None
        return {
            deployment_id: [
                own.in_flight,
                own.minute,
                own.requests,
                own.tokens,
                own.latency.value,
                own.latency.at,
                own.ttft.value,
                own.ttft.at,
            ]
            for deployment_id, own in self._local.items()
            if own.in_flight or own.requests or own.latency.at or own.ttft.at
        }

    def absorb(self, others: list[dict[str, Any]]) -> None:
        """Replace the other processes' figures with these snapshots."""
        fleet: dict[str, _Fleet] = {}
        for snapshot in others:
            for deployment_id, figures in snapshot.items():
                try:
                    in_flight, minute, requests, tokens, lat, lat_at, ttft, ttft_at = figures
                    entry = fleet.get(deployment_id)
                    if entry is None:
                        entry = fleet[deployment_id] = _Fleet()
                    entry.in_flight += int(in_flight)
                    minute = int(minute)
                    if minute > entry.minute:
                        entry.minute, entry.requests, entry.tokens = minute, 0, 0
                    if minute == entry.minute:
                        entry.requests += int(requests)
                        entry.tokens += int(tokens)
                    if float(lat_at) > entry.latency.at:
                        entry.latency = Ewma(float(lat), float(lat_at))
                    if float(ttft_at) > entry.ttft.at:
                        entry.ttft = Ewma(float(ttft), float(ttft_at))
                except (TypeError, ValueError):
                    continue  # a snapshot from a different version: skip what is unreadable
        self._fleet = fleet
