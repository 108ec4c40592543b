"""The cooldown circuit breaker, black-box: traffic stops, a probe tests, traffic returns."""

from __future__ import annotations

import time

import openai
import pytest

from support.clients import sdk_client
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway, run_gateway, write_config
from support.mock_upstream import Fail, Reply

MESSAGES = [{"role": "user", "content": "hello"}]


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def test_allowed_fails_plus_one_failures_stop_traffic_until_cooldown_then_one_probe(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    cooldown = 4.0
    fleet["flaky-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [fleet.deployment("flaky", "flaky-a"), fleet.deployment("spare", "spare-a")],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1,
            "cooldown_time": cooldown,
            "fallbacks": [{"flaky": ["spare"]}],
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        for _ in range(2):  # allowed_fails + 1 failures trip the breaker
            client.chat.completions.create(model="flaky", messages=MESSAGES)
        tripped_at = time.monotonic()
        assert fleet["flaky-a"].calls() == 2

        # While cooling, every request goes straight to the fallback.
        for _ in range(5):
            raw = client.chat.completions.with_raw_response.create(model="flaky", messages=MESSAGES)
            assert raw.headers["x-gateway-model-group"] == "spare"
        assert fleet["flaky-a"].calls() == 2, "a cooling deployment received traffic"

        # After the cooldown, exactly one request probes it; it fails and re-cools.
        _sleep_until(tripped_at + cooldown + 0.5)
        for _ in range(4):
            client.chat.completions.create(model="flaky", messages=MESSAGES)
        assert fleet["flaky-a"].calls() == 3

        # It recovers: the next probe succeeds and full traffic returns.
        fleet["flaky-a"].default = Reply(content="back")
        _sleep_until(time.monotonic() + cooldown + 0.5)
        for _ in range(4):
            raw = client.chat.completions.with_raw_response.create(model="flaky", messages=MESSAGES)
            assert raw.headers["x-gateway-model-group"] == "flaky"
        assert fleet["flaky-a"].calls() == 3 + 4
    assert "deployment recovered" in gateway.log_text()


def test_a_429_with_retry_after_keeps_traffic_off_that_deployment_for_that_long(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    retry_after = 7
    fleet["limited-a"].script(Fail(429, "Rate limit reached", retry_after=retry_after))
    config = {
        "model_list": [
            fleet.deployment("limited", "limited-a", order=1),
            fleet.deployment("limited", "limited-b", order=2),
        ],
        "router_settings": {"num_retries": 2, "cooldown_time": 1},
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="limited", messages=MESSAGES)
        limited_at = time.monotonic()
        # The 429 was retried at once on the other deployment: the caller saw success.
        assert raw.headers["x-gateway-deployment"] == "limited-b"
        # limited-a is the preferred tier, yet it gets nothing for Retry-After seconds.
        while time.monotonic() < limited_at + retry_after - 1.0:
            client.chat.completions.create(model="limited", messages=MESSAGES)
            time.sleep(0.2)
        assert fleet["limited-a"].calls() == 1
        _sleep_until(limited_at + retry_after + 0.5)
        raw = client.chat.completions.with_raw_response.create(model="limited", messages=MESSAGES)
    assert raw.headers["x-gateway-deployment"] == "limited-a"
    assert fleet["limited-a"].calls() == 2


def test_every_deployment_cooling_and_no_fallback_probes_the_soonest_then_answers_429(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["down-a"].default = Fail(503, "unavailable", type="server_error")
    fleet["down-b"].default = Fail(503, "unavailable", type="server_error")
    config = {
        "model_list": [fleet.deployment("down", "down-a"), fleet.deployment("down", "down-b")],
        "router_settings": {"num_retries": 1, "allowed_fails": 0, "cooldown_time": 30},
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="down", messages=MESSAGES)
        assert fleet.calls() == {"down-a": 1, "down-b": 1}  # both tripped (allowed_fails: 0)

        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="down", messages=MESSAGES)
    # One last-resort probe went to the deployment that recovers first, and failed.
    assert sum(fleet.calls().values()) == 3
    error = raised.value
    assert "down-a" in error.message and "down-b" in error.message
    assert "cooling down" in error.message
    assert int(error.response.headers["retry-after"]) >= 1


def test_401_cools_a_deployment_down_at_once(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["keyed-a"].default = Fail(401, "Incorrect API key provided.")
    config = {
        "model_list": [
            fleet.deployment("keyed", "keyed-a", order=1),
            fleet.deployment("keyed", "keyed-b", order=2),
        ],
        "router_settings": {"num_retries": 1, "allowed_fails": 100, "cooldown_time": 60},
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        for _ in range(5):
            client.chat.completions.create(model="keyed", messages=MESSAGES)
    assert fleet.calls() == {"keyed-a": 1, "keyed-b": 5}


def test_rpm_limit_skips_a_full_deployment_and_answers_429_when_the_group_is_full(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    config = {
        "model_list": [
            fleet.deployment("metered", "metered-a", rpm=2),
            fleet.deployment("metered", "metered-b", rpm=3),
        ],
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        for _ in range(5):
            client.chat.completions.create(model="metered", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="metered", messages=MESSAGES)
    assert fleet.calls() == {"metered-a": 2, "metered-b": 3}
    assert "rpm/tpm limit" in raised.value.message
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 60


def test_a_fallback_cycle_in_the_config_is_rejected_at_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = {
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "mock/a"}},
            {"model_name": "b", "litellm_params": {"model": "mock/b"}},
        ],
        "router_settings": {"fallbacks": [{"a": ["b"]}, {"b": ["a"]}]},
    }
    result = run_gateway(["check-config", str(write_config(tmp_path / "cycle.yaml", config))])
    assert result.returncode == 1
    assert "router_settings.fallbacks: fallback cycle a -> b -> a" in result.stderr


def test_a_probe_answered_with_a_400_ends_without_cooling_the_deployment_again(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    cooldown = 2.0
    fleet["probed-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [fleet.deployment("probed", "probed-a")],
        "router_settings": {"num_retries": 0, "allowed_fails": 0, "cooldown_time": cooldown},
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="probed", messages=MESSAGES)
        tripped_at = time.monotonic()
        _sleep_until(tripped_at + cooldown + 0.5)
        # The probe is a request the upstream refuses as malformed: that says nothing of
        # the deployment's health, so it is neither cooled again nor left stuck probing.
        fleet["probed-a"].script(Fail(400, "bad request"))
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="probed", messages=MESSAGES)
        fleet["probed-a"].default = Reply(content="healthy")
        answer = client.chat.completions.create(model="probed", messages=MESSAGES)
        assert answer.choices[0].message.content == "healthy"
