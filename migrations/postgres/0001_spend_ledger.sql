-- The spend ledger: one row per request, partitioned by UTC day, and daily roll-ups
-- kept by the writer in the same transaction as the rows they sum.
-- Applied once; never edited after it lands (add a new numbered file instead).

CREATE TABLE spend_log (
    request_id        text             NOT NULL,
    started_at        timestamptz      NOT NULL,
    ended_at          timestamptz      NOT NULL,
    call_type         text             NOT NULL,
    key_hash          text,
    key_alias         text,
    team_id           text,
    user_id           text,
    end_user          text,
    model_group       text             NOT NULL,
    deployment_id     text,
    provider          text,
    model             text,
    api_base_host     text,
    prompt_tokens     bigint           NOT NULL,
    completion_tokens bigint           NOT NULL,
    cached_tokens     bigint           NOT NULL,
    cost_usd          numeric,  -- NULL: the price was unknown
    latency_ms        double precision NOT NULL,
    ttft_ms           double precision,
    status            smallint         NOT NULL,
    error_type        text,
    cache_hit         boolean          NOT NULL,
    attempts          smallint         NOT NULL,
    fallbacks         text[]           NOT NULL,
    stream            boolean          NOT NULL,
    -- A replayed record has the same (started_at, request_id): it is skipped, never
    -- counted twice. started_at leads so the key also serves time-ordered pages.
    PRIMARY KEY (started_at, request_id)
) PARTITION BY RANGE (started_at);

CREATE INDEX spend_log_key_idx ON spend_log (key_hash, started_at);
CREATE INDEX spend_log_team_idx ON spend_log (team_id, started_at);
CREATE INDEX spend_log_model_idx ON spend_log (model_group, started_at);

CREATE TABLE spend_daily_key (
    day               date    NOT NULL,
    key_hash          text    NOT NULL,  -- '' for requests without a key
    key_alias         text,
    requests          bigint  NOT NULL,
    failed_requests   bigint  NOT NULL,
    prompt_tokens     bigint  NOT NULL,
    completion_tokens bigint  NOT NULL,
    cached_tokens     bigint  NOT NULL,
    cost_usd          numeric NOT NULL,
    unpriced_requests bigint  NOT NULL,
    PRIMARY KEY (day, key_hash)
);

CREATE TABLE spend_daily_team (
    day               date    NOT NULL,
    team_id           text    NOT NULL,
    requests          bigint  NOT NULL,
    failed_requests   bigint  NOT NULL,
    prompt_tokens     bigint  NOT NULL,
    completion_tokens bigint  NOT NULL,
    cached_tokens     bigint  NOT NULL,
    cost_usd          numeric NOT NULL,
    unpriced_requests bigint  NOT NULL,
    PRIMARY KEY (day, team_id)
);

CREATE TABLE spend_daily_model (
    day               date    NOT NULL,
    model_group       text    NOT NULL,
    requests          bigint  NOT NULL,
    failed_requests   bigint  NOT NULL,
    prompt_tokens     bigint  NOT NULL,
    completion_tokens bigint  NOT NULL,
    cached_tokens     bigint  NOT NULL,
    cost_usd          numeric NOT NULL,
    unpriced_requests bigint  NOT NULL,
    PRIMARY KEY (day, model_group)
);

CREATE TABLE spend_daily_provider (
    day               date    NOT NULL,
    provider          text    NOT NULL,
    requests          bigint  NOT NULL,
    failed_requests   bigint  NOT NULL,
    prompt_tokens     bigint  NOT NULL,
    completion_tokens bigint  NOT NULL,
    cached_tokens     bigint  NOT NULL,
    cost_usd          numeric NOT NULL,
    unpriced_requests bigint  NOT NULL,
    PRIMARY KEY (day, provider)
);
