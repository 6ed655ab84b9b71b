//! Connectors: one folder per datasource type behind one closed enum of types.
//! A connector takes validated credentials and returns a snapshot or a typed error;
//! it knows nothing of HTTP, queues or storage.

pub mod athena;
pub mod aws;
pub mod awss3;
pub mod bigquery;
pub mod clickhouse;
pub mod cockroachdb;
pub mod csvfile;
pub mod databricks;
pub mod error;
pub mod fields;
pub mod firebolt;
pub mod infer;
pub mod info_schema;
pub mod limits;
pub mod mongodb;
pub mod mssql;
pub mod mysql;
pub mod oauth;
pub mod postgres;
pub mod quote;
pub mod redshift;
pub mod rsa_jwt;
pub mod search;
pub mod singlestore;
pub mod snowflake;
pub mod tenancy;
pub mod tls;
pub mod trino;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use error::{ConnectorError, Fault};
pub use fields::{FieldProblem, FieldSpec};

use crate::snapshot::Snapshot;

pub use limits::{MAX_NESTING, Pages};

/// Every datasource type onramp knows. Adding a type means adding an arm here and a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasourceType {
    Postgres,
    Mysql,
    Redshift,
    Cockroachdb,
    Singlestore,
    Clickhouse,
    Awss3,
    Athena,
    Csv,
    Elasticsearch,
    Opensearch,
    Databricks,
    Trino,
    Firebolt,
    Snowflake,
    Bigquery,
    Mongodb,
    Mssql,
}

impl DatasourceType {
    pub const ALL: &'static [DatasourceType] = &[
        DatasourceType::Postgres,
        DatasourceType::Mysql,
        DatasourceType::Redshift,
        DatasourceType::Cockroachdb,
        DatasourceType::Singlestore,
        DatasourceType::Clickhouse,
        DatasourceType::Awss3,
        DatasourceType::Athena,
        DatasourceType::Csv,
        DatasourceType::Elasticsearch,
        DatasourceType::Opensearch,
        DatasourceType::Databricks,
        DatasourceType::Trino,
        DatasourceType::Firebolt,
        DatasourceType::Snowflake,
        DatasourceType::Bigquery,
        DatasourceType::Mongodb,
        DatasourceType::Mssql,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DatasourceType::Postgres => "postgres",
            DatasourceType::Mysql => "mysql",
            DatasourceType::Redshift => "redshift",
            DatasourceType::Cockroachdb => "cockroachdb",
            DatasourceType::Singlestore => "singlestore",
            DatasourceType::Clickhouse => "clickhouse",
            DatasourceType::Awss3 => "awss3",
            DatasourceType::Athena => "athena",
            DatasourceType::Csv => "csv",
            DatasourceType::Elasticsearch => "elasticsearch",
            DatasourceType::Opensearch => "opensearch",
            DatasourceType::Databricks => "databricks",
            DatasourceType::Trino => "trino",
            DatasourceType::Firebolt => "firebolt",
            DatasourceType::Snowflake => "snowflake",
            DatasourceType::Bigquery => "bigquery",
            DatasourceType::Mongodb => "mongodb",
            DatasourceType::Mssql => "mssql",
        }
    }

    pub fn parse(s: &str) -> Option<DatasourceType> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    pub fn known_list() -> String {
        Self::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            DatasourceType::Postgres => postgres::config::FIELDS,
            DatasourceType::Mysql => mysql::config::FIELDS,
            DatasourceType::Redshift => redshift::FIELDS,
            DatasourceType::Cockroachdb => cockroachdb::FIELDS,
            DatasourceType::Singlestore => singlestore::FIELDS,
            DatasourceType::Clickhouse => clickhouse::FIELDS,
            DatasourceType::Awss3 => awss3::FIELDS,
            DatasourceType::Athena => athena::FIELDS,
            DatasourceType::Csv => csvfile::FIELDS,
            DatasourceType::Elasticsearch | DatasourceType::Opensearch => search::FIELDS,
            DatasourceType::Databricks => databricks::FIELDS,
            DatasourceType::Trino => trino::FIELDS,
            DatasourceType::Firebolt => firebolt::FIELDS,
            DatasourceType::Snowflake => snowflake::FIELDS,
            DatasourceType::Bigquery => bigquery::FIELDS,
            DatasourceType::Mongodb => mongodb::FIELDS,
            DatasourceType::Mssql => mssql::FIELDS,
        }
    }

    /// The tenancy levels that make sense for this type.
    pub fn tenancy_levels(self) -> &'static [tenancy::Level] {
        match self {
            DatasourceType::Postgres
            | DatasourceType::Mysql
            | DatasourceType::Redshift
            | DatasourceType::Cockroachdb
            | DatasourceType::Singlestore
            | DatasourceType::Clickhouse
            | DatasourceType::Athena
            | DatasourceType::Databricks
            | DatasourceType::Trino
            | DatasourceType::Firebolt
            | DatasourceType::Snowflake
            | DatasourceType::Mongodb
            | DatasourceType::Mssql => &[tenancy::Level::Table, tenancy::Level::Database],
            // An index is a table; a cluster has no databases to split tenants by.
            DatasourceType::Elasticsearch | DatasourceType::Opensearch => &[tenancy::Level::Table],
            // One project is one database; tenants split by dataset are schemas.
            DatasourceType::Bigquery => &[tenancy::Level::Table],
            // Files have no databases or tables to split tenants by.
            DatasourceType::Awss3 | DatasourceType::Csv => &[],
        }
    }

    /// Pure validation: names every bad field, fills defaults, never touches the network.
    pub fn validate(self, credentials: &Value) -> Result<Map<String, Value>, Vec<FieldProblem>> {
        match fields::validate(self.fields(), "credentials", credentials) {
            Ok(normalised) => {
                // Parsing into the typed config proves the object complete and runs
                // the type's own checks (a region's form, the keys an s3:// URL needs).
                ConnectorConfig::from_validated(self, &normalised)?;
                Ok(normalised)
            }
            Err(mut problems) => {
                // The type's own checks still run on the fields that passed.
                let passed = fields::lenient(self.fields(), credentials);
                if let Err(more) = ConnectorConfig::from_validated(self, &passed) {
                    for p in more {
                        if p.field != "credentials" && !problems.iter().any(|q| q.field == p.field)
                        {
                            problems.push(p);
                        }
                    }
                }
                Err(problems)
            }
        }
    }
}

/// Validated, typed credentials of one datasource.
#[derive(Clone)]
pub enum ConnectorConfig {
    Postgres(postgres::config::PostgresConfig),
    Mysql(mysql::config::MysqlConfig),
    /// PostgreSQL wire settings; discovery adds Redshift's own views.
    Redshift(postgres::config::PostgresConfig),
    Cockroachdb(postgres::config::PostgresConfig),
    Singlestore(mysql::config::MysqlConfig),
    Clickhouse(clickhouse::ClickhouseConfig),
    Awss3(awss3::S3Config),
    Athena(athena::AthenaConfig),
    Csv(csvfile::CsvConfig),
    Elasticsearch(search::SearchConfig),
    Opensearch(search::SearchConfig),
    Databricks(databricks::DatabricksConfig),
    Trino(trino::TrinoConfig),
    Firebolt(firebolt::FireboltConfig),
    Snowflake(snowflake::SnowflakeConfig),
    Bigquery(bigquery::BigqueryConfig),
    Mongodb(mongodb::MongoConfig),
    Mssql(mssql::MssqlConfig),
}

impl ConnectorConfig {
    pub fn from_validated(
        ty: DatasourceType,
        normalised: &Map<String, Value>,
    ) -> Result<ConnectorConfig, Vec<FieldProblem>> {
        let value = Value::Object(normalised.clone());
        let parsed = match ty {
            DatasourceType::Postgres => {
                serde_json::from_value(value).map(ConnectorConfig::Postgres)
            }
            DatasourceType::Mysql => serde_json::from_value(value).map(ConnectorConfig::Mysql),
            DatasourceType::Redshift => redshift::wire_config(value).map(ConnectorConfig::Redshift),
            DatasourceType::Cockroachdb => {
                serde_json::from_value(value).map(ConnectorConfig::Cockroachdb)
            }
            DatasourceType::Singlestore => {
                serde_json::from_value(value).map(ConnectorConfig::Singlestore)
            }
            DatasourceType::Clickhouse => {
                serde_json::from_value(value).map(ConnectorConfig::Clickhouse)
            }
            DatasourceType::Awss3 => {
                let config: Result<awss3::S3Config, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Awss3)
            }
            DatasourceType::Athena => {
                let config: Result<athena::AthenaConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Athena)
            }
            DatasourceType::Csv => {
                let config: Result<csvfile::CsvConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Csv)
            }
            DatasourceType::Elasticsearch | DatasourceType::Opensearch => {
                let config: Result<search::SearchConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(|c| match ty {
                    DatasourceType::Elasticsearch => ConnectorConfig::Elasticsearch(c),
                    _ => ConnectorConfig::Opensearch(c),
                })
            }
            DatasourceType::Databricks => {
                let config: Result<databricks::DatabricksConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Databricks)
            }
            DatasourceType::Trino => {
                let config: Result<trino::TrinoConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Trino)
            }
            DatasourceType::Firebolt => {
                serde_json::from_value(value).map(ConnectorConfig::Firebolt)
            }
            DatasourceType::Snowflake => {
                let config: Result<snowflake::SnowflakeConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Snowflake)
            }
            DatasourceType::Bigquery => {
                let config: Result<bigquery::BigqueryConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Bigquery)
            }
            DatasourceType::Mongodb => {
                let config: Result<mongodb::MongoConfig, _> = serde_json::from_value(value);
                if let Ok(c) = &config {
                    c.check()?;
                }
                config.map(ConnectorConfig::Mongodb)
            }
            DatasourceType::Mssql => serde_json::from_value(value).map(ConnectorConfig::Mssql),
        };
        parsed.map_err(|e| vec![FieldProblem::new("credentials", e.to_string())])
    }

    pub fn datasource_type(&self) -> DatasourceType {
        match self {
            ConnectorConfig::Postgres(_) => DatasourceType::Postgres,
            ConnectorConfig::Mysql(_) => DatasourceType::Mysql,
            ConnectorConfig::Redshift(_) => DatasourceType::Redshift,
            ConnectorConfig::Cockroachdb(_) => DatasourceType::Cockroachdb,
            ConnectorConfig::Singlestore(_) => DatasourceType::Singlestore,
            ConnectorConfig::Clickhouse(_) => DatasourceType::Clickhouse,
            ConnectorConfig::Awss3(_) => DatasourceType::Awss3,
            ConnectorConfig::Athena(_) => DatasourceType::Athena,
            ConnectorConfig::Csv(_) => DatasourceType::Csv,
            ConnectorConfig::Elasticsearch(_) => DatasourceType::Elasticsearch,
            ConnectorConfig::Opensearch(_) => DatasourceType::Opensearch,
            ConnectorConfig::Databricks(_) => DatasourceType::Databricks,
            ConnectorConfig::Trino(_) => DatasourceType::Trino,
            ConnectorConfig::Firebolt(_) => DatasourceType::Firebolt,
            ConnectorConfig::Snowflake(_) => DatasourceType::Snowflake,
            ConnectorConfig::Bigquery(_) => DatasourceType::Bigquery,
            ConnectorConfig::Mongodb(_) => DatasourceType::Mongodb,
            ConnectorConfig::Mssql(_) => DatasourceType::Mssql,
        }
    }

    /// Opens a connection and proves the credentials work.
    /// Opens a connection through the egress guard and proves the credentials work.
    pub async fn connect(
        &self,
        egress: &crate::egress::Egress,
    ) -> Result<Connection, ConnectorError> {
        match self {
            ConnectorConfig::Postgres(c)
            | ConnectorConfig::Redshift(c)
            | ConnectorConfig::Cockroachdb(c) => {
                postgres::connect(c, egress).await.map(Connection::Postgres)
            }
            ConnectorConfig::Mysql(c) => {
                mysql::connect(c, egress, true).await.map(Connection::Mysql)
            }
            ConnectorConfig::Singlestore(c) => mysql::connect(c, egress, false)
                .await
                .map(Connection::Mysql),
            ConnectorConfig::Clickhouse(c) => clickhouse::connect(c, egress)
                .await
                .map(Connection::Clickhouse),
            ConnectorConfig::Awss3(c) => awss3::connect(c, egress).await.map(Connection::Awss3),
            ConnectorConfig::Athena(c) => athena::connect(c, egress).await.map(Connection::Athena),
            ConnectorConfig::Csv(c) => csvfile::connect(c, egress).await.map(Connection::Csv),
            ConnectorConfig::Elasticsearch(c) | ConnectorConfig::Opensearch(c) => {
                search::connect(c, egress).await.map(Connection::Search)
            }
            ConnectorConfig::Databricks(c) => databricks::connect(c, egress)
                .await
                .map(Connection::Databricks),
            ConnectorConfig::Trino(c) => trino::connect(c, egress).await.map(Connection::Trino),
            ConnectorConfig::Firebolt(c) => {
                firebolt::connect(c, egress).await.map(Connection::Firebolt)
            }
            ConnectorConfig::Snowflake(c) => snowflake::connect(c, egress)
                .await
                .map(Connection::Snowflake),
            ConnectorConfig::Bigquery(c) => {
                bigquery::connect(c, egress).await.map(Connection::Bigquery)
            }
            ConnectorConfig::Mongodb(c) => {
                mongodb::connect(c, egress).await.map(Connection::Mongodb)
            }
            ConnectorConfig::Mssql(c) => mssql::connect(c, egress)
                .await
                .map(|s| Connection::Mssql(Box::new(s))),
        }
    }
}

/// A live connection to a target, handed from the connect step to the discover step.
pub enum Connection {
    Postgres(postgres::PgSession),
    Mysql(mysql::MySession),
    Clickhouse(clickhouse::ChSession),
    Awss3(awss3::client::S3),
    Athena(athena::AthenaSession),
    Csv(csvfile::Sample),
    Search(search::SearchSession),
    Databricks(databricks::DatabricksSession),
    Trino(trino::TrinoSession),
    Firebolt(firebolt::FireboltSession),
    Snowflake(snowflake::SnowflakeSession),
    Bigquery(bigquery::BigquerySession),
    Mongodb(mongodb::MongoSession),
    Mssql(Box<mssql::MssqlSession>),
}

impl Connection {
    pub async fn discover(&mut self, config: &ConnectorConfig) -> Result<Snapshot, ConnectorError> {
        match (self, config) {
            (Connection::Postgres(s), ConnectorConfig::Postgres(c)) => {
                postgres::discover::discover(s, c, "postgres").await
            }
            (Connection::Postgres(s), ConnectorConfig::Cockroachdb(c)) => {
                postgres::discover::discover(s, c, "cockroachdb").await
            }
            (Connection::Postgres(s), ConnectorConfig::Redshift(c)) => {
                redshift::discover::discover(s, c).await
            }
            (Connection::Mysql(s), ConnectorConfig::Mysql(c)) => {
                mysql::discover::discover(s, c, "mysql").await
            }
            (Connection::Mysql(s), ConnectorConfig::Singlestore(c)) => {
                mysql::discover::discover(s, c, "singlestore").await
            }
            (Connection::Clickhouse(s), ConnectorConfig::Clickhouse(c)) => {
                clickhouse::discover::discover(s, c).await
            }
            (Connection::Awss3(s), ConnectorConfig::Awss3(c)) => awss3::discover(s, c).await,
            (Connection::Athena(s), ConnectorConfig::Athena(c)) => athena::discover(s, c).await,
            (Connection::Csv(s), ConnectorConfig::Csv(c)) => csvfile::discover(s, c),
            (Connection::Search(s), ConnectorConfig::Elasticsearch(c)) => {
                search::discover(s, c, "elasticsearch").await
            }
            (Connection::Search(s), ConnectorConfig::Opensearch(c)) => {
                search::discover(s, c, "opensearch").await
            }
            (Connection::Databricks(s), ConnectorConfig::Databricks(c)) => {
                databricks::discover(s, c).await
            }
            (Connection::Trino(s), ConnectorConfig::Trino(c)) => trino::discover(s, c).await,
            (Connection::Firebolt(s), ConnectorConfig::Firebolt(c)) => {
                firebolt::discover(s, c).await
            }
            (Connection::Snowflake(s), ConnectorConfig::Snowflake(c)) => {
                snowflake::discover(s, c).await
            }
            (Connection::Bigquery(s), ConnectorConfig::Bigquery(c)) => {
                bigquery::discover(s, c).await
            }
            (Connection::Mongodb(s), ConnectorConfig::Mongodb(c)) => mongodb::discover(s, c).await,
            (Connection::Mssql(s), ConnectorConfig::Mssql(c)) => {
                mssql::discover::discover(s, c).await
            }
            _ => unreachable!("a connection is always used with the config that opened it"),
        }
    }

    /// The databases these credentials can see, for DATABASE tenancy.
    pub async fn list_databases(&mut self) -> Result<Vec<String>, ConnectorError> {
        match self {
            Connection::Postgres(s) => postgres::discover::list_databases(s).await,
            Connection::Mysql(s) => mysql::discover::list_databases(s).await,
            Connection::Clickhouse(s) => clickhouse::discover::list_databases(s).await,
            // The API refuses tenancy for files, so this is never asked.
            Connection::Awss3(_) => Ok(Vec::new()),
            Connection::Athena(s) => athena::list_databases(s).await,
            Connection::Csv(_) | Connection::Search(_) => Ok(Vec::new()),
            Connection::Databricks(s) => databricks::list_databases(s).await,
            Connection::Trino(s) => trino::list_databases(s).await,
            Connection::Firebolt(s) => firebolt::list_databases(s).await,
            Connection::Snowflake(s) => snowflake::list_databases(s).await,
            Connection::Bigquery(s) => bigquery::list_databases(s).await,
            Connection::Mongodb(s) => mongodb::list_databases(s).await,
            Connection::Mssql(s) => mssql::discover::list_databases(s).await,
        }
    }

    pub async fn close(self) {
        match self {
            Connection::Postgres(s) => drop(s),
            Connection::Mysql(s) => s.close().await,
            Connection::Clickhouse(s) => drop(s),
            Connection::Awss3(s) => drop(s),
            Connection::Athena(s) => drop(s),
            Connection::Csv(s) => drop(s),
            Connection::Search(s) => drop(s),
            Connection::Databricks(s) => drop(s),
            Connection::Trino(s) => drop(s),
            Connection::Firebolt(s) => drop(s),
            Connection::Snowflake(s) => drop(s),
            Connection::Bigquery(s) => drop(s),
            Connection::Mongodb(s) => s.close().await,
            Connection::Mssql(s) => drop(s),
        }
    }
}
