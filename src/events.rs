//! CloudEvents 1.0 published on the events exchange with routing key `<orgId>.<type>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub const DATASOURCE_READY: &str = "datasource.ready";
pub const DATASOURCE_FAILED: &str = "datasource.failed";
pub const DATASOURCE_DELETED: &str = "datasource.deleted";
pub const JOB_PROGRESS: &str = "job.progress";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub time: chrono::DateTime<chrono::Utc>,
    pub datacontenttype: String,
    pub data: Value,
}

impl CloudEvent {
    pub fn new(event_type: &str, org_id: Uuid, subject: &str, data: Value) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id: Uuid::now_v7().to_string(),
            source: format!("/onramp/orgs/{org_id}"),
            event_type: event_type.into(),
            subject: subject.into(),
            time: chrono::Utc::now(),
            datacontenttype: "application/json".into(),
            data,
        }
    }

    pub fn routing_key(&self, org_id: Uuid) -> String {
        format!("{org_id}.{}", self.event_type)
    }
}
