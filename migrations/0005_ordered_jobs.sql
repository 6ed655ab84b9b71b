-- The order of jobs: a snapshot is written to Redis only by a job newer than the one
-- whose snapshot is there (compare-and-set on this number), so an older sync that
-- finishes last cannot overwrite a newer snapshot.
CREATE SEQUENCE jobs_seq;
ALTER TABLE jobs ADD COLUMN seq bigint NOT NULL DEFAULT nextval('jobs_seq');
ALTER SEQUENCE jobs_seq OWNED BY jobs.seq;
