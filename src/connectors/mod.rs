//! Connectors: one folder per datasource type, each implementing [`Connector`]
//! (see `registry.rs`), listed once in [`registry::connector`].
//! A connector takes validated credentials and returns a snapshot or a typed error;
//! it knows nothing of HTTP, queues or storage.

pub mod aliases;
pub mod athena;
pub mod awss3;
pub mod bigquery;
pub mod clickhouse;
pub mod cockroachdb;
pub mod csvfile;
pub mod databricks;
pub mod fields;
pub mod firebolt;
pub mod mongodb;
pub mod mssql;
pub mod mysql;
pub mod net;
pub mod pipeline;
pub mod postgres;
pub mod progress;
pub mod redshift;
pub mod registry;
pub mod schema_filters;
pub mod search;
pub mod singlestore;
pub mod snowflake;
pub mod support;
pub mod tls;
use crate::domain::tenancy;
pub mod trino;
pub mod tunnel;

use serde_json::{Map, Value};

pub use crate::domain::{ConnectorError, Fault};
pub use fields::{FieldProblem, FieldSpec};
pub use net::Net;
pub use registry::{
    AnyConnector, Connection, Connector, ConnectorConfig, JobInputs, Upload, connector,
};
pub use support::limits::{MAX_NESTING, Pages};

pub use crate::domain::DatasourceType;

/// A type's connector, reached from the type itself.
pub trait Registered {
    fn connector(self) -> &'static dyn AnyConnector;

    fn fields(self) -> &'static [FieldSpec]
    where
        Self: Sized,
    {
        self.connector().fields()
    }

    /// The tenancy levels that make sense for this type.
    fn tenancy_levels(self) -> &'static [tenancy::Level]
    where
        Self: Sized,
    {
        self.connector().tenancy_levels()
    }

    /// Pure validation: names every bad field, fills defaults, never touches the network.
    fn validate(self, credentials: &Value) -> Result<Map<String, Value>, Vec<FieldProblem>>
    where
        Self: Sized,
    {
        self.configure(credentials)
            .map(|(normalised, _)| normalised)
    }

    /// Validation, and the typed config the normalised fields were read into.
    fn configure(
        self,
        credentials: &Value,
    ) -> Result<(Map<String, Value>, ConnectorConfig), Vec<FieldProblem>>;
}

impl Registered for DatasourceType {
    fn connector(self) -> &'static dyn AnyConnector {
        registry::connector(self)
    }

    fn configure(
        self,
        credentials: &Value,
    ) -> Result<(Map<String, Value>, ConnectorConfig), Vec<FieldProblem>> {
        registry::validate(self, credentials)
    }
}
