-- Fair dispatch: a job's message waits in the outbox while its organisation, or the
-- host its datasource points at, has as many jobs dispatched and unfinished as the
-- limits allow. The broker never holds one organisation's backlog ahead of another's
-- first job, and no customer's server gets more of onramp's connections at once than
-- the limit, however many workers run.
ALTER TABLE outbox ADD COLUMN job_id uuid;
ALTER TABLE outbox ADD COLUMN gated boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN dispatched_at timestamptz;
CREATE INDEX jobs_in_flight ON jobs (org_id) WHERE dispatched_at IS NOT NULL AND status IN ('queued', 'running');

-- The host a datasource's jobs connect to, from its public (secret-free) settings.
CREATE FUNCTION onramp_target(c jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT lower(coalesce(
    nullif(c->>'host', ''),
    nullif(c->>'server', ''),
    substring(c->>'url' from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?\[?([^]/:?#]+)'),
    substring(c->>'endpoint' from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?\[?([^]/:?#]+)'),
    substring(c->>'apiEndpoint' from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?\[?([^]/:?#]+)'),
    nullif(c->>'account', ''),
    nullif(c->>'projectId', ''),
    nullif(c->>'cloudId', ''),
    nullif(c->>'bucket', '')))
$$;

-- The relay reads events apart from the job messages waiting their turn.
CREATE INDEX outbox_events ON outbox (id) WHERE NOT gated;
CREATE INDEX outbox_waiting ON outbox (job_id) WHERE gated;
