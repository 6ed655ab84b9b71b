//! MySQL / MariaDB connector: mysql_async, discovery from information_schema.

pub mod config;
pub mod discover;
pub mod privileges;
pub mod session;
pub mod tls;

use self::config::MysqlConfig;
pub use self::session::{MySession, connect};
use crate::connectors::ConnectorError;
use crate::connectors::Net;

/// MySQL, MariaDB and the types that speak their protocol and keep their
/// information_schema (SingleStore).
pub struct Mysql {
    pub fields: &'static [crate::connectors::FieldSpec],
    pub name: &'static str,
    /// Whether the server takes `SET SESSION TRANSACTION READ ONLY`.
    pub read_only: bool,
}

pub const MYSQL: Mysql = Mysql {
    fields: config::FIELDS,
    name: "mysql",
    read_only: true,
};

impl crate::connectors::Connector for Mysql {
    type Config = MysqlConfig;
    type Session = MySession;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        self.fields
    }

    fn check(&self, config: &MysqlConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.check()
    }

    fn cleartext(&self, config: &MysqlConfig) -> Option<String> {
        config.cleartext()
    }

    fn ssl_mode(&self, config: &MysqlConfig) -> Option<crate::egress::tls::SslMode> {
        Some(config.mode())
    }

    async fn connect(&self, config: &MysqlConfig, net: &Net) -> Result<MySession, ConnectorError> {
        connect(config, net, self.read_only).await
    }

    async fn discover(
        &self,
        session: &mut MySession,
        config: &MysqlConfig,
    ) -> Result<crate::domain::snapshot::Snapshot, ConnectorError> {
        discover::discover(session, config, self.name).await
    }

    async fn list_databases(&self, session: &mut MySession) -> Result<Vec<String>, ConnectorError> {
        discover::list_databases(session).await
    }

    async fn close(&self, session: MySession) {
        session.close().await
    }
}
