"""An OpenAI-compatible mock that can answer with tool calls (``/v1/chat/completions``).

It shares the Azure mock's strict chat schema and replies, minus Azure's
trappings: bearer auth, no ``api-version``, no content-filter annotations.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from support.mock_azure import MockAzure
from support.schema import Check, validate

API_KEY = "sk-openai-compatible-mock"


class MockOpenAI(MockAzure):
    name = "mock-openai"

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    def _problems(self, request: web.Request, recorded: Any, check: Check) -> list[str]:
        problems = []
        if recorded.headers.get("authorization") != f"Bearer {API_KEY}":
            problems.append("Authorization: Bearer <key> missing or wrong")
        problems.extend(validate(check, recorded.body))
        return problems
