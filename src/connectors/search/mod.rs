//! Elasticsearch and OpenSearch over their REST API, through the egress guard:
//! each index or alias a table, each mapped field a column (nested properties as
//! dotted paths). Deployments: `self-managed` or `open-cloud` (a URL) and
//! `elastic-cloud` (a cloud ID); auth by user and password or by API key.

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{FIELDS, SearchConfig};
pub use self::discover::discover;
pub use self::session::{SearchSession, connect};
use crate::connectors::ConnectorError;
use crate::connectors::Net;

/// Elasticsearch and OpenSearch: one REST API, their own names in the snapshot.
pub struct Search {
    pub name: &'static str,
}

pub const ELASTICSEARCH: Search = Search {
    name: "elasticsearch",
};

pub const OPENSEARCH: Search = Search { name: "opensearch" };

impl crate::connectors::Connector for Search {
    type Config = SearchConfig;
    type Session = SearchSession;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        FIELDS
    }

    /// An index is a table; a cluster has no databases to split tenants by.
    fn tenancy_levels(&self) -> &'static [crate::domain::tenancy::Level] {
        &[crate::domain::tenancy::Level::Table]
    }

    fn check(&self, config: &SearchConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.check()
    }

    fn ssl_mode(&self, config: &SearchConfig) -> Option<crate::egress::tls::SslMode> {
        Some(config.mode())
    }

    async fn connect(
        &self,
        config: &SearchConfig,
        net: &Net,
    ) -> Result<SearchSession, ConnectorError> {
        connect(config, net).await
    }

    async fn discover(
        &self,
        session: &mut SearchSession,
        config: &SearchConfig,
    ) -> Result<crate::domain::snapshot::Snapshot, ConnectorError> {
        discover(session, config, self.name).await
    }
}
