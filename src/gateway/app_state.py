"""What a gateway process holds from start-up to shutdown, built once (``compose``).

Frozen: nothing is swapped in place after start-up. A config reload replaces the
data plane inside ``data`` (``ConfigReloader``), never a part listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.api.asgi import DataPlaneApp
from gateway.api.control.app import ControlAPI
from gateway.cache.response_cache import ResponseCache
from gateway.config.settings import Role
from gateway.config_reload import ConfigReloader
from gateway.control.sync import ControlSync
from gateway.keys.gate import KeyGate
from gateway.ledger.service import SpendLedger
from gateway.observability.metrics import Metrics
from gateway.observability.recent import RecentActivity
from gateway.providers.transport import UpstreamPool
from gateway.state.shared import SharedState
from gateway.supervisor import Supervisor


@dataclass(frozen=True, slots=True)
class AppState:
    role: Role
    # The inference routes' app (its plane swapped whole on reload) and the control API.
    data: DataPlaneApp
    control: ControlAPI
    reloader: ConfigReloader
    sync: ControlSync
    # What outlives a reload.
    pool: UpstreamPool
    metrics: Metrics
    ledger: SpendLedger
    shared: SharedState
    gate: KeyGate
    cache: ResponseCache | None
    activity: RecentActivity
    # Every background loop of the process.
    tasks: Supervisor
