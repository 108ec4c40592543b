"""The in-process cooldown store stays bounded: breakers with nothing left to say are
dropped once there are many (a wildcard makes one per requested name)."""

from __future__ import annotations

from gateway.router.cooldown import MAX_BREAKERS, Health, InProcessCooldowns


def test_spent_breakers_are_dropped_once_there_are_many() -> None:
    store = InProcessCooldowns()
    past = 1_000.0
    for index in range(MAX_BREAKERS):
        store.cool(f"junk-{index}", until=past + 1, reason="404")
    store.cool("live", until=5_000.0, reason="429")
    now = 4_000.0
    store.record_failure("new", "*", allowed=3, window=60.0, now=now)
    assert len(store._breakers) <= 3  # the spent ones went; "live" and "new" stayed
    assert store.health("live", now)[0] is Health.COOLING
    assert store.health("junk-1", now)[0] is Health.OK
