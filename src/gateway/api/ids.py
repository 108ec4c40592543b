"""Random ids for requests, responses and items, without a system call per id.

``os.urandom`` gives up the GIL around its system call; with the ledger's and
the stores' threads running, the event loop can then wait for the GIL again
on every request (py-spy showed 15-35 µs per request). Ids are cut from a
block of ``os.urandom`` bytes instead, refilled once the block is used up, so
they stay unguessable at one system call per few hundred ids.
"""

from __future__ import annotations

import os

BLOCK_BYTES = 8192


class _RandomBytes:
    __slots__ = ("_block", "_offset")

    def __init__(self) -> None:
        self._block = b""
        self._offset = 0

    def hex(self, size: int) -> str:
        start = self._offset
        if start + size > len(self._block):
            self._block, start = os.urandom(BLOCK_BYTES), 0
        self._offset = start + size
        return self._block[start : start + size].hex()

    def forget(self) -> None:
        self._block, self._offset = b"", 0


_random = _RandomBytes()
random_hex = _random.hex
# A forked worker must never cut ids from the block its parent had: it draws its own.
os.register_at_fork(after_in_child=_random.forget)
