//! The one trait every datasource type implements, and the one list of them.
//!
//! A type is a folder under `connectors/` with an `impl Connector` in its `mod.rs`,
//! plus one line in `domain::DatasourceType` and one in [`connector`] below. The
//! rest of onramp sees a type only through [`ConnectorConfig`] and [`Connection`],
//! so that a feature that touches every type (a tunnel, a TLS policy) is written
//! once, here or in what `connect` receives, not eighteen times.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::fields::{self, FieldProblem, FieldSpec};
use super::{ConnectorError, Net, tunnel};
use crate::domain::DatasourceType;
use crate::domain::schema_filters::SchemaFilters;
use crate::domain::snapshot::Snapshot;
use crate::domain::tenancy::Level;
use crate::egress::ssh::TunnelSettings;
use crate::egress::tls::SslMode;

/// A file sent with the create request instead of a location to read it from.
pub struct Upload {
    pub file_name: String,
    pub content: Vec<u8>,
}

/// What a job adds to the stored credentials before it connects.
pub struct JobInputs {
    /// The file uploaded with the datasource, when the type takes one.
    pub upload: Option<Arc<Upload>>,
    /// The operator's limit on a file a connector downloads.
    pub file_max_bytes: u64,
}

/// One datasource type: its fields, their checks, and the steps of a job.
pub trait Connector: Send + Sync + 'static {
    /// Credentials as the connector reads them, parsed from the validated fields.
    type Config: DeserializeOwned + Send + Sync + 'static;
    /// A live connection, from `connect` to `close`.
    type Session: Send + 'static;

    /// The credential fields: request validation, defaults, redaction and the JSON
    /// Schema all come from this table.
    fn fields(&self) -> &'static [FieldSpec];

    /// The tenancy levels that make sense for this type.
    fn tenancy_levels(&self) -> &'static [Level] {
        &[Level::Table, Level::Database]
    }

    /// The type's own checks beyond the field table's (a region's form, the keys an
    /// s3:// URL needs). Pure: never touches the network.
    fn check(&self, _config: &Self::Config) -> Result<(), Vec<FieldProblem>> {
        Ok(())
    }

    /// The credential a file uploaded with the create request stands in for
    /// (csv's `url`); `None` for types that take no file.
    fn upload_replaces(&self) -> Option<&'static str> {
        None
    }

    /// Whether this config reads the uploaded file (it names no location of its own).
    fn needs_upload(&self, _config: &Self::Config) -> bool {
        false
    }

    /// Adds what the job supplies beside the credentials.
    fn prepare(&self, _config: &mut Self::Config, _inputs: JobInputs) {}

    /// What crosses the network unencrypted with these settings, when the login
    /// does (a type whose default is plain says so in the connect step).
    fn cleartext(&self, _config: &Self::Config) -> Option<String> {
        None
    }

    /// How much TLS these settings ask for, for types that let the user choose
    /// (`None`: the type has no such choice).
    fn ssl_mode(&self, _config: &Self::Config) -> Option<SslMode> {
        None
    }

    /// Opens a connection and proves the credentials work. Every socket and HTTP
    /// client comes from `net`.
    fn connect(
        &self,
        config: &Self::Config,
        net: &Net,
    ) -> impl Future<Output = Result<Self::Session, ConnectorError>> + Send;

    /// Reads the schema into a snapshot.
    fn discover(
        &self,
        session: &mut Self::Session,
        config: &Self::Config,
    ) -> impl Future<Output = Result<Snapshot, ConnectorError>> + Send;

    /// The databases these credentials can see, for DATABASE tenancy. Types without
    /// databases are never asked (the API refuses the level).
    fn list_databases(
        &self,
        _session: &mut Self::Session,
    ) -> impl Future<Output = Result<Vec<String>, ConnectorError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Ends the session politely where the protocol has a goodbye.
    fn close(&self, session: Self::Session) -> impl Future<Output = ()> + Send {
        async move { drop(session) }
    }
}

/// Registers a type whose folder follows the layout, in one line:
/// `crate::connector!(Name(config::NameConfig, session::NameSession) [hooks] tenancy = levels);`
/// declares `Name` and implements [`Connector`] from the folder's own items:
/// `config::FIELDS`, `session::connect`, `discover::discover`. The hooks in brackets
/// are the optional ones the type has: `check` (the config's `check`),
/// `list_databases` (`discover::list_databases`), `close` (the session's `close`).
/// `tenancy = …` gives its tenancy levels when they are not the default.
#[macro_export]
macro_rules! connector {
    (
        $(#[$doc:meta])*
        $name:ident($config:ty, $session:ty)
        $([$($hook:ident),* $(,)?])?
        $(tenancy = $tenancy:expr)?
    ) => {
        $(#[$doc])*
        pub struct $name;

        impl $crate::connectors::Connector for $name {
            type Config = $config;
            type Session = $session;

            fn fields(&self) -> &'static [$crate::connectors::FieldSpec] {
                config::FIELDS
            }

            $(fn tenancy_levels(&self) -> &'static [$crate::domain::tenancy::Level] {
                $tenancy
            })?

            async fn connect(
                &self,
                config: &$config,
                net: &$crate::connectors::Net,
            ) -> Result<$session, $crate::connectors::ConnectorError> {
                session::connect(config, net).await
            }

            async fn discover(
                &self,
                session: &mut $session,
                config: &$config,
            ) -> Result<$crate::domain::snapshot::Snapshot, $crate::connectors::ConnectorError> {
                discover::discover(session, config).await
            }

            $($($crate::connector_hook!($hook, $config, $session);)*)?
        }
    };
}

/// One optional hook of [`connector!`], from the folder's conventional item.
#[macro_export]
macro_rules! connector_hook {
    (check, $config:ty, $session:ty) => {
        fn check(&self, config: &$config) -> Result<(), Vec<$crate::connectors::FieldProblem>> {
            <$config>::check(config)
        }
    };
    (list_databases, $config:ty, $session:ty) => {
        async fn list_databases(
            &self,
            session: &mut $session,
        ) -> Result<Vec<String>, $crate::connectors::ConnectorError> {
            discover::list_databases(session).await
        }
    };
    (cleartext, $config:ty, $session:ty) => {
        fn cleartext(&self, config: &$config) -> Option<String> {
            <$config>::cleartext(config)
        }
    };
    (ssl_mode, $config:ty, $session:ty) => {
        fn ssl_mode(&self, config: &$config) -> Option<$crate::egress::tls::SslMode> {
            Some(<$config>::mode(config))
        }
    };
    (close, $config:ty, $session:ty) => {
        async fn close(&self, session: $session) {
            <$session>::close(session).await
        }
    };
}

/// The connector of each type: one line per type.
pub fn connector(ty: DatasourceType) -> &'static dyn AnyConnector {
    use super::*;
    match ty {
        DatasourceType::Postgres => &postgres::POSTGRES,
        DatasourceType::Mysql => &mysql::MYSQL,
        DatasourceType::Redshift => &redshift::Redshift,
        DatasourceType::Cockroachdb => &cockroachdb::COCKROACHDB,
        DatasourceType::Singlestore => &singlestore::SINGLESTORE,
        DatasourceType::Clickhouse => &clickhouse::Clickhouse,
        DatasourceType::Awss3 => &awss3::Awss3,
        DatasourceType::Athena => &athena::Athena,
        DatasourceType::Csv => &csvfile::Csv,
        DatasourceType::Elasticsearch => &search::ELASTICSEARCH,
        DatasourceType::Opensearch => &search::OPENSEARCH,
        DatasourceType::Databricks => &databricks::Databricks,
        DatasourceType::Trino => &trino::Trino,
        DatasourceType::Firebolt => &firebolt::Firebolt,
        DatasourceType::Snowflake => &snowflake::Snowflake,
        DatasourceType::Bigquery => &bigquery::Bigquery,
        DatasourceType::Mongodb => &mongodb::Mongodb,
        DatasourceType::Mssql => &mssql::Mssql,
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connector as the rest of onramp sees it: the same steps, without its types.
pub trait AnyConnector: Send + Sync {
    fn fields(&self) -> &'static [FieldSpec];
    fn tenancy_levels(&self) -> &'static [Level];
    fn upload_replaces(&self) -> Option<&'static str>;
    /// Parses validated fields and runs the type's own checks.
    fn configure(
        &'static self,
        normalised: &Map<String, Value>,
    ) -> Result<Box<dyn AnyConfig>, Vec<FieldProblem>>;
    /// The validated fields the typed config does not read (for the agreement test).
    #[cfg(test)]
    fn unread_fields(&self, normalised: &Map<String, Value>) -> Result<Vec<String>, String>;
}

impl<C: Connector> AnyConnector for C {
    fn fields(&self) -> &'static [FieldSpec] {
        Connector::fields(self)
    }

    fn tenancy_levels(&self) -> &'static [Level] {
        Connector::tenancy_levels(self)
    }

    fn upload_replaces(&self) -> Option<&'static str> {
        Connector::upload_replaces(self)
    }

    fn configure(
        &'static self,
        normalised: &Map<String, Value>,
    ) -> Result<Box<dyn AnyConfig>, Vec<FieldProblem>> {
        // serde is the one reading of the fields into the config; the agreement
        // test below holds the two to each other.
        let config: C::Config = serde_json::from_value(Value::Object(normalised.clone()))
            .map_err(|e| vec![FieldProblem::new("credentials", e.to_string())])?;
        self.check(&config)?;
        Ok(Box::new(Configured {
            connector: self,
            config,
        }))
    }

    #[cfg(test)]
    fn unread_fields(&self, normalised: &Map<String, Value>) -> Result<Vec<String>, String> {
        let mut unread = Vec::new();
        let value = Value::Object(normalised.clone());
        let parsed: Result<C::Config, _> =
            serde_ignored::deserialize(value, |path| unread.push(path.to_string()));
        parsed.map_err(|e| e.to_string())?;
        Ok(unread)
    }
}

/// A type's config with its connector: connects, and lets the job add its inputs.
pub trait AnyConfig: Send + Sync {
    fn needs_upload(&self) -> bool;
    fn prepare(&mut self, inputs: JobInputs);
    fn cleartext(&self) -> Option<String>;
    fn ssl_mode(&self) -> Option<SslMode>;
    fn connect<'a>(
        &'a self,
        net: &'a Net,
    ) -> BoxFuture<'a, Result<Box<dyn AnySession + 'a>, ConnectorError>>;
}

struct Configured<C: Connector> {
    connector: &'static C,
    config: C::Config,
}

impl<C: Connector> AnyConfig for Configured<C> {
    fn needs_upload(&self) -> bool {
        self.connector.needs_upload(&self.config)
    }

    fn prepare(&mut self, inputs: JobInputs) {
        self.connector.prepare(&mut self.config, inputs)
    }

    fn cleartext(&self) -> Option<String> {
        self.connector.cleartext(&self.config)
    }

    fn ssl_mode(&self) -> Option<SslMode> {
        self.connector.ssl_mode(&self.config)
    }

    fn connect<'a>(
        &'a self,
        net: &'a Net,
    ) -> BoxFuture<'a, Result<Box<dyn AnySession + 'a>, ConnectorError>> {
        Box::pin(async move {
            let session = self.connector.connect(&self.config, net).await?;
            Ok(Box::new(Live {
                connector: self.connector,
                config: &self.config,
                session,
            }) as Box<dyn AnySession + 'a>)
        })
    }
}

/// A live session with the config that opened it.
pub trait AnySession: Send {
    fn discover(&mut self) -> BoxFuture<'_, Result<Snapshot, ConnectorError>>;
    fn list_databases(&mut self) -> BoxFuture<'_, Result<Vec<String>, ConnectorError>>;
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

struct Live<'c, C: Connector> {
    connector: &'static C,
    config: &'c C::Config,
    session: C::Session,
}

impl<C: Connector> AnySession for Live<'_, C> {
    fn discover(&mut self) -> BoxFuture<'_, Result<Snapshot, ConnectorError>> {
        Box::pin(self.connector.discover(&mut self.session, self.config))
    }

    fn list_databases(&mut self) -> BoxFuture<'_, Result<Vec<String>, ConnectorError>> {
        Box::pin(self.connector.list_databases(&mut self.session))
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        let Live {
            connector, session, ..
        } = *self;
        Box::pin(connector.close(session))
    }
}

/// Validated, typed credentials of one datasource.
pub struct ConnectorConfig {
    ty: DatasourceType,
    inner: Box<dyn AnyConfig>,
    /// The SSH bastion the target is reached through, for types that take one.
    tunnel: Option<TunnelSettings>,
    /// What discovery reads, for types that take filters (empty: everything).
    filters: SchemaFilters,
}

impl ConnectorConfig {
    pub fn datasource_type(&self) -> DatasourceType {
        self.ty
    }

    pub fn tunnel(&self) -> Option<&TunnelSettings> {
        self.tunnel.as_ref()
    }

    /// How much TLS the credentials ask for, where the type lets them choose.
    pub fn ssl_mode(&self) -> Option<SslMode> {
        self.inner.ssl_mode()
    }

    /// A warning for the connect step when the login crosses the network in clear.
    /// Through a tunnel, onramp's side of the link is SSH and the rest is the
    /// customer's own network: no warning.
    pub fn cleartext_warning(&self) -> Option<String> {
        if self.tunnel.is_some() {
            return None;
        }
        self.inner.cleartext()
    }

    /// Whether the job must load the file uploaded with the datasource.
    pub fn needs_upload(&self) -> bool {
        self.inner.needs_upload()
    }

    pub fn prepare(&mut self, inputs: JobInputs) {
        self.inner.prepare(inputs)
    }

    /// Opens a connection through the egress guard and proves the credentials work.
    pub async fn connect<'a>(&'a self, net: &'a Net) -> Result<Connection<'a>, ConnectorError> {
        self.inner.connect(net).await.map(|inner| Connection {
            inner,
            filters: &self.filters,
        })
    }

    pub fn filters(&self) -> &SchemaFilters {
        &self.filters
    }
}

/// A live connection to a target, handed from the connect step to the discover step.
pub struct Connection<'c> {
    inner: Box<dyn AnySession + 'c>,
    filters: &'c SchemaFilters,
}

impl Connection<'_> {
    /// The snapshot, recording the filters it was taken with (the connector has
    /// applied them in its catalog queries).
    pub async fn discover(&mut self) -> Result<Snapshot, ConnectorError> {
        let snapshot = self.inner.discover().await?;
        Ok(snapshot.filtered_by(self.filters))
    }

    /// The databases these credentials can see, for DATABASE tenancy.
    pub async fn list_databases(&mut self) -> Result<Vec<String>, ConnectorError> {
        self.inner.list_databases().await
    }

    pub async fn close(self) {
        self.inner.close().await
    }
}

/// The validated `schemaFilters`, or none.
fn filters(normalised: &Map<String, Value>) -> Result<SchemaFilters, Vec<FieldProblem>> {
    match normalised.get("schemaFilters") {
        Some(f) if !f.is_null() => serde_json::from_value(f.clone()).map_err(|e| {
            vec![FieldProblem::new(
                "credentials.schemaFilters",
                e.to_string(),
            )]
        }),
        _ => Ok(SchemaFilters::default()),
    }
}

/// Pure validation: names every bad field, fills defaults, never touches the network.
/// The normalised fields, and the typed config they were read into.
pub fn validate(
    ty: DatasourceType,
    credentials: &Value,
) -> Result<(Map<String, Value>, ConnectorConfig), Vec<FieldProblem>> {
    let (resolved, mut problems) = super::aliases::resolve(ty, credentials);
    match validate_resolved(ty, &resolved) {
        Ok(valid) if problems.is_empty() => Ok(valid),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// [`validate`] of credentials whose aliases are already their fields' names.
fn validate_resolved(
    ty: DatasourceType,
    credentials: &Value,
) -> Result<(Map<String, Value>, ConnectorConfig), Vec<FieldProblem>> {
    let c = connector(ty);
    match fields::validate(c.fields(), "credentials", credentials) {
        Ok(normalised) => {
            // Parsing into the typed config proves the object complete and runs
            // the type's own checks; the tunnel's are the same for every type.
            match (
                c.configure(&normalised),
                tunnel::settings(&normalised),
                filters(&normalised),
            ) {
                (Ok(inner), Ok(tunnel), Ok(filters)) => Ok((
                    normalised,
                    ConnectorConfig {
                        ty,
                        inner,
                        tunnel,
                        filters,
                    },
                )),
                (inner, tunnel, filters) => Err([inner.err(), tunnel.err(), filters.err()]
                    .into_iter()
                    .flatten()
                    .flatten()
                    .collect()),
            }
        }
        Err(mut problems) => {
            // The type's own checks still run on the fields that passed.
            let passed = fields::lenient(c.fields(), credentials);
            let more = [c.configure(&passed).err(), Some(tunnel::problems(&passed))];
            for more in more.into_iter().flatten() {
                for p in more {
                    if p.field != "credentials" && !problems.iter().any(|q| q.field == p.field) {
                        problems.push(p);
                    }
                }
            }
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::fields::FieldKind;

    /// A value each field kind accepts, as a client would send it.
    fn sample(kind: FieldKind) -> Value {
        match kind {
            FieldKind::Text { min, .. } => Value::String("a".repeat(min.max(1))),
            FieldKind::Document { .. } => Value::String("a".into()),
            FieldKind::Host => Value::String("db.example.com".into()),
            FieldKind::Url => Value::String("https://files.example.com/data".into()),
            FieldKind::Integer { min, .. } => Value::from(min),
            FieldKind::Port => Value::from(5432),
            FieldKind::Bool => Value::Bool(true),
            FieldKind::OneOf(choices) => Value::String(choices[0].into()),
            FieldKind::Patterns => serde_json::json!(["a*"]),
            FieldKind::Object(nested) => Value::Object(
                nested
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| (f.name.to_string(), sample(f.kind)))
                    .collect(),
            ),
        }
    }

    fn validated(specs: &[FieldSpec], all: bool) -> Map<String, Value> {
        let credentials: Map<String, Value> = specs
            .iter()
            .filter(|f| all || (f.required && f.default.is_none()))
            .map(|f| (f.name.to_string(), sample(f.kind)))
            .collect();
        fields::validate(specs, "credentials", &Value::Object(credentials))
            .unwrap_or_else(|p| panic!("the field table refuses its own samples: {p:?}"))
    }

    /// The field table and the typed config agree, for every type: the config reads
    /// every field of the table (but the datasource's name, which is the record's),
    /// and needs none the table does not give, with every optional field sent or
    /// with none of them.
    #[test]
    fn every_field_table_agrees_with_its_config() {
        for ty in DatasourceType::ALL {
            let c = connector(*ty);
            for all in [true, false] {
                let normalised = validated(c.fields(), all);
                let unread = c.unread_fields(&normalised).unwrap_or_else(|e| {
                    panic!("{ty}: the config needs a field the table lacks: {e}")
                });
                // The name is the record's, the tunnel the job's `tunnel` step's.
                let unread: Vec<&String> = unread
                    .iter()
                    .filter(|f| *f != "name" && !f.starts_with("tunnel"))
                    .collect();
                assert!(unread.is_empty(), "{ty}: the config never reads {unread:?}");
            }
        }
    }

    #[test]
    fn every_type_has_a_connector_with_a_name_field() {
        for ty in DatasourceType::ALL {
            assert!(
                connector(*ty)
                    .fields()
                    .iter()
                    .any(|f| f.name == "name" && f.required),
                "{ty}"
            );
        }
    }
}
