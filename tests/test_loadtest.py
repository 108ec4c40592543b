"""``gateway loadtest``: its arithmetic on fixed records, its bodies, and real runs.

The arithmetic (nearest-rank percentiles, req/s, counts per model) is checked
on a fixed set of records. The end-to-end tests run ``gateway loadtest`` as a
subprocess against a real gateway subprocess whose primary group always fails
and falls back: the table must show the fallbacks fired and ``--json`` must
parse, with one record per request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.loadtest.bodies import BodyError, Template, build_body, generated, load_fixtures
from gateway.loadtest.records import RequestRecord
from gateway.loadtest.stats import (
    ALL_MODELS,
    elapsed,
    error_rate,
    percentile,
    summarize,
    summarize_by_model,
)
from support.configs import MASTER_KEY, deployment
from support.gateway_process import GatewayProcess, StartGateway, run_gateway
from support.mock_upstream import MockUpstream

CHAT_PATH = "/v1/chat/completions"

# --- the arithmetic, on fixed records ---------------------------------------------------


def _record(index: int, model: str, latency_ms: float, **fields: Any) -> RequestRecord:
    return RequestRecord(
        index=index,
        model=model,
        stream=False,
        started=fields.pop("started", index * 0.01),
        latency=latency_ms / 1000.0,
        status=fields.pop("status", 200),
        **fields,
    )


def fixed_records() -> list[RequestRecord]:
    """100 successes of ``a`` (1..100 ms), and 10 of ``b``: 6 ok, a 500, two 429s, a timeout."""
    records = [
        _record(
            i,
            "a",
            i + 1,
            fallbacks=["backup"] if i % 4 == 0 else [],
            cache="hit" if i < 3 else None,
        )
        for i in range(100)
    ]
    b_latencies = [5.0, 7.0, 9.0, 11.0, 13.0, 1000.0]
    records += [_record(100 + i, "b", ms) for i, ms in enumerate(b_latencies)]
    records += [
        _record(106, "b", 2.0, status=500, error_kind="500", error="upstream broke"),
        _record(107, "b", 1.0, status=429, error_kind="429", error="slow down"),
        _record(108, "b", 1.0, status=429, error_kind="429", error="slow down again"),
        _record(109, "b", 30000.0, status=0, error_kind="timeout", error="no answer"),
    ]
    return records


def test_nearest_rank_percentiles_are_measured_values() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # rank ceil(0.5 * 4) = 2
    assert percentile([1.0, 2.0, 3.0, 4.0], 51) == 3.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_one_model_over_fixed_records() -> None:
    records = [r for r in fixed_records() if r.model == "a"]

    summary = summarize(records, "a", seconds=4.0)

    assert summary.requests == 100
    assert summary.ok == 100
    assert summary.rps == pytest.approx(25.0)
    assert summary.p50 == pytest.approx(0.050)
    assert summary.p95 == pytest.approx(0.095)
    assert summary.p99 == pytest.approx(0.099)
    assert summary.max == pytest.approx(0.100)
    assert summary.errors == 0
    assert summary.errors_by_status == {}
    assert summary.fallbacks == 25
    assert summary.cache_hits == 3
    assert summary.error_rate == 0.0


def test_latency_percentiles_count_successes_only_and_errors_are_counted_by_kind() -> None:
    records = [r for r in fixed_records() if r.model == "b"]

    summary = summarize(records, "b", seconds=2.0)

    assert summary.requests == 10
    assert summary.ok == 6
    assert summary.rps == pytest.approx(5.0)
    # Successes: 5, 7, 9, 11, 13, 1000 ms; the 30 s timeout is not among them.
    assert summary.p50 == pytest.approx(0.009)
    assert summary.p95 == pytest.approx(1.0)
    assert summary.max == pytest.approx(1.0)
    assert summary.errors == 4
    assert summary.errors_by_status == {"429": 2, "500": 1, "timeout": 1}
    assert summary.first_errors == {
        "429": "slow down",
        "500": "upstream broke",
        "timeout": "no answer",
    }
    assert summary.rate_limited == 2
    assert summary.error_rate == pytest.approx(0.4)


def test_summaries_per_model_then_all_over_the_runs_span() -> None:
    records = fixed_records()

    summaries = summarize_by_model(records)

    assert [s.model for s in summaries] == ["a", "b", ALL_MODELS]
    span = elapsed(records)
    # The last start is record 109 at 1.09 s, and it lasted 30 s.
    assert span == pytest.approx(1.09 + 30.0)
    total = summaries[-1]
    assert total.requests == 110
    assert total.ok == 106
    assert total.rps == pytest.approx(110 / span)
    assert total.fallbacks == 25
    assert total.rate_limited == 2
    assert error_rate(records) == pytest.approx(4 / 110)
    assert summarize_by_model(records, seconds=10.0)[0].rps == pytest.approx(10.0)


def test_one_model_has_no_all_row_and_no_records_is_empty() -> None:
    only_a = [r for r in fixed_records() if r.model == "a"]
    assert [s.model for s in summarize_by_model(only_a)] == ["a"]
    assert summarize_by_model([]) == []
    assert elapsed([]) == 0.0
    assert error_rate([]) == 0.0


# --- the bodies --------------------------------------------------------------------------


def test_every_body_starts_its_first_user_message_with_a_fresh_nonce() -> None:
    template = Template(
        "fixture",
        {
            "model": "from-fixture",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "First question."},
                {"role": "user", "content": "Second question."},
            ],
        },
    )

    first = build_body(template, None, False, "[stamp-1] ")
    second = build_body(template, "other", True, "[stamp-2] ")

    assert first["model"] == "from-fixture"
    assert first["messages"][1]["content"] == "[stamp-1] First question."
    assert first["messages"][2]["content"] == "Second question."
    assert first["messages"][0]["content"] == "Be brief."
    assert second["model"] == "other"
    assert second["stream"] is True
    assert second["stream_options"] == {"include_usage": True}
    assert template.body["messages"][1]["content"] == "First question."  # untouched


def test_stamp_goes_before_the_parts_of_a_multipart_message() -> None:
    parts = [{"type": "text", "text": "Describe this."}]
    template = Template("f", {"messages": [{"role": "user", "content": parts}]})

    body = build_body(template, "m", False, "[stamp] ")

    assert body["messages"][0]["content"] == [{"type": "text", "text": "[stamp] "}, *parts]


def test_generated_prompt_has_about_the_asked_number_of_words() -> None:
    template = generated(prompt_tokens=300, max_tokens=16)
    text = template.body["messages"][1]["content"]
    assert 300 <= len(text.split()) <= 310
    assert template.body["max_tokens"] == 16


def test_fixtures_without_a_user_message_or_a_model_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"messages": [{"role": "system", "content": "x"}]}))
    with pytest.raises(BodyError, match="no user message"):
        load_fixtures(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps({"messages": [{"role": "user", "content": "x"}]}))
    [template] = load_fixtures(tmp_path)
    with pytest.raises(BodyError, match="no 'model'"):
        build_body(template, None, False, "")


# --- end to end: a real gateway whose primary group fails -----------------------------------

PRIMARY, BACKUP, STEADY, BROKEN = "primary", "backup", "steady", "broken"


def fallback_config(api_base: str) -> dict[str, Any]:
    """``primary`` always fails (500) and falls back to ``backup`` on the mock upstream."""
    return {
        "model_list": [
            {
                "model_name": PRIMARY,
                "litellm_params": {
                    "model": "mock/primary",
                    "mock_failure_rate": 1.0,
                    "mock_failure_status": 500,
                },
                "model_info": {"id": "primary-deployment"},
            },
            deployment(BACKUP, "openai/gpt-backup", "backup-deployment", api_base, "sk-backup"),
            {
                "model_name": STEADY,
                "litellm_params": {"model": "mock/steady"},
                "model_info": {"id": "steady-deployment"},
            },
            {
                "model_name": BROKEN,
                "litellm_params": {"model": "mock/broken", "mock_failure_rate": 1.0},
                # Never cooled down: every request reaches it and fails with its 500.
                "model_info": {"id": "broken-deployment", "allowed_fails": 1000},
            },
        ],
        "router_settings": {"fallbacks": [{PRIMARY: [BACKUP]}], "num_retries": 0},
    }


def table_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The table's rows by model, each a dict of column name -> cell."""
    lines = stdout.splitlines()
    header_index = next(i for i, line in enumerate(lines) if line.startswith("model "))
    header = lines[header_index]
    rule = lines[header_index + 1]
    # Columns are separated by two spaces; the rule line marks their extents.
    spans, start = [], 0
    for chunk in rule.split("  "):
        spans.append((start, start + len(chunk)))
        start += len(chunk) + 2
    names = [header[a:b].strip() for a, b in spans]
    rows = {}
    for line in lines[header_index + 2 :]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in spans]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def loadtest(gateway: GatewayProcess, *args: str) -> Any:
    return run_gateway(["loadtest", "--base-url", gateway.base_url, "--api-key", MASTER_KEY, *args])


@pytest.fixture
def fallback_gateway(start_gateway: StartGateway, upstream: MockUpstream) -> GatewayProcess:
    return start_gateway(fallback_config(upstream.base_url))


def test_loadtest_table_shows_the_fallbacks_fired_and_json_parses(
    fallback_gateway: GatewayProcess, upstream: MockUpstream, tmp_path: Path
) -> None:
    out = tmp_path / "records.json"

    done = loadtest(
        fallback_gateway,
        "--model", PRIMARY, "--model", STEADY,
        "--requests", "40", "--concurrency", "4", "--json", str(out),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows[PRIMARY]["requests"] == "20"
    assert rows[PRIMARY]["ok"] == "20"
    assert rows[PRIMARY]["fallbacks"] == "20"
    assert rows[PRIMARY]["errors"] == "0"
    assert rows[STEADY]["fallbacks"] == "0"
    assert rows["all"]["requests"] == "40"
    assert rows["all"]["fallbacks"] == "20"
    # Each primary request failed on the mock provider, then reached the upstream.
    assert upstream.calls(CHAT_PATH) == 20

    document = json.loads(out.read_text())
    records = document["records"]
    assert len(records) == 40
    assert sorted(r["index"] for r in records) == list(range(40))
    primary = [r for r in records if r["model"] == PRIMARY]
    assert len(primary) == 20
    assert all(r["fallbacks"] == [BACKUP] for r in primary)
    assert all(r["model_group"] == BACKUP and r["status"] == 200 for r in primary)
    assert all(r["request_id"] for r in records)
    assert all(r["latency"] > 0 for r in records)
    assert {s["model"]: s["fallbacks"] for s in document["summary"]} == {
        PRIMARY: 20,
        STEADY: 0,
        "all": 20,
    }


def test_streaming_loadtest_measures_time_to_first_byte_through_the_fallback(
    fallback_gateway: GatewayProcess, tmp_path: Path
) -> None:
    out = tmp_path / "stream.json"

    done = loadtest(
        fallback_gateway,
        "--model", PRIMARY, "--stream", "--requests", "12", "--concurrency", "3",
        "--json", str(out),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows[PRIMARY]["fallbacks"] == "12"
    assert rows[PRIMARY]["TTFB P50 ms"] != "-"
    records = json.loads(out.read_text())["records"]
    assert all(r["stream"] and r["ttfb"] is not None for r in records)
    assert all(0 < r["ttfb"] <= r["latency"] for r in records)
    # The mock upstream's usage reached the client through the relay.
    assert all(r["completion_tokens"] == 7 for r in records)


def test_the_upstream_sees_a_distinct_nonce_at_the_start_of_each_prompt(
    fallback_gateway: GatewayProcess, upstream: MockUpstream, tmp_path: Path
) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    for name, question in (("one", "What is a gateway?"), ("two", "What is a fallback?")):
        body = {"model": BACKUP, "messages": [{"role": "user", "content": question}]}
        (fixtures / f"{name}.json").write_text(json.dumps(body))

    done = loadtest(fallback_gateway, "--fixtures", str(fixtures), "--requests", "6")

    assert done.returncode == 0, done.stderr
    prompts = [r.body["messages"][0]["content"] for r in upstream.requests]
    assert len(prompts) == 6
    assert all(p.startswith("[loadtest ") for p in prompts)
    assert len({p.split("]", 1)[0] for p in prompts}) == 6  # every nonce differs
    assert sum(p.endswith("What is a gateway?") for p in prompts) == 3
    assert sum(p.endswith("What is a fallback?") for p in prompts) == 3


def test_exit_code_is_one_when_the_error_rate_passes_the_limit(
    fallback_gateway: GatewayProcess,
) -> None:
    args = ["--model", BROKEN, "--model", STEADY, "--requests", "10", "--concurrency", "2"]

    failing = loadtest(fallback_gateway, *args, "--max-error-rate", "0.4")
    tolerated = loadtest(fallback_gateway, *args, "--max-error-rate", "0.5")

    assert failing.returncode == 1, failing.stderr
    assert "50.0% of requests failed" in failing.stderr
    rows = table_rows(failing.stdout)
    assert rows[BROKEN]["errors"] == "5"
    assert rows[BROKEN]["ok"] == "0"
    assert f"{BROKEN}: 500 x5" in failing.stdout
    assert tolerated.returncode == 0, tolerated.stderr


def test_a_wrong_key_counts_as_401_errors(fallback_gateway: GatewayProcess) -> None:
    done = run_gateway(
        ["loadtest", "--base-url", fallback_gateway.v1_url, "--api-key", "sk-wrong",
         "--model", STEADY, "--requests", "3", "--max-error-rate", "0"]
    )  # fmt: skip

    assert done.returncode == 1
    assert f"{STEADY}: 401 x3" in done.stdout


def test_bad_options_exit_two_before_sending_anything(tmp_path: Path) -> None:
    no_model = run_gateway(["loadtest", "--requests", "1"])
    bad_concurrency = run_gateway(["loadtest", "--model", "m", "--concurrency", "0"])
    (tmp_path / "x.json").write_text("[1, 2]")
    bad_fixture = run_gateway(["loadtest", "--fixtures", str(tmp_path)])

    assert no_model.returncode == 2
    assert "--model" in no_model.stderr
    assert bad_concurrency.returncode == 2
    assert bad_fixture.returncode == 2
    assert "expected a JSON object" in bad_fixture.stderr
