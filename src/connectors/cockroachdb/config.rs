//! CockroachDB's fields: PostgreSQL's, with CockroachDB's default port.

use crate::connectors::fields::{FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port};
use crate::connectors::postgres::config::{SCHEMA, SSL_MODE};
use crate::connectors::tls::{CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("26257"),
    USERNAME,
    PASSWORD,
    database(
        128,
        "database to connect to (CockroachDB's default is defaultdb)",
    ),
    SCHEMA,
    SSL_MODE,
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES_BY_CASE,
    crate::connectors::tunnel::TUNNEL,
];
