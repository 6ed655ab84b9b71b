//! PostgreSQL connector: tokio-postgres over rustls, discovery from pg_catalog.

pub mod config;
pub mod discover;
pub mod session;

use self::config::PostgresConfig;
pub use self::session::{PgSession, connect};
use crate::connectors::ConnectorError;
use crate::connectors::Net;

/// PostgreSQL and the types that speak its protocol and keep its catalog as it
/// does (CockroachDB): their own field tables and names, one connector.
pub struct Postgres {
    pub fields: &'static [crate::connectors::FieldSpec],
    pub name: &'static str,
}

pub const POSTGRES: Postgres = Postgres {
    fields: config::FIELDS,
    name: "postgres",
};

impl crate::connectors::Connector for Postgres {
    type Config = PostgresConfig;
    type Session = PgSession;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        self.fields
    }

    fn check(&self, config: &PostgresConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.check()
    }

    fn ssl_mode(&self, config: &PostgresConfig) -> Option<crate::egress::tls::SslMode> {
        Some(config.ssl_mode)
    }

    async fn connect(
        &self,
        config: &PostgresConfig,
        net: &Net,
    ) -> Result<PgSession, ConnectorError> {
        let mut session = connect(config, net).await?;
        discover::check_catalog(&mut session, config).await?;
        Ok(session)
    }

    async fn discover(
        &self,
        session: &mut PgSession,
        config: &PostgresConfig,
    ) -> Result<crate::domain::snapshot::Snapshot, ConnectorError> {
        discover::discover(session, config, self.name).await
    }

    async fn list_databases(&self, session: &mut PgSession) -> Result<Vec<String>, ConnectorError> {
        discover::list_databases(session).await
    }
}
