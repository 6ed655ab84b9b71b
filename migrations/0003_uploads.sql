-- Files uploaded with a csv datasource: kept with the datasource, read by workers.
CREATE TABLE uploads (
    datasource_id uuid PRIMARY KEY REFERENCES datasources (id) ON DELETE CASCADE,
    org_id        uuid NOT NULL,
    file_name     text NOT NULL,
    content       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
