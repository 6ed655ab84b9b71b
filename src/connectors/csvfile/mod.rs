//! csv: one CSV file — at an http(s) URL, at an s3:// URL, or uploaded with the
//! request — as one table. Header, delimiter and quoting are sniffed and column
//! types inferred over `sampleRows` rows; a malformed row fails the job with its
//! line number; files over the size limit are refused.

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{CsvConfig, FIELDS};
pub use self::discover::discover;
pub use self::session::{Sample, connect};
use crate::connectors::ConnectorError;
use crate::connectors::Net;

/// A file has no databases or tables to split tenants by.
pub struct Csv;

impl crate::connectors::Connector for Csv {
    type Config = CsvConfig;
    type Session = Sample;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        FIELDS
    }

    fn tenancy_levels(&self) -> &'static [crate::domain::tenancy::Level] {
        &[]
    }

    fn check(&self, config: &CsvConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.check()
    }

    fn upload_replaces(&self) -> Option<&'static str> {
        Some("url")
    }

    fn needs_upload(&self, config: &CsvConfig) -> bool {
        !config.has_url()
    }

    fn prepare(&self, config: &mut CsvConfig, inputs: crate::connectors::JobInputs) {
        config.max_bytes = Some(inputs.file_max_bytes);
        config.upload = inputs.upload;
    }

    async fn connect(&self, config: &CsvConfig, net: &Net) -> Result<Sample, ConnectorError> {
        connect(config, net).await
    }

    async fn discover(
        &self,
        session: &mut Sample,
        config: &CsvConfig,
    ) -> Result<crate::domain::snapshot::Snapshot, ConnectorError> {
        discover(session, config)
    }
}
