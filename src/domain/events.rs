//! CloudEvents 1.0 published on the events exchange with routing key `<orgId>.<type>`.

use crate::domain::OrgId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub const DATASOURCE_READY: &str = "datasource.ready";
pub const DATASOURCE_FAILED: &str = "datasource.failed";
pub const DATASOURCE_DELETED: &str = "datasource.deleted";
pub const JOB_PROGRESS: &str = "job.progress";
pub const DATASOURCE_SCHEMA_CHANGED: &str = "datasource.schema_changed";

/// The namespace of onramp's name-based (v5) event ids.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6f6e_7261_6d70_4e00_8000_6576_656e_7473);

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
    pub fn new(event_type: &str, org_id: OrgId, subject: &str, data: Value) -> CloudEvent {
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

    /// The same event id for the same outcome, however often it is published or
    /// computed again (a job finished by a second worker after a takeover, a relay
    /// that published before it crashed): subscribers deduplicate by `id`.
    pub fn identified_by(mut self, parts: &[&str]) -> CloudEvent {
        let name = format!("onramp:{}:{}", self.event_type, parts.join(":"));
        self.id = Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()).to_string();
        self
    }

    pub fn routing_key(&self, org_id: OrgId) -> String {
        format!("{org_id}.{}", self.event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_outcome_has_the_same_event_id_and_others_differ() {
        let (org, job) = (OrgId::generate(), Uuid::new_v4().to_string());
        let ready =
            || CloudEvent::new(DATASOURCE_READY, org, "ds", Value::Null).identified_by(&[&job]);
        assert_eq!(ready().id, ready().id);
        let failed =
            CloudEvent::new(DATASOURCE_FAILED, org, "ds", Value::Null).identified_by(&[&job]);
        assert_ne!(ready().id, failed.id);
        let other = CloudEvent::new(DATASOURCE_READY, org, "ds", Value::Null)
            .identified_by(&[&Uuid::new_v4().to_string()]);
        assert_ne!(ready().id, other.id);
    }
}
