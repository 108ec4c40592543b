"""Retries and fallbacks, black-box: the gateway against mock upstreams that count calls."""

from __future__ import annotations

import httpx
import openai
import pytest

from support.clients import sdk_client
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Fail, Reply

MESSAGES = [{"role": "user", "content": "hello"}]
# High enough that cooldowns never interfere with what these tests count.
NO_COOLDOWN = {"allowed_fails": 1000, "cooldown_time": 1}


def test_upstream_400_reaches_the_client_after_exactly_one_call_and_no_fallback(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["primary-a"].default = Fail(400, "Invalid value for 'temperature'.", param="temperature")
    config = {
        "model_list": [
            fleet.deployment("primary", "primary-a"),
            fleet.deployment("primary", "primary-b"),
            fleet.deployment("backup", "backup-a"),
        ],
        "router_settings": {"num_retries": 3, "fallbacks": [{"primary": ["backup"]}]},
    }
    # Only primary-a fails; pin traffic to it with order so the one call lands there.
    config["model_list"][0]["litellm_params"]["order"] = 1
    config["model_list"][1]["litellm_params"]["order"] = 2
    gateway = start_gateway(config)
    with sdk_client(gateway) as client, pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="primary", messages=MESSAGES)
    assert raised.value.status_code == 400
    assert "Invalid value for 'temperature'." in raised.value.message
    assert fleet.calls() == {"primary-a": 1, "primary-b": 0, "backup-a": 0}


def test_500s_are_retried_num_retries_times_across_deployments_then_the_fallback_serves(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["primary-a"].default = Fail(500, "boom", type="server_error")
    fleet["primary-b"].default = Fail(500, "boom", type="server_error")
    fleet["backup-a"].default = Reply(content="served by the backup")
    config = {
        "model_list": [
            fleet.deployment("primary", "primary-a"),
            fleet.deployment("primary", "primary-b"),
            fleet.deployment("backup", "backup-a"),
        ],
        "router_settings": {
            "num_retries": 3,
            "fallbacks": [{"primary": ["backup"]}],
            **NO_COOLDOWN,
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="primary", messages=MESSAGES)
    completion = raw.parse()
    calls = fleet.calls()
    assert calls["primary-a"] + calls["primary-b"] == 1 + 3
    assert calls["primary-a"] >= 1 and calls["primary-b"] >= 1, calls
    assert calls["backup-a"] == 1
    assert completion.choices[0].message.content == "served by the backup"
    assert completion.model == "backup-a"
    assert raw.headers["x-gateway-model-group"] == "backup"
    assert raw.headers["x-gateway-deployment"] == "backup-a"
    assert raw.headers["x-gateway-fallbacks"] == "backup"
    assert raw.headers["x-gateway-attempts"] == "5"


def test_a_retry_moves_to_another_deployment_without_waiting_when_one_is_healthy(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["solo-a"].script(Fail(503, "overloaded", type="server_error"))
    config = {
        "model_list": [
            fleet.deployment("solo", "solo-a", order=1),
            fleet.deployment("solo", "solo-b", order=2),
        ],
        "router_settings": {"num_retries": 1, **NO_COOLDOWN},
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="solo", messages=MESSAGES)
    # The lower tier failed once; the retry went to the next tier inside the group.
    assert fleet.calls() == {"solo-a": 1, "solo-b": 1}
    assert raw.headers["x-gateway-deployment"] == "solo-b"
    assert "x-gateway-fallbacks" not in raw.headers


def test_retry_policy_per_error_class_limits_retries(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["policy-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [fleet.deployment("policy", "policy-a")],
        "router_settings": {
            "num_retries": 5,
            "retry_policy": {"InternalServerErrorRetries": 1},
            **NO_COOLDOWN,
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="policy", messages=MESSAGES)
    assert fleet.calls() == {"policy-a": 2}


def test_401_is_not_retried_on_the_same_deployment_but_falls_back(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["auth-a"].default = Fail(401, "Incorrect API key provided.", type="invalid_request_error")
    config = {
        "model_list": [fleet.deployment("auth", "auth-a"), fleet.deployment("other", "other-a")],
        "router_settings": {"num_retries": 3, "fallbacks": [{"auth": ["other"]}]},
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="auth", messages=MESSAGES)
    assert fleet.calls() == {"auth-a": 1, "other-a": 1}
    assert raw.headers["x-gateway-model-group"] == "other"


def test_the_body_fallbacks_win_over_the_config_and_disable_fallbacks_turns_them_off(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["main-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [
            fleet.deployment("main", "main-a"),
            fleet.deployment("configured", "configured-a"),
            fleet.deployment("requested", "requested-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "fallbacks": [{"main": ["configured"]}],
            **NO_COOLDOWN,
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="main", messages=MESSAGES, extra_body={"fallbacks": ["requested"]}
        )
        assert raw.headers["x-gateway-model-group"] == "requested"
        assert fleet.calls() == {"main-a": 1, "configured-a": 0, "requested-a": 1}
        # The upstream never sees the gateway's own fields.
        assert "fallbacks" not in fleet["requested-a"].last_request().body

        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(
                model="main", messages=MESSAGES, extra_body={"disable_fallbacks": True}
            )
        assert fleet.calls() == {"main-a": 2, "configured-a": 0, "requested-a": 1}

        raw = client.chat.completions.with_raw_response.create(model="main", messages=MESSAGES)
        assert raw.headers["x-gateway-model-group"] == "configured"


def test_unknown_group_in_body_fallbacks_is_a_400(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway({"model_list": [fleet.deployment("main", "main-a")]})
    with sdk_client(gateway) as client, pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="main", messages=MESSAGES, extra_body={"fallbacks": ["nope"]}
        )
    assert "fallbacks[0]" in raised.value.message and "nope" in raised.value.message
    assert fleet.calls() == {"main-a": 0}


def test_default_fallbacks_apply_only_to_groups_without_their_own_chain(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    for name in ("chained-a", "unchained-a"):
        fleet[name].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [
            fleet.deployment("chained", "chained-a"),
            fleet.deployment("unchained", "unchained-a"),
            fleet.deployment("own", "own-a"),
            fleet.deployment("catch-all", "catch-all-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "fallbacks": [{"chained": ["own"]}],
            "default_fallbacks": ["catch-all"],
            **NO_COOLDOWN,
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        chained = client.chat.completions.with_raw_response.create(
            model="chained", messages=MESSAGES
        )
        unchained = client.chat.completions.with_raw_response.create(
            model="unchained", messages=MESSAGES
        )
    assert chained.headers["x-gateway-model-group"] == "own"
    assert unchained.headers["x-gateway-model-group"] == "catch-all"
    assert fleet["catch-all-a"].calls() == 1


def test_chains_are_followed_hop_by_hop_never_visiting_a_group_twice(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    for name in ("one-a", "two-a", "three-a"):
        fleet[name].default = Fail(502, "bad gateway", type="server_error")
    config = {
        "model_list": [
            fleet.deployment("one", "one-a"),
            fleet.deployment("two", "two-a"),
            fleet.deployment("three", "three-a"),
            fleet.deployment("four", "four-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            # one -> two -> three -> (one again: skipped) -> four
            "fallbacks": [{"one": ["two"]}, {"two": ["three"]}, {"three": ["four"]}],
            **NO_COOLDOWN,
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="one", messages=MESSAGES)
    assert raw.headers["x-gateway-fallbacks"] == "two,three,four"
    assert fleet.calls() == {"one-a": 1, "two-a": 1, "three-a": 1, "four-a": 1}


def test_a_stream_that_fails_before_its_first_chunk_falls_back_into_one_clean_stream(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["stream-a"].default = Fail(500, "boom", type="server_error")
    fleet["stream-backup"].default = Reply(content="one two three four", chunks=4)
    config = {
        "model_list": [
            fleet.deployment("stream", "stream-a"),
            fleet.deployment("stream-fallback", "stream-backup"),
        ],
        "router_settings": {
            "num_retries": 1,
            "fallbacks": [{"stream": ["stream-fallback"]}],
            **NO_COOLDOWN,
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        stream = client.chat.completions.create(model="stream", messages=MESSAGES, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "one two three four"
    assert fleet.calls() == {"stream-a": 2, "stream-backup": 1}


def test_a_context_window_error_uses_context_window_fallbacks_only(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["small-a"].default = Fail(
        400,
        "This model's maximum context length is 8192 tokens.",
        code="context_length_exceeded",
    )
    config = {
        "model_list": [
            fleet.deployment("small", "small-a"),
            fleet.deployment("large", "large-a"),
            fleet.deployment("general", "general-a"),
        ],
        "router_settings": {
            "num_retries": 2,
            "fallbacks": [{"small": ["general"]}],
            "context_window_fallbacks": [{"small": ["large"]}],
        },
    }
    gateway = start_gateway(config)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="small", messages=MESSAGES)
    assert raw.headers["x-gateway-model-group"] == "large"
    assert fleet.calls() == {"small-a": 1, "large-a": 1, "general-a": 0}


def test_pre_call_checks_skip_a_deployment_whose_window_is_clearly_too_small(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    tiny = fleet.deployment("ctx", "tiny-a")
    tiny["model_info"]["max_input_tokens"] = 10
    roomy = fleet.deployment("ctx", "roomy-a")
    roomy["model_info"]["max_input_tokens"] = 100_000
    config = {
        "model_list": [tiny, roomy],
        "router_settings": {"enable_pre_call_checks": True},
    }
    gateway = start_gateway(config)
    long_prompt = [{"role": "user", "content": "word " * 400}]
    with sdk_client(gateway) as client:
        for _ in range(10):
            client.chat.completions.create(model="ctx", messages=long_prompt)
    assert fleet.calls() == {"tiny-a": 0, "roomy-a": 10}


def test_the_gateway_fields_are_never_forwarded_upstream(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway({"model_list": [fleet.deployment("plain", "plain-a")]})
    with httpx.Client(base_url=gateway.base_url, headers=gateway.auth_headers()) as http:
        response = http.post(
            "/v1/chat/completions",
            json={
                "model": "plain",
                "messages": MESSAGES,
                "fallbacks": [],
                "disable_fallbacks": False,
                "timeout": 30,
                "metadata": {"tags": ["a"]},
                "num_retries": 1,
                "seed": 7,
            },
        )
    assert response.status_code == 200, response.text
    forwarded = fleet["plain-a"].last_request().body
    for field in ("fallbacks", "disable_fallbacks", "timeout", "metadata", "num_retries"):
        assert field not in forwarded
    assert forwarded["seed"] == 7
