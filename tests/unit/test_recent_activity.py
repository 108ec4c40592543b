"""The board's recent figures: per-deployment success and latency within the window, the
last failures with their outcome, and several workers' summaries added up."""

from __future__ import annotations

import orjson

from gateway.errors import UpstreamError
from gateway.ledger.record import SpendRecord
from gateway.observability.recent import (
    FAILURES_KEPT,
    WINDOW_S,
    DeploymentActivity,
    RecentActivity,
    merged,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def record(
    request_id: str, deployment: str | None, status: int, at: float, ms: float
) -> SpendRecord:
    return SpendRecord(
        request_id=request_id, started_at=at - ms / 1000, ended_at=at, call_type="chat",
        key_hash=None, key_alias=None, team_id=None, user_id=None, end_user=None,
        model_group="chat", deployment_id=deployment, provider="openai", model="m",
        api_base_host=None, prompt_tokens=1, completion_tokens=1, cached_tokens=0,
        cost_usd=0.0, latency_ms=ms, ttft_ms=None, status=status,
        error_type=None if status < 400 else "upstream_server_error", cache_hit=False,
        attempts=1, fallbacks=(), stream=False,
    )  # fmt: skip


def failed(activity: RecentActivity, request_id: str, deployment: str) -> None:
    error = UpstreamError("down", upstream_status=503, deployment=deployment)
    activity.attempt_failed(request_id, "chat", deployment, error)


def test_success_rate_and_percentiles_count_only_the_window() -> None:
    clock = Clock()
    activity = RecentActivity(clock)
    activity.finished(record("old", "a", 200, clock.now, 900.0))
    clock.now += WINDOW_S + 1  # the first one is out of the window now
    for i in range(1, 21):
        activity.finished(record(f"r{i}", "a", 200, clock.now, float(i * 10)))
    for i in range(5):
        failed(activity, f"f{i}", "a")
    summary = activity.summary({"a": 2})
    a = summary.deployments["a"]
    assert (a.served, a.failed) == (20, 5)
    assert a.success_rate == 0.8
    assert a.percentile(0.5) == 100.0  # nearest rank: the 10th of 20
    assert a.percentile(0.95) == 190.0  # the 19th
    assert summary.in_flight == {"a": 2}


def test_a_failed_attempt_learns_whether_the_request_was_rescued() -> None:
    clock = Clock()
    activity = RecentActivity(clock)
    failed(activity, "rescued", "a")
    failed(activity, "lost", "a")
    assert [f.rescued for f in activity.summary({}).failures] == [None, None]  # in flight
    activity.finished(record("rescued", "b", 200, clock.now, 5.0))
    activity.finished(record("lost", None, 502, clock.now, 5.0))
    lost, rescued = activity.summary({}).failures
    assert (rescued.rescued, rescued.served_by, rescued.status) == (True, "b", 200)
    assert (lost.rescued, lost.served_by, lost.status) == (False, None, 502)
    assert lost.upstream_status == 503


def test_failed_requests_without_an_attempt_are_listed_unless_the_caller_was_at_fault() -> None:
    clock = Clock()
    activity = RecentActivity(clock)
    activity.finished(record("no-healthy", None, 503, clock.now, 1.0))
    activity.finished(record("bad-input", None, 400, clock.now, 1.0))
    activity.finished(record("bad-key", None, 401, clock.now, 1.0))
    assert [f.request_id for f in activity.summary({}).failures] == ["no-healthy"]


def test_the_failure_list_keeps_the_newest() -> None:
    clock = Clock()
    activity = RecentActivity(clock)
    for i in range(FAILURES_KEPT + 10):
        clock.now += 1
        failed(activity, f"f{i}", "a")
    failures = activity.summary({}).failures
    assert len(failures) == FAILURES_KEPT
    assert failures[0].request_id == f"f{FAILURES_KEPT + 9}"


def test_workers_summaries_add_up() -> None:
    clock = Clock()
    mine, theirs = RecentActivity(clock), RecentActivity(clock)
    mine.finished(record("m1", "a", 200, clock.now, 10.0))
    failed(mine, "m2", "a")
    clock.now += 1
    theirs.finished(record("t1", "a", 200, clock.now, 30.0))
    theirs.finished(record("t2", "b", 200, clock.now, 50.0))
    failed(theirs, "t3", "c")
    # Through the status file's JSON, as the board reads it.
    written = orjson.loads(orjson.dumps(theirs.summary({"a": 3}).to_json()))
    total = merged(mine.summary({"a": 1}), [written])
    assert total.workers == 2
    assert total.deployments["a"] == DeploymentActivity(2, 1, (10.0, 30.0))
    assert total.deployments["b"].served == 1
    assert total.deployments["c"] == DeploymentActivity(0, 1, ())
    assert total.in_flight == {"a": 4}
    assert [f.request_id for f in total.failures] == ["t3", "m2"]  # newest first
