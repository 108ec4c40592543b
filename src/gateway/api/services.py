"""What the data plane needs, built by the composition root and swapped whole on reload."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.api.auth import MasterKeyAuth
from gateway.cache.response_cache import ResponseCache
from gateway.ledger.prices import PriceBook
from gateway.ledger.service import SpendLedger
from gateway.router.router import Router
from gateway.state.shared import SharedState


@dataclass(frozen=True, slots=True)
class DataPlane:
    router: Router
    auth: MasterKeyAuth
    max_request_bytes: int
    request_timeout: float
    # /v1/models answers, serialized once per config.
    models_list: bytes
    models_by_id: dict[str, bytes]
    # The spend ledger outlives a config; the prices are resolved per config.
    ledger: SpendLedger
    prices: PriceBook
    # The response cache (None: litellm_settings.cache is off).
    cache: ResponseCache | None = None
    # What the fleet shares (None: a data plane built without it, as in some tests).
    shared: SharedState | None = None
