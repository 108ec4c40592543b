"""OpenTelemetry traces, black-box: a gateway process exports to a real OTLP/HTTP receiver.

Each request gives one server span and one client span per upstream attempt (retries,
fallbacks and hedges each their own), with the GenAI attributes and the gateway's own;
the client's trace is continued and every upstream is told its attempt's span in
``traceparent``. Prompt text is never exported unless asked for. A receiver that fails
slows nothing and is counted.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.clients import sdk_client
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess
from support.mock_upstream import Fail, Reply
from support.otlp_receiver import OtlpReceiver, Span

MASTER_KEY = "sk-tracing-master"
PROMPT = "a secret prompt the trace must not carry"
MESSAGES = [{"role": "user", "content": PROMPT}]
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def upstreams() -> Iterator[UpstreamFleet]:
    fleet = UpstreamFleet()
    yield fleet
    fleet.stop()


def _config(fleet: UpstreamFleet) -> dict[str, Any]:
    slow = fleet.deployment("hedged", "hedged-slow")
    slow["litellm_params"]["order"] = 1
    slow["model_info"]["hedge_after_ms"] = 150
    fast = fleet.deployment("hedged", "hedged-fast")
    fast["litellm_params"]["order"] = 2
    return {
        "model_list": [
            fleet.deployment("primary", "primary-a"),
            fleet.deployment("primary", "primary-b"),
            fleet.deployment("backup", "backup-a"),
            fleet.deployment("plain", "plain-a"),
            slow,
            fast,
        ],
        "router_settings": {
            "num_retries": 1,
            "fallbacks": [{"primary": ["backup"]}],
            "allowed_fails": 1000,
            "cooldown_time": 1,
        },
        "litellm_settings": {"callbacks": ["otel"]},
    }


def _start(
    workdir: Path, config: dict[str, Any], receiver: OtlpReceiver, **env: str
) -> GatewayProcess:
    return GatewayProcess(
        workdir,
        config,
        master_key=MASTER_KEY,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "gateway-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            **env,
        },
    ).start()


@pytest.fixture(scope="module")
def gateway(
    upstreams: UpstreamFleet, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    with _start(tmp_path_factory.mktemp("traced"), _config(upstreams), receiver) as process:
        yield process


@pytest.fixture
def fleet(upstreams: UpstreamFleet, receiver: OtlpReceiver) -> UpstreamFleet:
    for name in ("primary-a", "primary-b", "backup-a", "plain-a", "hedged-slow", "hedged-fast"):
        upstreams[name].reset()
    receiver.reset()
    return upstreams


def _traceparents(fleet: UpstreamFleet, name: str) -> list[tuple[str, str, str]]:
    found = []
    for request in fleet[name].requests:
        match = TRACEPARENT.match(request.headers.get("traceparent", ""))
        assert match is not None, f"{name} got no valid traceparent: {request.headers}"
        found.append((match.group(1), match.group(2), match.group(3)))
    return found


def _by_kind(spans: list[Span], kind: str) -> list[Span]:
    return sorted((s for s in spans if s.kind == kind), key=lambda s: s.start_ns)


def _assert_no_prompt(spans: list[Span]) -> None:
    for span in spans:
        assert "gen_ai.input.messages" not in span.attributes
        assert "gen_ai.output.messages" not in span.attributes
        assert PROMPT not in repr(span.attributes)
        assert PROMPT not in repr(span.events)
        assert MASTER_KEY not in repr(span.attributes)


def test_a_request_that_retried_and_fell_back_gives_one_server_span_and_a_client_span_per_attempt(
    gateway: GatewayProcess, fleet: UpstreamFleet, receiver: OtlpReceiver
) -> None:
    fleet["primary-a"].default = Fail(500, "boom", type="server_error")
    fleet["primary-b"].default = Fail(500, "boom", type="server_error")
    fleet["backup-a"].default = Reply(content="served by the backup", prompt_tokens=13)
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="primary",
            messages=MESSAGES,
            max_tokens=50,
            temperature=0.2,
            extra_headers={"traceparent": f"00-{trace_id}-{client_span}-01"},
        )
    assert raw.headers["x-gateway-attempts"] == "3"
    spans = receiver.wait_for_trace(trace_id, 4)
    assert receiver.refused == []
    servers, clients = _by_kind(spans, "server"), _by_kind(spans, "client")
    assert len(servers) == 1 and len(clients) == 3, spans

    server = servers[0]
    assert server.parent_span_id == client_span  # the client's trace, continued
    assert server.name == "chat primary"
    assert server.service_name == "gateway-under-test"
    attributes = server.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "primary"
    assert attributes["gen_ai.response.model"] == "backup-a"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 13
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gateway.model_group"] == "backup"
    assert attributes["gateway.deployment"] == "backup-a"
    assert attributes["gateway.fallback"] == ["backup"]
    assert attributes["gateway.cache"] == "miss"
    assert attributes["gateway.request_id"] == raw.headers["x-request-id"]
    assert attributes["http.response.status_code"] == 200
    assert server.status == "unset"
    names = [event.name for event in server.events]
    assert names == ["gateway.retry", "gateway.fallback"], names
    fallback = server.events[1].attributes
    assert fallback == {
        "gateway.from_group": "primary",
        "gateway.to_group": "backup",
        "error.type": "upstream_server_error",
    }

    # Each attempt: a child of the server span, its own span id, told to its upstream.
    sent = _traceparents(fleet, "primary-a") + _traceparents(fleet, "primary-b")
    sent += _traceparents(fleet, "backup-a")
    assert {tid for tid, _, _ in sent} == {trace_id}
    assert {flags for _, _, flags in sent} == {"01"}
    assert sorted(parent for _, parent, _ in sent) == sorted(c.span_id for c in clients)
    for index, span in enumerate(clients, start=1):
        assert span.parent_span_id == server.span_id
        assert span.attributes["gateway.attempt"] == index
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["gen_ai.provider.name"] == "openai"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == fleet[span.attributes["gateway.deployment"]].port
        assert server.start_ns <= span.start_ns <= span.end_ns <= server.end_ns
    failed, served = clients[:2], clients[2]
    assert {span.attributes["gateway.deployment"] for span in failed} == {"primary-a", "primary-b"}
    for span in failed:
        assert span.status == "error"
        assert span.attributes["error.type"] == "upstream_server_error"
        assert span.attributes["http.response.status_code"] == 500
        assert span.attributes["gateway.model_group"] == "primary"
        assert "gen_ai.usage.input_tokens" not in span.attributes
    assert served.status == "unset"
    assert served.attributes["gateway.deployment"] == "backup-a"
    assert served.attributes["gateway.model_group"] == "backup"
    assert served.attributes["gen_ai.request.model"] == "backup-a"
    assert served.attributes["gen_ai.usage.input_tokens"] == 13
    assert served.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    _assert_no_prompt(spans)


def test_a_stream_without_a_traceparent_starts_a_trace_whose_client_span_lasts_the_stream(
    gateway: GatewayProcess, fleet: UpstreamFleet, receiver: OtlpReceiver
) -> None:
    fleet["plain-a"].default = Reply(chunks=4, chunk_delay=0.05, completion_tokens=9)
    with sdk_client(gateway) as client:
        stream = client.chat.completions.create(model="plain", messages=MESSAGES, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    [(trace_id, parent, flags)] = _traceparents(fleet, "plain-a")
    assert flags == "01"
    spans = receiver.wait_for_trace(trace_id, 2)
    [server], [attempt] = _by_kind(spans, "server"), _by_kind(spans, "client")
    assert server.parent_span_id == ""  # a new trace: the gateway's span is its root
    assert attempt.span_id == parent and attempt.parent_span_id == server.span_id
    assert server.attributes["gateway.stream"] is True
    assert server.attributes["gen_ai.usage.output_tokens"] == 9
    assert server.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 9
    # The stream's chunks came 50 ms apart: the attempt's span covers them, not just the
    # wait for the first one.
    assert attempt.end_ns - attempt.start_ns >= 150_000_000
    assert attempt.end_ns <= server.end_ns
    _assert_no_prompt(spans)


def test_a_hedged_request_has_a_client_span_for_each_attempt_of_the_race(
    gateway: GatewayProcess, fleet: UpstreamFleet, receiver: OtlpReceiver
) -> None:
    fleet["hedged-slow"].default = Reply(delay=2.0)
    fleet["hedged-fast"].default = Reply(content="the hedge")
    with sdk_client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="hedged", messages=MESSAGES)
    assert raw.headers["x-gateway-hedge"] == "won"
    [(trace_id, _, _)] = _traceparents(fleet, "hedged-fast")
    spans = receiver.wait_for_trace(trace_id, 3)
    [server], clients = _by_kind(spans, "server"), _by_kind(spans, "client")
    assert [c.attributes["gateway.deployment"] for c in clients] == ["hedged-slow", "hedged-fast"]
    slow, fast = clients
    assert slow.attributes["error.type"] == "cancelled"  # cut short when the hedge won
    assert "gen_ai.usage.output_tokens" in fast.attributes
    assert [e.name for e in server.events] == ["gateway.hedge"]
    assert server.attributes["gateway.hedge"] == "won"
    assert _traceparents(fleet, "hedged-slow")[0][1] == slow.span_id


def test_a_client_that_did_not_sample_gets_no_spans_but_its_trace_id_reaches_the_upstream(
    gateway: GatewayProcess, fleet: UpstreamFleet, receiver: OtlpReceiver
) -> None:
    unsampled = secrets.token_hex(16)
    with sdk_client(gateway) as client:
        client.chat.completions.create(
            model="plain",
            messages=MESSAGES,
            extra_headers={"traceparent": f"00-{unsampled}-{secrets.token_hex(8)}-00"},
        )
        sampled = secrets.token_hex(16)
        client.chat.completions.create(
            model="plain",
            messages=MESSAGES,
            extra_headers={"traceparent": f"00-{sampled}-{secrets.token_hex(8)}-01"},
        )
    sent = _traceparents(fleet, "plain-a")
    assert [(tid, flags) for tid, _, flags in sent] == [(unsampled, "00"), (sampled, "01")]
    # The sampled request's spans arrived after the unsampled one's would have.
    assert len(receiver.wait_for_trace(sampled, 2)) == 2
    assert receiver.trace(unsampled) == []


def test_a_failing_collector_slows_no_request_and_is_counted(
    gateway: GatewayProcess, fleet: UpstreamFleet, receiver: OtlpReceiver
) -> None:
    receiver.failing = True
    with sdk_client(gateway) as client:
        for _ in range(5):
            reply = client.chat.completions.create(model="plain", messages=MESSAGES)
            assert reply.choices[0].message.content
    deadline = time.monotonic() + 20
    failed = 0.0
    while time.monotonic() < deadline and not failed:
        failed = _metric(gateway, 'gateway_trace_export_batches_total{result="failed"}')
        time.sleep(0.2)
    assert failed >= 1
    assert receiver.failed_posts >= 1
    receiver.failing = False
    assert _metric(gateway, 'gateway_trace_export_batches_total{result="exported"}') >= 1


def test_message_content_is_exported_only_when_asked_for_and_sampling_follows_the_ratio(
    upstreams: UpstreamFleet, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    receiver.reset()
    upstreams["plain-a"].reset()
    upstreams["plain-a"].default = Reply(content="the answer text")
    config = {
        "model_list": [upstreams.deployment("plain", "plain-a")],
        # No callbacks: the standard endpoint variable alone turns tracing on.
    }
    with (
        _start(
            tmp_path,
            config,
            receiver,
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
            OTEL_TRACES_SAMPLER="parentbased_traceidratio",
            OTEL_TRACES_SAMPLER_ARG="0",
        ) as gateway,
        sdk_client(gateway) as client,
    ):
        client.chat.completions.create(model="plain", messages=MESSAGES)  # ratio 0: not sampled
        stream = client.chat.completions.create(
            model="plain",
            messages=MESSAGES,
            stream=True,
            extra_headers={"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"},
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    sent = _traceparents(upstreams, "plain-a")
    assert [flags for _, _, flags in sent] == ["00", "01"]
    assert receiver.trace(sent[0][0]) == []
    spans = receiver.wait_for_trace(sent[1][0], 2, timeout=5)
    [server] = _by_kind(spans, "server")
    assert PROMPT in server.attributes["gen_ai.input.messages"]
    assert "the answer text" in server.attributes["gen_ai.output.messages"]


def _metric(gateway: GatewayProcess, series: str) -> float:
    text = httpx.get(f"{gateway.base_url}/metrics", headers=gateway.auth_headers(), timeout=5).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0
