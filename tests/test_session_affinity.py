"""Session affinity, black-box: real gateway processes on a real Redis, counting mocks."""

from __future__ import annotations

from collections import Counter

import anthropic
import httpx
import openai
import redis

from support.clients import CLIENT_TIMEOUT_S
from support.configs import MASTER_KEY
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import Fail, Reply
from support.redis_server import SHARED_REDIS_URL, PrivateRedis, private_redis, shared_redis_prefix

__all__ = ["private_redis", "shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]


def served_by(client: openai.OpenAI, session: str | None = None, **body: object) -> str:
    headers = {"x-session-id": session} if session is not None else {}
    raw = client.chat.completions.with_raw_response.create(
        model="g",
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_headers=headers,
        extra_body=body or None,
    )
    return raw.headers["x-gateway-deployment"]


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0)


def affinity_metric(gateway: GatewayProcess, outcome: str) -> float:
    text = httpx.get(f"{gateway.base_url}/metrics", timeout=CLIENT_TIMEOUT_S).text
    prefix = f'gateway_session_affinity_total{{model_group="g",outcome="{outcome}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def test_a_session_stays_on_one_deployment_across_two_processes_and_moves_when_it_fails(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    config = {
        "model_list": [fleet.deployment("g", name) for name in ("a", "b", "c")],
        "router_settings": {
            "session_affinity": {"ttl": 600},
            "num_retries": 2,
            "redis_key_prefix": shared_redis_prefix,
            "redis_timeout_ms": 500,
        },
    }
    env = {"REDIS_URL": SHARED_REDIS_URL}
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    clients = [sdk(gateway) for gateway in gateways]
    served = Counter(served_by(clients[i % 2], "agent-1") for i in range(50))
    assert len(served) == 1, served
    (pinned,) = served
    assert fleet[pinned].calls() == 50 and sum(fleet.calls().values()) == 50

    # Other sessions, named the other ways, each keep to one deployment; together they
    # use more than one.
    homes = set()
    for index in range(12):
        naming = [{"user": f"u{index}"}, {"prompt_cache_key": f"k{index}"}][index % 2]
        seen = {served_by(clients[(index + turn) % 2], None, **naming) for turn in range(3)}
        assert len(seen) == 1, (naming, seen)
        homes |= seen
    assert len(homes) > 1, homes

    # The pinned deployment starts failing: the session moves, on both processes, and
    # stays on its new deployment after the old one recovers.
    fleet[pinned].set_default(Fail(500))
    after = Counter(served_by(clients[i % 2], "agent-1") for i in range(30))
    assert len(after) == 1 and pinned not in after, after
    fleet[pinned].set_default(Reply())
    assert Counter(served_by(clients[i % 2], "agent-1") for i in range(10)) == Counter(
        {next(iter(after)): 10}
    )
    assert sum(affinity_metric(gateway, "moved") for gateway in gateways) >= 1
    assert sum(affinity_metric(gateway, "kept") for gateway in gateways) >= 80

    # The fleet's pins are named by a digest: no session id or user name is stored.
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        names = [key.decode() for key in client.scan_iter(f"{shared_redis_prefix}:pin:*")]
    assert len(names) >= 13
    assert not any("agent-1" in name or ":u1" in name for name in names), names
    for client in clients:
        client.close()


def test_claude_code_sessions_stick_on_the_messages_api_and_spread_without_affinity(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    model_list = [fleet.deployment("g", name) for name in ("a", "b", "c")]
    sticky = start_gateway(
        {"model_list": model_list, "router_settings": {"session_affinity": True}}
    )
    plain = start_gateway({"model_list": model_list})

    def deployments(gateway: GatewayProcess, session: str) -> Counter[str]:
        with anthropic.Anthropic(
            base_url=gateway.base_url,
            api_key=MASTER_KEY,
            max_retries=0,
            default_headers={"x-claude-code-session-id": session},
        ) as client:
            return Counter(
                client.messages.with_raw_response.create(
                    model="g", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
                ).headers["x-gateway-deployment"]
                for _ in range(20)
            )

    assert len(deployments(sticky, "cc-1")) == 1
    # The same traffic without session_affinity lands all over the group.
    assert len(deployments(plain, "cc-1")) > 1


def test_with_redis_stopped_sessions_still_stick_and_no_request_fails(
    fleet: UpstreamFleet, start_gateway: StartGateway, private_redis: PrivateRedis
) -> None:
    config = {
        "model_list": [fleet.deployment("g", name) for name in ("a", "b", "c")],
        "router_settings": {"session_affinity": True, "redis_key_prefix": "affinity-faults"},
    }
    env = {"REDIS_URL": private_redis.url}
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    clients = [sdk(gateway) for gateway in gateways]
    before = {served_by(clients[i % 2], "kept") for i in range(10)}
    assert len(before) == 1
    private_redis.stop()
    # Each process keeps the pins it holds, and pins new sessions on its own.
    during = [served_by(clients[i % 2], "kept") for i in range(20)]
    assert set(during) == before
    for client in clients:
        assert len({served_by(client, "new-while-down") for _ in range(10)}) == 1
        client.close()
