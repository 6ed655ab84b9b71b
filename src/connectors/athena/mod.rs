//! Amazon Athena: the connection test through the Athena API (the workgroup), and
//! discovery through the Glue Data Catalog behind Athena's AwsDataCatalog
//! (databases, tables, columns, partition keys), paged, never one call per table.

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{AthenaConfig, FIELDS};
pub use self::discover::{discover, list_databases};
pub use self::session::{AthenaSession, connect};

crate::connector! {
    Athena {
        config: AthenaConfig,
        session: AthenaSession,
        fields: FIELDS,
        check: AthenaConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
