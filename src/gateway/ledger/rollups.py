"""The daily roll-ups: one table per dimension, each kept by one set-based upsert per batch.

The SQL is written once here for both dialects. Each upsert aggregates the
batch's newly inserted rows (never the replays), groups by day and dimension,
and inserts in key order, so two writers touching the same roll-up rows take
their locks in the same order and wait for each other instead of deadlocking.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.ledger.store import GroupBy


@dataclass(frozen=True, slots=True)
class Rollup:
    table: str
    column: str  # the dimension's column in spend_log and in the roll-up

    @property
    def report_order(self) -> str:
        """Days in order; other dimensions by spend, largest first."""
        return "day" if self.column == "day" else f"sum(cost_usd) DESC, {self.column}"


ROLLUPS: dict[GroupBy, Rollup] = {
    GroupBy.KEY: Rollup("spend_daily_key", "key_hash"),
    GroupBy.TEAM: Rollup("spend_daily_team", "team_id"),
    GroupBy.MODEL: Rollup("spend_daily_model", "model_group"),
    GroupBy.PROVIDER: Rollup("spend_daily_provider", "provider"),
    # Every request is in exactly one provider row per day (no provider: ''), so the
    # provider roll-up summed per day is the day's total.
    GroupBy.DAY: Rollup("spend_daily_provider", "day"),
}

MEASURES = (
    "requests",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cost_usd",
    "unpriced_requests",
)


def upsert_sql(rollup: Rollup, *, source: str, day_expr: str, dialect: str) -> str:
    """``INSERT ... SELECT ... GROUP BY ... ORDER BY ... ON CONFLICT DO UPDATE``."""
    is_key = rollup.column == "key_hash"
    failed = (
        "count(*) FILTER (WHERE status >= 400)" if dialect == "postgres" else "sum(status >= 400)"
    )
    unpriced = (
        "count(*) FILTER (WHERE cost_usd IS NULL)"
        if dialect == "postgres"
        else "sum(cost_usd IS NULL)"
    )
    columns = ["day", rollup.column, *(["key_alias"] if is_key else []), *MEASURES]
    selected = [
        day_expr,
        f"coalesce({rollup.column}, '')",
        *(["max(key_alias)"] if is_key else []),
        "count(*)",
        failed,
        "sum(prompt_tokens)",
        "sum(completion_tokens)",
        "sum(cached_tokens)",
        "sum(cache_write_tokens)",
        "coalesce(sum(cost_usd), 0)",
        unpriced,
    ]
    updates = [f"{m} = {rollup.table}.{m} + excluded.{m}" for m in MEASURES]
    if is_key:
        updates.append(f"key_alias = coalesce(excluded.key_alias, {rollup.table}.key_alias)")
    return (
        f"INSERT INTO {rollup.table} ({', '.join(columns)}) "
        f"SELECT {', '.join(selected)} FROM {source} GROUP BY 1, 2 ORDER BY 1, 2 "
        f"ON CONFLICT (day, {rollup.column}) DO UPDATE SET {', '.join(updates)}"
    )


def all_upserts(*, source: str, day_expr: str, dialect: str) -> list[str]:
    """Every roll-up's upsert, always in the same table order (part of the lock order)."""
    return [
        upsert_sql(ROLLUPS[group], source=source, day_expr=day_expr, dialect=dialect)
        for group in (GroupBy.KEY, GroupBy.TEAM, GroupBy.MODEL, GroupBy.PROVIDER)
    ]
