"""Fixtures for tests against the mock Anthropic server: one per module, reset per test.

``anthropic_server`` runs for the whole module; ``claude`` is that server reset for the
test, and fails the test if any request broke the Messages API's rules. A module that
needs a differently made server (other betas, Vertex AI tokens) defines its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.mock_anthropic import MockAnthropic


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[MockAnthropic]:
    with MockAnthropic() as server:
        yield server


@pytest.fixture
def claude(anthropic_server: MockAnthropic) -> Iterator[MockAnthropic]:
    anthropic_server.reset()
    yield anthropic_server
    assert anthropic_server.violations == [], "requests broke the Messages API's rules"
