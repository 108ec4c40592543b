"""Control-plane test helpers: a clean control database, admin calls, gateways that share a fleet.

``control_db`` is the session's ledger database (migrated by ``gateway
migrate``) with every control-plane and spend table emptied for the test.
``Admin`` calls the admin API of one gateway with its master key (or another
key) and returns raw ``httpx`` responses, so tests see status and body as sent.
``wait_for`` polls a condition with a bound, for changes that travel between
processes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from support.gateway_process import GatewayProcess
from support.ledger import SPEND_TABLES, execute
from support.redis_server import SHARED_REDIS_URL

CONTROL_TABLES = (
    "gateway_keys",
    "gateway_teams",
    "gateway_models",
    "gateway_overrides",
    "gateway_audit",
    "gateway_control_versions",
)
ADMIN_TIMEOUT_S = 30.0
POLL_S = 0.01
# Changes published by one process must reach the others within this (the spec's bound).
PROPAGATION_BOUND_S = 1.0


@pytest.fixture
async def control_db(ledger_database: str) -> AsyncIterator[str]:
    """The session's database with the control-plane and spend tables emptied."""
    await execute(ledger_database, f"TRUNCATE {', '.join((*CONTROL_TABLES, *SPEND_TABLES))}")
    yield ledger_database


def fleet_env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a gateway on the shared Redis (and Postgres, when given)."""
    env = {"REDIS_URL": SHARED_REDIS_URL, **extra}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


class Admin:
    """The admin API of one gateway."""

    def __init__(self, gateway: GatewayProcess, key: str | None = None) -> None:
        self.gateway = gateway
        self._key = key if key is not None else gateway.master_key
        self._http = httpx.Client(base_url=gateway.base_url, timeout=ADMIN_TIMEOUT_S)

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self._http.get(path, params=params, headers=self.headers())

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self._http.post(path, json=body if body is not None else {}, headers=self.headers())

    def put(self, path: str, body: Any) -> httpx.Response:
        return self._http.put(path, json=body, headers=self.headers())

    def delete(self, path: str, body: Any = None) -> httpx.Response:
        return self._http.request(
            "DELETE", path, json=body if body is not None else None, headers=self.headers()
        )

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, (response.status_code, response.text)
        body = response.json()
        assert isinstance(body, dict)
        return body

    def generate_key(self, **fields: Any) -> dict[str, Any]:
        return self.ok(self.post("/key/generate", fields))


def wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> float:
    """Poll ``check`` until it is true; seconds it took. Fails naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(POLL_S)
    return time.monotonic() - started


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI-shaped error of a response (asserting the shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)
