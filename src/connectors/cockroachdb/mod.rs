//! CockroachDB: the PostgreSQL wire protocol and pg_catalog, with CockroachDB's
//! default port; its virtual schemas (crdb_internal, pg_extension) are not discovered.

pub mod config;

pub use self::config::FIELDS;

pub const COCKROACHDB: crate::connectors::postgres::Postgres =
    crate::connectors::postgres::Postgres {
        fields: FIELDS,
        name: "cockroachdb",
    };
