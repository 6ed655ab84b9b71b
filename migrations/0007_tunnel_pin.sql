-- The host key of the bastion a datasource's first tunnel trusted (trust on first
-- use): {"bastion": "host:port", "fingerprint": "SHA256:..."}. A later job through
-- the same bastion must see the same key.
ALTER TABLE datasources ADD COLUMN tunnel_host_key jsonb;
