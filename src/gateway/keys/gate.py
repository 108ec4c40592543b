"""The data plane's door for virtual keys: who is calling, and may this request go ahead.

``authenticate`` answers 401 for a key that is unknown, expired or blocked
(or whose team is blocked). ``admit`` then checks, in order, for the key and
then its team: the model is allowed (403, naming the allowed ones), the
budget is not spent (400 ``budget_exceeded``, with the spend and the reset
time), the rpm/tpm windows have room and a parallel slot is free (429 with
``Retry-After``). What ``admit`` takes (a window's permit, parallel slots) is
held by the returned ``Admission``; ``settle`` releases it once the response
is over, and charges the cost and tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.errors import AuthenticationFailed, BudgetExceeded, PermissionDenied, RateLimited
from gateway.keys.budgets import BudgetBook
from gateway.keys.directory import Grant, KeyDirectory
from gateway.keys.durations import iso
from gateway.keys.model import MANAGEMENT, Limits
from gateway.keys.secret import hash_key
from gateway.keys.usage import RateWindows, Slots

# ``models`` entries that restrict nothing (LiteLLM's special names).
UNRESTRICTED = frozenset({"*", "all-proxy-models", "all-team-models"})
# Retry-After for a request refused because its parallel slots are taken.
PARALLEL_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class _Holder:
    """A key or its team, as the limits see it."""

    kind: str  # "key" or "team"
    label: str
    ident: str  # counter name: key:<hash> or team:<id>
    owner: tuple[str, str]  # how the ledger finds its spend
    models: tuple[str, ...]
    limits: Limits


@dataclass(slots=True)
class BudgetStanding:
    """A key's or team's spend against its budget, after a request was charged."""

    kind: str  # "key" or "team"
    label: str  # the alias (never the key)
    ident: str  # key:<hash> or team:<id>
    spent: float
    max_budget: float
    period_start: float
    period_end: float  # inf: the budget does not reset


SpendWatcher = Callable[[BudgetStanding], None]


@dataclass(slots=True)
class Admission:
    """What one admitted request holds until ``KeyGate.settle``."""

    holders: tuple[_Holder, ...]
    leases: list[tuple[str, str]] = field(default_factory=list)
    settled: bool = False


class KeyGate:
    def __init__(
        self,
        directory: KeyDirectory,
        *,
        windows: RateWindows,
        slots: Slots,
        budgets: BudgetBook,
    ) -> None:
        self.directory = directory
        self._windows = windows
        self._slots = slots
        self._budgets = budgets
        # Told a budget's standing after a charge once at least ``watch_spend_from`` of it
        # is used (alerts on crossings); None: no one.
        self.on_spend: SpendWatcher | None = None
        self.watch_spend_from = 0.0

    async def authenticate(self, presented: bytes) -> Grant:
        """The key's grant; ``AuthenticationFailed`` (401) when it may not call at all."""
        key_hash = hash_key(presented)
        grant = await self.directory.lookup(key_hash)
        if grant is None:
            raise AuthenticationFailed("Invalid API key.")
        key = grant.key
        if key.blocked:
            raise AuthenticationFailed(f"The API key {key.label!r} is blocked.")
        now = time.time()
        if key.expired(now):
            assert key.expires_at is not None
            raise AuthenticationFailed(
                f"The API key {key.label!r} expired at {iso(key.expires_at)}."
            )
        if grant.team is not None and grant.team.blocked:
            raise AuthenticationFailed(
                f"The API key's team {grant.team.label!r} is blocked.", code="team_blocked"
            )
        return grant

    async def admit(self, grant: Grant, names: Sequence[tuple[str, ...]]) -> Admission:
        """Check and take what one request needs. ``names``: the models it may reach, each as
        the names that mean it (as asked, and its group)."""
        key = grant.key
        if key.key_type == MANAGEMENT:
            raise PermissionDenied(
                f"The API key {key.label!r} is a management key: it calls the admin API, "
                "not models.",
                code="management_key",
            )
        holders = _holders(grant)
        for holder in holders:
            _check_models(holder, names)
        now = time.time()
        for holder in holders:
            await self._check_budget(holder, now)
        admission = Admission(holders)
        try:
            for holder in holders:
                await self._take(holder, admission, now)
        except BaseException:
            self._release(admission)
            raise
        return admission

    def permits(self, grant: Grant, equivalent: tuple[str, ...]) -> bool:
        """Whether the key and its team may use this model (what ``/v1/models`` lists)."""
        return all(allows(holder.models, equivalent) for holder in _holders(grant))

    def settle(self, admission: Admission, cost_usd: float | None, tokens: int) -> None:
        """The request is over: free its slots, charge its tokens and cost (once)."""
        if admission.settled:
            return
        admission.settled = True
        self._release(admission)
        now = time.time()
        for holder in admission.holders:
            limits = holder.limits
            if limits.tpm_limit is not None and tokens > 0:
                self._windows.add_tokens(holder.ident, tokens, now)
            if limits.max_budget is not None and cost_usd:
                self._budgets.charge(holder.ident, limits, cost_usd, now)
                if self.on_spend is not None:
                    self._tell_standing(holder, limits.max_budget)

    def _tell_standing(self, holder: _Holder, max_budget: float) -> None:
        assert self.on_spend is not None
        standing = self._budgets.standing(holder.ident)
        if standing is not None and standing[0] >= max_budget * self.watch_spend_from:
            spent, start, end = standing
            self.on_spend(
                BudgetStanding(
                    holder.kind, holder.label, holder.ident, spent, max_budget, start, end
                )
            )

    async def spent(self, grant: Grant) -> dict[str, float]:
        """Each holder's spend in its current period (for the admin API)."""
        now = time.time()
        return {
            h.kind: await self._budgets.spent(h.ident, h.owner, h.limits, now)
            for h in _holders(grant)
        }

    # --- the checks -----------------------------------------------------------------------

    async def _check_budget(self, holder: _Holder, now: float) -> None:
        limits = holder.limits
        if limits.max_budget is None:
            return
        spent = await self._budgets.spent(holder.ident, holder.owner, limits, now)
        if spent < limits.max_budget:
            return
        _start, reset = limits.period(now)
        when = (
            f"it resets at {iso(reset)} (budget_duration {limits.budget_duration})"
            if reset is not None
            else "it does not reset (no budget_duration): raise max_budget to continue"
        )
        raise BudgetExceeded(
            f"Budget exceeded for {holder.kind} {holder.label!r}: spent ${spent:.6f} of "
            f"max_budget ${limits.max_budget:.6f}; {when}.",
        )

    async def _take(self, holder: _Holder, admission: Admission, now: float) -> None:
        limits = holder.limits
        if limits.rpm_limit is not None or limits.tpm_limit is not None:
            wait = await self._windows.try_acquire(
                holder.ident, limits.rpm_limit, limits.tpm_limit, now
            )
            if wait is not None:
                named = [
                    f"{name} {value}"
                    for name, value in (
                        ("rpm_limit", limits.rpm_limit),
                        ("tpm_limit", limits.tpm_limit),
                    )
                    if value is not None
                ]
                raise RateLimited(
                    f"Rate limit exceeded for {holder.kind} {holder.label!r}: its per-minute "
                    f"limit is reached ({', '.join(named)}). Try again in {math.ceil(wait)}s.",
                    retry_after=wait,
                )
        if limits.max_parallel_requests is not None:
            lease = await self._slots.acquire(holder.ident, limits.max_parallel_requests, now)
            if lease is None:
                raise RateLimited(
                    f"Too many requests in flight for {holder.kind} {holder.label!r}: "
                    f"max_parallel_requests is {limits.max_parallel_requests}.",
                    code="max_parallel_requests",
                    retry_after=PARALLEL_RETRY_S,
                )
            admission.leases.append((holder.ident, lease))

    def _release(self, admission: Admission) -> None:
        leases, admission.leases = admission.leases, []
        for ident, lease in leases:
            self._slots.release(ident, lease)


def _holders(grant: Grant) -> tuple[_Holder, ...]:
    key = grant.key
    holders = [
        _Holder(
            "key",
            key.label,
            "key:" + key.key_hash,
            ("key_hash", key.key_hash),
            key.models,
            key.limits,
        )
    ]
    team = grant.team
    if team is not None:
        holders.append(
            _Holder(
                "team",
                team.label,
                "team:" + team.team_id,
                ("team_id", team.team_id),
                team.models,
                team.limits,
            )
        )
    return tuple(holders)


def _check_models(holder: _Holder, names: Sequence[tuple[str, ...]]) -> None:
    allowed = holder.models
    for equivalent in names:
        if not allows(allowed, equivalent):
            raise PermissionDenied(
                f"The {holder.kind} {holder.label!r} may not use the model {equivalent[0]!r}. "
                "Allowed models: " + ", ".join(allowed) + ".",
                param="model",
            )


def allows(allowed: tuple[str, ...], equivalent: tuple[str, ...]) -> bool:
    """Whether a ``models`` list lets a caller use a model known by any of ``equivalent``.

    LiteLLM's forms: an empty list, ``*``, ``all-proxy-models`` (everything) and, on a key,
    ``all-team-models`` (whatever its team allows: the team's own check decides);
    a trailing ``*`` is a prefix (``openai/*``).
    """
    if not allowed:
        return True
    for entry in allowed:
        if entry in UNRESTRICTED:
            return True
        if entry.endswith("*"):
            prefix = entry[:-1]
            if any(name.startswith(prefix) for name in equivalent):
                return True
        elif entry in equivalent:
            return True
    return False
