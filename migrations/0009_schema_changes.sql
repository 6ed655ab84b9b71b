-- Schema drift: what a sync or an update changed against the snapshot it replaced,
-- one row per job that changed something. Removed with its datasource.
CREATE TABLE schema_changes (
    id            bigserial PRIMARY KEY,
    org_id        uuid NOT NULL,
    datasource_id uuid NOT NULL REFERENCES datasources (id) ON DELETE CASCADE,
    job_id        uuid NOT NULL UNIQUE,
    from_hash     text NOT NULL,
    to_hash       text NOT NULL,
    summary       jsonb NOT NULL,
    changes       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schema_changes_newest ON schema_changes (datasource_id, id DESC);
