-- The control plane in the embedded database: the same tables as the Postgres schema.
-- Times are epoch microseconds; JSON is stored as text.
-- Applied once; never edited after it lands (add a new numbered file instead).

CREATE TABLE gateway_keys (
    key_hash   TEXT    PRIMARY KEY,
    key_alias  TEXT,
    team_id    TEXT,
    user_id    TEXT,
    doc        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX gateway_keys_alias_idx ON gateway_keys (key_alias) WHERE key_alias IS NOT NULL;
CREATE INDEX gateway_keys_team_idx ON gateway_keys (team_id, key_hash);
CREATE INDEX gateway_keys_user_idx ON gateway_keys (user_id, key_hash);

CREATE TABLE gateway_teams (
    team_id    TEXT    PRIMARY KEY,
    team_alias TEXT,
    doc        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE gateway_models (
    model_id      TEXT    PRIMARY KEY,
    model_name    TEXT    NOT NULL,
    params_sealed TEXT    NOT NULL,
    model_info    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE gateway_overrides (
    model_group TEXT    PRIMARY KEY,
    redirect_to TEXT,
    fallbacks   TEXT,
    expires_at  INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    set_by      TEXT    NOT NULL,
    set_at      INTEGER NOT NULL
);

CREATE TABLE gateway_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_kind TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    reason      TEXT,
    before      TEXT,
    after       TEXT
);
CREATE INDEX gateway_audit_target_idx ON gateway_audit (target_kind, target_id, id);

CREATE TABLE gateway_control_versions (
    kind    TEXT    PRIMARY KEY,
    version INTEGER NOT NULL
);
