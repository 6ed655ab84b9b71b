//! Trino over its client protocol: `POST /v1/statement`, then follow `nextUri` until
//! the query ends, gathering `data`; every request through the egress guard.
//! Discovery from the catalog's information_schema in two queries.

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{FIELDS, TrinoConfig};
pub use self::discover::{discover, list_databases};
pub use self::session::{TrinoSession, connect};

crate::connector! {
    Trino {
        config: TrinoConfig,
        session: TrinoSession,
        fields: FIELDS,
        check: TrinoConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
