"""Fixtures: the mock upstream, gateways as real subprocesses, OpenAI SDK clients.

The mock upstream and the gateway pointed at it are started once per session
and reset per test (scripted replies, recorded requests, events). Tests that
need their own config start a gateway with ``start_gateway``. A gateway's log
written during a test is printed at teardown, so a failing test shows it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.clients import CLIENT_TIMEOUT_S, async_sdk_client, sdk_client
from support.configs import MASTER_KEY, QUIET_ROUTER, upstream_config
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import MockUpstream

# The spend ledger's fixtures (a Postgres database per session): ledger_database, ledger_db;
# the mock Anthropic server's: anthropic_server, claude; a browser (module-scoped).
pytest_plugins = ["support.ledger", "support.anthropic_fixtures", "support.browser"]


@pytest.fixture(scope="session")
def mock_upstream_server() -> Iterator[MockUpstream]:
    with MockUpstream() as server:
        yield server


@pytest.fixture
def upstream(mock_upstream_server: MockUpstream) -> Iterator[MockUpstream]:
    """The session's mock upstream, reset for this test."""
    mock_upstream_server.reset()
    yield mock_upstream_server
    mock_upstream_server.reset()


@pytest.fixture
def fleet() -> Iterator[UpstreamFleet]:
    """Mock upstreams created on demand by name, one per deployment; stopped after the test."""
    upstreams = UpstreamFleet()
    yield upstreams
    upstreams.stop()


@pytest.fixture(scope="session")
def shared_gateway(
    mock_upstream_server: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        tmp_path_factory.mktemp("gateway"),
        upstream_config(mock_upstream_server.base_url, router_settings=QUIET_ROUTER),
        master_key=MASTER_KEY,
    )
    with process:
        yield process


@pytest.fixture
def gateway(shared_gateway: GatewayProcess, upstream: MockUpstream) -> Iterator[GatewayProcess]:
    """A gateway (master key ``MASTER_KEY``) with ``upstream_config`` on the mock upstream.

    Shared by the whole session, with ``QUIET_ROUTER`` so one test's failures never
    cool a deployment down for the next.
    """
    yield from _watched(shared_gateway)


@pytest.fixture(scope="session")
def shared_embedded_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("embedded"), None) as process:
        yield process


@pytest.fixture
def embedded_gateway(shared_embedded_gateway: GatewayProcess) -> Iterator[GatewayProcess]:
    """``gateway serve`` with no ``--config`` and no master key: the embedded mock models."""
    yield from _watched(shared_embedded_gateway)


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[StartGateway]:
    """Start extra gateways: ``start_gateway(config, master_key=..., env=..., args=...)``.

    Each is stopped by PID at teardown, and its log printed (shown when the test fails).
    """
    started: list[GatewayProcess] = []

    def start(
        config: Mapping[str, Any] | None,
        *,
        master_key: str | None = MASTER_KEY,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        host: str | None = None,
    ) -> GatewayProcess:
        process = GatewayProcess(
            tmp_path,
            config,
            master_key=master_key,
            env=env,
            args=args,
            host=host,
            name=f"gateway{len(started)}",
        )
        started.append(process)
        return process.start()

    yield start
    for process in reversed(started):
        died = not process.stopped and not process.alive()
        process.stop()
        print(f"--- log of {process.name} (port {process.port}) ---\n{process.log_tail(100)}")
        assert not died, f"{process.name} exited during the test (code {process.returncode()})"


def _watched(process: GatewayProcess) -> Iterator[GatewayProcess]:
    mark = process.log_mark()
    yield process
    print(f"--- log of {process.name} during this test ---\n{process.log_since(mark)}")
    assert process.alive(), f"the gateway exited during the test (code {process.returncode()})"


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with sdk_client(gateway) as sdk:
        yield sdk


@pytest.fixture
async def async_client(gateway: GatewayProcess) -> AsyncIterator[openai.AsyncOpenAI]:
    async with async_sdk_client(gateway) as sdk:
        yield sdk


@pytest.fixture
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    """Raw httpx on the gateway's root URL (no ``/v1``), no credentials by default."""
    with httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as raw:
        yield raw
