"""The on-call scenario, scaled down: a primary failing half its calls, slowly, under load.

20 concurrent clients; ``xai/grok-4.3`` fails every other call after a delay;
its chain falls back to an Anthropic-named group. Every caller must succeed,
and the fallbacks must show in the response headers. The suite runs it for a
few seconds; ``SEED_SCENARIO_SECONDS=30 pytest tests/test_router_seed_scenario.py -s``
runs the full 30 s and prints the counts.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

from support.clients import async_sdk_client
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Fail, Reply

CLIENTS = 20
DURATION_S = float(os.environ.get("SEED_SCENARIO_SECONDS", "6"))
PRIMARY = "xai/grok-4.3"
FALLBACK = "anthropic/claude-sonnet-4-6"


async def test_twenty_clients_all_succeed_while_the_primary_fails_half_its_calls(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    grok = fleet["grok"]
    # Half the calls fail after a slow start; the rest answer slowly too.
    grok.script(
        *(
            Fail(500, "upstream overloaded", type="server_error", delay=0.3)
            if i % 2 == 0
            else Reply(content="grok", delay=0.2)
            for i in range(20_000)
        )
    )
    fleet["claude"].default = Reply(content="claude", delay=0.05)
    config = {
        "model_list": [
            fleet.deployment(PRIMARY, "grok"),
            fleet.deployment(FALLBACK, "claude"),
        ],
        "router_settings": {
            "num_retries": 2,
            "allowed_fails": 3,
            "cooldown_time": 2,
            "timeout": 30,
            "fallbacks": [{PRIMARY: [FALLBACK]}],
        },
    }
    gateway = start_gateway(config)
    outcomes: Counter[str] = Counter()
    served_by: Counter[str] = Counter()
    stop_at = time.monotonic() + DURATION_S

    async def client_loop() -> None:
        async with async_sdk_client(gateway) as client:
            while time.monotonic() < stop_at:
                try:
                    raw = await client.chat.completions.with_raw_response.create(
                        model=PRIMARY, messages=[{"role": "user", "content": "status?"}]
                    )
                except Exception as exc:  # counted, then asserted on below
                    outcomes[type(exc).__name__] += 1
                    continue
                outcomes["ok"] += 1
                served_by[raw.headers["x-gateway-model-group"]] += 1
                if raw.headers.get("x-gateway-fallbacks"):
                    outcomes["fell_back"] += 1

    await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))
    failures = {name: count for name, count in outcomes.items() if name not in ("ok", "fell_back")}
    assert failures == {}, f"callers saw errors: {failures} (outcomes {dict(outcomes)})"
    assert outcomes["ok"] >= CLIENTS
    # Both groups served: the primary's successes and the fallback's rescues.
    assert served_by[PRIMARY] > 0 and served_by[FALLBACK] > 0, served_by
    assert outcomes["fell_back"] == served_by[FALLBACK]
    print(f"outcomes={dict(outcomes)} served_by={dict(served_by)} grok_calls={grok.calls()}")
