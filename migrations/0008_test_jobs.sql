-- Test jobs (POST /api/v2/datasource/test): a create body run as a job that records no
-- datasource. What the worker needs of the body lives here, sealed as a datasource's
-- credentials are, only until the job ends; the finished job (with its schema summary)
-- is kept until expires_at, then removed by the reconciler.
CREATE TABLE test_inputs (
    -- the job's datasource_id: a fresh id that names no datasource
    datasource_id      uuid PRIMARY KEY,
    job_id             uuid NOT NULL UNIQUE,
    org_id             uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    datasource_type    text NOT NULL,
    credentials_sealed bytea NOT NULL,
    public_config      jsonb NOT NULL,
    tenancy_settings   jsonb,
    defaults_used      text[] NOT NULL DEFAULT '{}',
    upload_name        text,
    upload_content     bytea,
    created_at         timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE jobs ADD COLUMN expires_at timestamptz;
CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL;
