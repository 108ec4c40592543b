-- The embedded spend ledger (no DATABASE_URL): the same rows and roll-ups as the
-- Postgres schema, in SQLite. Times are epoch microseconds; days are UTC 'YYYY-MM-DD'.
-- Applied once; never edited after it lands (add a new numbered file instead).

CREATE TABLE spend_log (
    request_id        TEXT    NOT NULL,
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER NOT NULL,
    call_type         TEXT    NOT NULL,
    key_hash          TEXT,
    key_alias         TEXT,
    team_id           TEXT,
    user_id           TEXT,
    end_user          TEXT,
    model_group       TEXT    NOT NULL,
    deployment_id     TEXT,
    provider          TEXT,
    model             TEXT,
    api_base_host     TEXT,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_usd          REAL,
    latency_ms        REAL    NOT NULL,
    ttft_ms           REAL,
    status            INTEGER NOT NULL,
    error_type        TEXT,
    cache_hit         INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    fallbacks         TEXT    NOT NULL,  -- JSON array of model groups
    stream            INTEGER NOT NULL,
    PRIMARY KEY (started_at, request_id)
);

CREATE INDEX spend_log_key_idx ON spend_log (key_hash, started_at);
CREATE INDEX spend_log_team_idx ON spend_log (team_id, started_at);
CREATE INDEX spend_log_model_idx ON spend_log (model_group, started_at);

CREATE TABLE spend_daily_key (
    day               TEXT    NOT NULL,
    key_hash          TEXT    NOT NULL,
    key_alias         TEXT,
    requests          INTEGER NOT NULL,
    failed_requests   INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    unpriced_requests INTEGER NOT NULL,
    PRIMARY KEY (day, key_hash)
);

CREATE TABLE spend_daily_team (
    day               TEXT    NOT NULL,
    team_id           TEXT    NOT NULL,
    requests          INTEGER NOT NULL,
    failed_requests   INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    unpriced_requests INTEGER NOT NULL,
    PRIMARY KEY (day, team_id)
);

CREATE TABLE spend_daily_model (
    day               TEXT    NOT NULL,
    model_group       TEXT    NOT NULL,
    requests          INTEGER NOT NULL,
    failed_requests   INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    unpriced_requests INTEGER NOT NULL,
    PRIMARY KEY (day, model_group)
);

CREATE TABLE spend_daily_provider (
    day               TEXT    NOT NULL,
    provider          TEXT    NOT NULL,
    requests          INTEGER NOT NULL,
    failed_requests   INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    unpriced_requests INTEGER NOT NULL,
    PRIMARY KEY (day, provider)
);
