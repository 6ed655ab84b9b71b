-- The credential fields a request left out and onramp filled from defaults, shown in jobs.
ALTER TABLE datasources ADD COLUMN defaults_used text[] NOT NULL DEFAULT '{}';
