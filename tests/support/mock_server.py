"""The frame of the provider mocks: a server thread that records, is scripted, and is strict.

A subclass adds its provider's routes and holds only its wire format. Every
request is recorded; a request that breaks the provider's documented schema is
answered with the provider's 400 *and* recorded in ``violations``, which the
fixtures turn into a test failure. Replies are scripted per call (``script``),
else ``default`` answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from support.server_thread import ServerThread

# The upper bound of anything a mock waits on, so no test can hang on a mock.
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON (or form fields), None when neither
    raw: bytes


class MockServer(ServerThread):
    """Subclasses implement ``add_routes`` and ``default_behaviour``."""

    name = "mock"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._default: Any = self.default_behaviour()
        self._requests: list[Recorded] = []
        self._violations: list[str] = []

    def default_behaviour(self) -> Any:
        raise NotImplementedError

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        self.violation(f"{request.method} {request.path}: no such endpoint")
        return web.json_response({"error": "not found"}, status=404)

    # --- scripting ---------------------------------------------------------------------

    def script(self, *behaviours: Any) -> None:
        """Queue behaviours for the next calls, in order (after any already queued)."""
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def default(self) -> Any:
        with self._lock:
            return self._default

    @default.setter
    def default(self, behaviour: Any) -> None:
        with self._lock:
            self._default = behaviour

    def set_default(self, behaviour: Any) -> None:
        self.default = behaviour

    def pending(self) -> int:
        """Scripted behaviours not used yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget requests, script and violations; the default goes back to its first value."""
        with self._lock:
            self._queue.clear()
            self._default = self.default_behaviour()
            self._requests.clear()
            self._violations.clear()

    # --- what happened -----------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, fragment: str) -> list[Recorded]:
        return [r for r in self.requests if fragment in r.path]

    def calls(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._requests if path is None or r.path == path)

    def last_request(self, path: str | None = None) -> Recorded:
        with self._lock:
            for request in reversed(self._requests):
                if path is None or request.path == path:
                    return request
        raise AssertionError(f"{self.name} received no request for {path or 'any path'}")

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def violation(self, problem: str) -> None:
        with self._lock:
            self._violations.append(problem)

    def violated(self, problems: list[str]) -> bool:
        """Record each of ``problems`` as a violation; True when there was any."""
        for problem in problems:
            self.violation(problem)
        return bool(problems)

    def wait_for(self, predicate: Callable[[list[Recorded]], bool], timeout: float = 10.0) -> bool:
        """Wait until the requests so far satisfy ``predicate``; False when the wait ran out."""
        deadline = time.monotonic() + min(timeout, MAX_WAIT_S)
        with self._changed:
            while not predicate(self._requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_for_calls(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` requests arrived; False when the wait ran out."""
        return self.wait_for(lambda requests: len(requests) >= count, timeout)

    async def record(self, request: web.Request, *, take: bool = True) -> tuple[Recorded, Any]:
        """Record ``request``; with ``take``, pop the behaviour that answers it."""
        raw = await request.read()
        body: Any = None
        if request.content_type == "application/x-www-form-urlencoded":
            body = dict((await request.post()).items())
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query.items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw=raw,
        )
        with self._changed:
            self._requests.append(recorded)
            behaviour = None
            if take:
                behaviour = self._queue.popleft() if self._queue else self._default
            self._changed.notify_all()
        return recorded, behaviour


async def write_sse(response: web.StreamResponse, data: Any, event: str | None = None) -> None:
    head = f"event: {event}\n".encode() if event else b""
    await response.write(head + b"data: " + json.dumps(data).encode() + b"\n\n")


async def wait_event(event: threading.Event | None) -> bool:
    """Wait (bounded) for a test to release a held reply; False when it never did."""
    if event is None:
        return True
    deadline = time.monotonic() + MAX_WAIT_S
    while not event.is_set():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def split(text: str, parts: int) -> list[str]:
    """``text`` in at most ``parts`` non-empty pieces that join back to it (streamed replies)."""
    if not text:
        return [""]
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces
