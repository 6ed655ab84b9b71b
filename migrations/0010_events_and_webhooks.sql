-- Every event published is also kept here, for the organisation's event stream
-- (GET /api/v2/events) to replay after a reconnect, and fanned out to the webhooks
-- subscribed to it. Both happen in a trigger on the outbox, so they commit or roll
-- back with the state change the event announces: no event is streamed that was
-- not published, and no delivery is lost between the two.
CREATE TABLE events (
    seq         bigserial PRIMARY KEY,
    -- The writing transaction: readers take rows only from transactions older than
    -- every transaction still running (txid_snapshot_xmin), in (txid, seq) order,
    -- so a row committed late with a smaller seq is never skipped.
    txid        bigint NOT NULL DEFAULT txid_current(),
    org_id      uuid NOT NULL,
    type        text NOT NULL,
    -- The CloudEvent's id: an outcome published again (a takeover, a relay that
    -- crashed after publishing) has the same id, and is kept, and streamed, once.
    event_id    text NOT NULL UNIQUE,
    event       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_cursor ON events (txid, seq);
CREATE INDEX events_org_cursor ON events (org_id, txid, seq);
CREATE INDEX events_age ON events (created_at);

CREATE TABLE webhooks (
    id                    uuid PRIMARY KEY,
    org_id                uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    url                   text NOT NULL,
    -- Event types, or '*' for all.
    events                text[] NOT NULL,
    description           text,
    secret_sealed         bytea NOT NULL,
    -- After a rotation the previous secret signs too, until old_secret_until.
    old_secret_sealed     bytea,
    old_secret_until      timestamptz,
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at, id);

CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id        uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    org_id            uuid NOT NULL,
    event_id          text NOT NULL,
    event_type        text NOT NULL,
    event             jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    -- Held by the deliverer sending it; another may take it once this has passed.
    leased_until      timestamptz,
    lease             uuid,
    last_status_code  integer,
    last_duration_ms  integer,
    last_error        text,
    -- Retries give up this long after it (the creation, or a manual retry).
    retry_from        timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    -- The same event reaches one webhook once, however often it is published.
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC, id);

CREATE FUNCTION onramp_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    org uuid;
    kind text;
    new_id text;
BEGIN
    -- Events only: a job's message carries its job id; an event is a CloudEvent
    -- whose routing key is '<orgId>.<type>'.
    IF NEW.job_id IS NOT NULL
       OR jsonb_typeof(NEW.payload) <> 'object'
       OR NOT (NEW.payload ? 'specversion')
       OR NEW.routing_key !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.' THEN
        RETURN NULL;
    END IF;
    org := substr(NEW.routing_key, 1, 36)::uuid;
    kind := coalesce(NEW.payload ->> 'type', '');
    -- Every CloudEvent has an id; a row without one must still not fail the write.
    new_id := coalesce(NEW.payload ->> 'id', gen_random_uuid()::text);
    INSERT INTO events (org_id, type, event_id, event)
    VALUES (org, kind, new_id, NEW.payload)
    ON CONFLICT (event_id) DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('onramp_events', '');
    END IF;
    INSERT INTO webhook_deliveries (webhook_id, org_id, event_id, event_type, event)
    SELECT w.id, w.org_id, new_id, kind, NEW.payload
    FROM webhooks w
    WHERE w.org_id = org AND w.enabled AND (w.events @> ARRAY['*'] OR w.events @> ARRAY[kind])
    ON CONFLICT (webhook_id, event_id) DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('onramp_webhooks', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION onramp_record_event();

-- The age of the oldest job waiting to start, read at every metrics scrape.
CREATE INDEX jobs_queued_age ON jobs (created_at) WHERE status = 'queued';
