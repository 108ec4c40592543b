"""Settings read from the environment (pydantic-settings).

Built once by the composition root; never at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where worker processes find the config file (set by ``gateway serve``).
CONFIG_PATH_ENV = "GATEWAY_CONFIG"
# What a serve runs: the data plane and the admin API ("all"), or one of them.
ROLE_ENV = "GATEWAY_ROLE"
Role = Literal["all", "data", "control"]


class EnvSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    gateway_master_key: SecretStr | None = None
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=4000, ge=1, le=65535)
    gateway_health_port: int = Field(default=4001, ge=1, le=65535)
    log_level: str = "INFO"
    gateway_role: Role = "all"
