-- Responses API state in the embedded database: the same table as the Postgres schema.
-- Times are epoch microseconds; JSON is stored as text.
-- Applied once; never edited after it lands (add a new numbered file instead).

CREATE TABLE gateway_responses (
    response_id   TEXT    PRIMARY KEY,
    key_hash      TEXT,
    team_id       TEXT,
    deployment_id TEXT,
    model_group   TEXT    NOT NULL,
    response      TEXT    NOT NULL,
    input_items   TEXT    NOT NULL,
    context       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX gateway_responses_expiry_idx ON gateway_responses (expires_at);
