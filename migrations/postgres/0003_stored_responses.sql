-- Responses API state: each stored response (store: true), so previous_response_id works
-- on every provider and GET/DELETE /v1/responses/{id} answer. ``context`` is the whole
-- conversation up to and including this response's output, so the next turn reads one row.
-- Applied once; never edited after it lands (add a new numbered file instead).

CREATE TABLE gateway_responses (
    response_id   text        PRIMARY KEY,
    key_hash      text,
    team_id       text,
    deployment_id text,
    model_group   text        NOT NULL,
    response      jsonb       NOT NULL,
    input_items   jsonb       NOT NULL,
    context       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX gateway_responses_expiry_idx ON gateway_responses (expires_at);
