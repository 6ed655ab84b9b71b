//! CockroachDB: the PostgreSQL wire protocol and pg_catalog, with CockroachDB's
//! default port; its virtual schemas (crdb_internal, pg_extension) are not discovered.

use crate::connectors::fields::{FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port};
use crate::connectors::postgres::config::{SCHEMA, SSL_MODE};

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
];

pub const COCKROACHDB: crate::connectors::postgres::Postgres =
    crate::connectors::postgres::Postgres {
        fields: FIELDS,
        name: "cockroachdb",
    };
