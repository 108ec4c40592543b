"""The ledger's settings, resolved once from the config file and the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.config.model import GatewayConfig

DEFAULT_BATCH_WRITE_S = 10.0
DEFAULT_BATCH_SIZE = 1000
DEFAULT_BUFFER_SIZE = 10_000
DEFAULT_POOL_LIMIT = 5
DEFAULT_REPORT_TIMEOUT_S = 10.0
DEFAULT_DATA_DIR = "gateway-data"
SQLITE_FILE = "spend.sqlite3"
SPILL_DIR = "spill"


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    database_url: str | None  # None: the embedded SQLite ledger
    redis_buffer: bool  # records go through a Redis stream first
    batch_write_s: float  # general_settings.proxy_batch_write_at
    batch_size: int
    buffer_size: int  # records held in memory before spilling to disk
    pool_limit: int  # connections per process: the writer's and the reports'
    report_timeout_s: float
    retention_s: float | None
    data_dir: Path

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / SQLITE_FILE

    @property
    def spill_dir(self) -> Path:
        return self.data_dir / SPILL_DIR

    @property
    def writer_connections(self) -> int:
        """The writer needs one connection at a time; a second covers partition upkeep."""
        return 2 if self.pool_limit >= 3 else 1

    @property
    def report_connections(self) -> int:
        return max(1, self.pool_limit - self.writer_connections)


def ledger_settings(
    config: GatewayConfig, env: Mapping[str, str], *, redis_configured: bool
) -> LedgerSettings:
    general = config.file.general_settings
    url = env.get("DATABASE_URL") or (
        general.database_url.get_secret_value() if general.database_url else None
    )
    return LedgerSettings(
        database_url=url or None,
        redis_buffer=general.use_redis_transaction_buffer and redis_configured,
        batch_write_s=general.proxy_batch_write_at or DEFAULT_BATCH_WRITE_S,
        batch_size=general.ledger_batch_size or DEFAULT_BATCH_SIZE,
        buffer_size=general.ledger_buffer_size or DEFAULT_BUFFER_SIZE,
        pool_limit=general.database_connection_pool_limit or DEFAULT_POOL_LIMIT,
        report_timeout_s=general.ledger_report_timeout or DEFAULT_REPORT_TIMEOUT_S,
        retention_s=general.maximum_spend_logs_retention_period,
        data_dir=Path(general.ledger_data_dir or DEFAULT_DATA_DIR),
    )
