"""The frame of the provider mocks: a real aiohttp server in a thread, scripted and strict.

A subclass adds its provider's routes. Every request is recorded; a request
that breaks the provider's documented schema is answered with the provider's
400 *and* recorded in ``violations``, which the fixtures turn into a test
failure. Replies are scripted per call (``script``), else ``default`` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON (or form fields), None when neither
    raw: bytes


class MockServer:
    """Subclasses implement ``add_routes``; use as a context manager."""

    name = "mock"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._default: Any = None
        self._requests: list[Recorded] = []
        self._violations: list[str] = []
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- lifecycle ---------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def default_behaviour(self) -> Any:
        raise NotImplementedError

    def start(self) -> MockServer:
        self._default = self.default_behaviour()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"{self.name} did not start in time")
        if self._start_error is not None:
            raise RuntimeError(f"{self.name} failed to start") from self._start_error
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is not None and runner is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=STOP_TIMEOUT_S)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
            self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://127.0.0.1:{self._port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        self.violation(f"{request.method} {request.path}: no such endpoint")
        return web.json_response({"error": "not found"}, status=404)

    # --- scripting and recording -----------------------------------------------------

    def script(self, *behaviours: Any) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def set_default(self, behaviour: Any) -> None:
        with self._lock:
            self._default = behaviour

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._default = self.default_behaviour()
            self._requests.clear()
            self._violations.clear()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, fragment: str) -> list[Recorded]:
        return [r for r in self.requests if fragment in r.path]

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def violation(self, problem: str) -> None:
        with self._lock:
            self._violations.append(problem)

    def wait_for(self, predicate: Callable[[list[Recorded]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + min(timeout, MAX_WAIT_S)
        with self._changed:
            while not predicate(self._requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

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
