-- The control plane: virtual keys, teams, stored models, fallback overrides, the audit
-- trail, and a version per kind of control data that processes without Redis poll.
-- Applied once; never edited after it lands (add a new numbered file instead).

-- Virtual keys, by the sha256 of the key (the key itself is never stored). The
-- columns hold what is looked up or filtered on; ``doc`` holds the whole key.
CREATE TABLE gateway_keys (
    key_hash   text        PRIMARY KEY,
    key_alias  text,
    team_id    text,
    user_id    text,
    doc        jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX gateway_keys_alias_idx ON gateway_keys (key_alias) WHERE key_alias IS NOT NULL;
CREATE INDEX gateway_keys_team_idx ON gateway_keys (team_id, key_hash);
CREATE INDEX gateway_keys_user_idx ON gateway_keys (user_id, key_hash);

CREATE TABLE gateway_teams (
    team_id    text        PRIMARY KEY,
    team_alias text,
    doc        jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Deployments added at runtime. ``params_sealed`` is the deployment's litellm_params
-- (credentials included) encrypted under GATEWAY_SALT_KEY; nothing in it is readable here.
CREATE TABLE gateway_models (
    model_id      text        PRIMARY KEY,
    model_name    text        NOT NULL,
    params_sealed text        NOT NULL,
    model_info    jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Operators' fallback overrides; a row past ``expires_at`` is no longer in force.
CREATE TABLE gateway_overrides (
    model_group text        PRIMARY KEY,
    redirect_to text,
    fallbacks   jsonb,
    expires_at  timestamptz NOT NULL,
    reason      text        NOT NULL,
    set_by      text        NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now()
);

-- Every control-plane change: who, when, what, why, and the values before and after.
CREATE TABLE gateway_audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target_kind text        NOT NULL,
    target_id   text        NOT NULL,
    reason      text,
    before      jsonb,
    after       jsonb
);
CREATE INDEX gateway_audit_target_idx ON gateway_audit (target_kind, target_id, id);

-- One counter per kind of control data (keys, models, overrides, config), bumped in the
-- same transaction as each change.
CREATE TABLE gateway_control_versions (
    kind    text   PRIMARY KEY,
    version bigint NOT NULL
);
