"""A TCP proxy that can hold back every reply: a Redis that still accepts connections
but answers only after ``delay`` seconds (the failure that hangs naive clients).

It runs an asyncio server in a background thread on 127.0.0.1. Requests pass
at once; each chunk of reply is released ``delay`` seconds after it arrived
(in order, per connection). ``delay`` may change at any time; it applies to
replies that arrive afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
READ_BYTES = 65536


class DelayProxy:
    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self.delay = 0.0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> DelayProxy:
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._server is None:
            raise RuntimeError("the delay proxy did not start")
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._target_port
            )
        except OSError:
            client_writer.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, delayed=False),
                self._pipe(upstream_reader, client_writer, delayed=True),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                with contextlib.suppress(Exception):
                    writer.close()
            self._tasks.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        while True:
            data = await reader.read(READ_BYTES)
            if not data:
                with contextlib.suppress(OSError):
                    writer.close()
                return
            if delayed and self.delay > 0:
                release_at = time.monotonic() + self.delay
                await asyncio.sleep(max(0.0, release_at - time.monotonic()))
            writer.write(data)
            await writer.drain()

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(STOP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        self._loop = None

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
