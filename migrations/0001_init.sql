-- onramp's durable records. Credentials are stored only encrypted (AES-256-GCM).

CREATE TABLE organisations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE service_tokens (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash  bytea NOT NULL UNIQUE,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE datasources (
    id                 uuid PRIMARY KEY,
    org_id             uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name               text NOT NULL,
    datasource_type    text NOT NULL,
    -- nonce || ciphertext of the normalised credentials JSON; AAD binds it to this row.
    credentials_sealed bytea NOT NULL,
    -- the normalised credentials without their secrets, for answers.
    public_config      jsonb NOT NULL,
    tenancy_settings   jsonb,
    status             text NOT NULL,
    schema_summary     jsonb,
    last_job_id        uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    -- no foreign key: a job outlives a deleted datasource so it can still be read.
    datasource_id    uuid NOT NULL,
    datasource_name  text NOT NULL,
    kind             text NOT NULL,
    status           text NOT NULL,
    steps            jsonb NOT NULL,
    error            jsonb,
    result           jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    -- the worker holding the job and until when; a dead worker's claim expires.
    lease_owner      uuid,
    lease_until      timestamptz,
    trace_parent     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_datasource ON jobs (datasource_id);

-- Messages to publish, written in the same transaction as the state they announce.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    exchange     text NOT NULL,
    routing_key  text NOT NULL,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE idempotency_keys (
    org_id        uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
