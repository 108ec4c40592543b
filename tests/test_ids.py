"""Ids cut from a block of random bytes: unique, the right length, and never shared
by a forked worker with its parent."""

from __future__ import annotations

import multiprocessing

from gateway.api.ids import BLOCK_BYTES, random_hex


def _child_id(queue: multiprocessing.Queue[str]) -> None:
    queue.put(random_hex(16))


def test_ids_are_unique_across_block_refills() -> None:
    ids = [random_hex(24) for _ in range(3 * BLOCK_BYTES // 24)]
    assert all(len(value) == 48 for value in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_its_own_bytes() -> None:
    random_hex(16)  # the parent's block is filled
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_child_id, args=(queue,))
    child.start()
    from_child = queue.get(timeout=30)
    child.join(timeout=30)
    assert from_child != random_hex(16)
