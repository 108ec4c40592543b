"""Several mock upstreams at once, one per deployment, so calls can be counted per deployment."""

from __future__ import annotations

from typing import Any

from support.configs import deployment
from support.mock_upstream import MockUpstream


class UpstreamFleet:
    """Named mock upstreams, started on first use and stopped together."""

    def __init__(self) -> None:
        self._servers: dict[str, MockUpstream] = {}

    def __getitem__(self, name: str) -> MockUpstream:
        server = self._servers.get(name)
        if server is None:
            server = self._servers[name] = MockUpstream().start()
        return server

    def deployment(self, group: str, name: str, **params: Any) -> dict[str, Any]:
        """A deployment of ``group`` whose upstream is the mock called ``name`` (its id too)."""
        return deployment(
            group, f"openai/{name}", name, self[name].base_url, f"sk-{name}", **params
        )

    def calls(self) -> dict[str, int]:
        return {name: server.calls() for name, server in self._servers.items()}

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
