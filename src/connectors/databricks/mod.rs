//! Databricks: the SQL Statement Execution API on a SQL warehouse (submit, poll,
//! follow result chunks), discovery from Unity Catalog's information_schema, all
//! through the egress guard with a bearer token.

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{DatabricksConfig, FIELDS};
pub use self::discover::{discover, list_databases};
pub use self::session::{DatabricksSession, connect};

crate::connector! {
    Databricks {
        config: DatabricksConfig,
        session: DatabricksSession,
        fields: FIELDS,
        check: DatabricksConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
