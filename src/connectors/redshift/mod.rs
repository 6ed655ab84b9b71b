//! Amazon Redshift: the PostgreSQL wire protocol; discovery from the pg_catalog
//! that Redshift keeps (PostgreSQL 8.0 era: no partitions, no `WITH ORDINALITY`),
//! plus Redshift's own views for external tables and late-binding views, which
//! appear nowhere else.

pub mod config;
pub mod discover;

pub use self::config::{FIELDS, RedshiftConfig};

pub struct Redshift;

impl crate::connectors::Connector for Redshift {
    type Config = RedshiftConfig;
    type Session = crate::connectors::postgres::PgSession;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        FIELDS
    }

    fn check(&self, config: &RedshiftConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.0.tls.check(config.0.ssl_mode, "ssl")
    }

    fn ssl_mode(&self, config: &RedshiftConfig) -> Option<crate::egress::tls::SslMode> {
        Some(config.0.ssl_mode)
    }

    async fn connect(
        &self,
        config: &RedshiftConfig,
        net: &crate::connectors::Net,
    ) -> Result<Self::Session, crate::connectors::ConnectorError> {
        crate::connectors::postgres::connect(&config.0, net).await
    }

    async fn discover(
        &self,
        session: &mut Self::Session,
        config: &RedshiftConfig,
    ) -> Result<crate::domain::snapshot::Snapshot, crate::connectors::ConnectorError> {
        discover::discover(session, &config.0).await
    }

    async fn list_databases(
        &self,
        session: &mut Self::Session,
    ) -> Result<Vec<String>, crate::connectors::ConnectorError> {
        crate::connectors::postgres::discover::list_databases(session).await
    }
}
