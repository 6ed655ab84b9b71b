-- The relay sets aside a message the broker refuses on its own (too large, an
-- exchange that is gone) rather than retrying its whole batch forever.
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
CREATE TABLE outbox_rejected (
    id           bigint PRIMARY KEY,
    exchange     text NOT NULL,
    routing_key  text NOT NULL,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    reason       text NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);

-- Claims that took a job over from a worker whose lease ran out while it ran the job
-- (a worker that died): a job that kills every worker is failed after a few.
ALTER TABLE jobs ADD COLUMN takeovers integer NOT NULL DEFAULT 0;

-- Request fingerprints are now keyed with the server's secret (HMAC-SHA256); the
-- unsalted digests stored before could be matched against guessed passwords.
DELETE FROM idempotency_keys;
