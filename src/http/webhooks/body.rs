//! The bodies of webhook requests: their JSON Schemas (for the OpenAPI document)
//! and their checks, which name every problem at once.

use serde_json::{Map, Value};

use crate::domain::FieldProblem;
use crate::domain::webhooks::EVENT_TYPES;
use crate::storage::webhooks::Changes;

pub const DESCRIPTION_MAX_CHARS: usize = 256;

/// An event type a webhook may subscribe to, or `*` for all.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookEventType)]
#[allow(dead_code)]
pub enum Subscription {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "datasource.ready")]
    Ready,
    #[serde(rename = "datasource.failed")]
    Failed,
    #[serde(rename = "datasource.deleted")]
    Deleted,
    #[serde(rename = "datasource.schema_changed")]
    SchemaChanged,
    #[serde(rename = "job.progress")]
    Progress,
    #[serde(rename = "webhook.disabled")]
    Disabled,
    #[serde(rename = "webhook.test")]
    Test,
}

/// `POST /api/v2/webhooks`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CreateWebhookBody {
    /// Where deliveries are POSTed: https (http only to loopback hosts where the
    /// deployment allows it).
    #[schema(max_length = 2048)]
    url: String,
    /// The event types to deliver; `*` for all.
    #[schema(min_items = 1, max_items = 8)]
    events: Vec<Subscription>,
    #[schema(max_length = 256, nullable)]
    description: Option<String>,
}

/// `PATCH /api/v2/webhooks/{webhookId}`: only what changes.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UpdateWebhookBody {
    #[schema(max_length = 2048)]
    url: Option<String>,
    #[schema(min_items = 1, max_items = 8)]
    events: Option<Vec<Subscription>>,
    /// null clears it.
    #[schema(max_length = 256, nullable)]
    description: Option<String>,
    /// true enables a disabled webhook (its failures count from 0 again).
    enabled: Option<bool>,
    /// true makes a new signing secret (answered once); the previous one signs
    /// too for `webhook_secret_grace_seconds`.
    rotate_secret: Option<bool>,
}

fn events(value: &Value, problems: &mut Vec<FieldProblem>) -> Option<Vec<String>> {
    let Some(items) = value.as_array() else {
        problems.push(FieldProblem::new(
            "events",
            "must be an array of event types",
        ));
        return None;
    };
    if items.is_empty() || items.len() > EVENT_TYPES.len() + 1 {
        problems.push(FieldProblem::new(
            "events",
            format!("must hold 1 to {} event types", EVENT_TYPES.len() + 1),
        ));
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(t) if t == "*" || EVENT_TYPES.contains(&t) => {
                if !out.iter().any(|o| o == t) {
                    out.push(t.to_string());
                }
            }
            _ => problems.push(FieldProblem::new(
                format!("events[{i}]"),
                format!("must be \"*\" or one of {}", EVENT_TYPES.join(", ")),
            )),
        }
    }
    Some(out)
}

fn description(value: &Value, problems: &mut Vec<FieldProblem>) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s)
            if s.chars().count() <= DESCRIPTION_MAX_CHARS && !s.chars().any(char::is_control) =>
        {
            Some(Some(s.clone()))
        }
        _ => {
            problems.push(FieldProblem::new(
                "description",
                format!(
                    "must be a string of at most {DESCRIPTION_MAX_CHARS} characters without control characters, or null"
                ),
            ));
            None
        }
    }
}

fn unknown(body: &Map<String, Value>, known: &[&str], problems: &mut Vec<FieldProblem>) {
    for key in body.keys().filter(|k| !known.contains(&k.as_str())) {
        problems.push(FieldProblem::new(
            crate::domain::text::cut_target_text(key, 64),
            "unknown field",
        ));
    }
}

/// A create: the URL (checked by `check_url`), the subscriptions, the description.
pub fn create(
    body: &Map<String, Value>,
    check_url: impl Fn(&str) -> Result<String, String>,
) -> Result<(String, Vec<String>, Option<String>), Vec<FieldProblem>> {
    let mut problems = Vec::new();
    unknown(body, &["url", "events", "description"], &mut problems);
    let url = match body.get("url") {
        Some(Value::String(u)) => check_url(u)
            .map_err(|why| problems.push(FieldProblem::new("url", why)))
            .ok(),
        Some(_) => {
            problems.push(FieldProblem::new("url", "must be a string"));
            None
        }
        None => {
            problems.push(FieldProblem::new("url", "is required"));
            None
        }
    };
    let subscribed = match body.get("events") {
        Some(v) => events(v, &mut problems),
        None => {
            problems.push(FieldProblem::new("events", "is required"));
            None
        }
    };
    let described = body
        .get("description")
        .map(|v| description(v, &mut problems));
    match (url, subscribed) {
        (Some(url), Some(events)) if problems.is_empty() => {
            Ok((url, events, described.flatten().flatten()))
        }
        _ => Err(problems),
    }
}

/// A PATCH: at least one change.
pub fn update(
    body: &Map<String, Value>,
    check_url: impl Fn(&str) -> Result<String, String>,
) -> Result<Changes, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    unknown(
        body,
        &["url", "events", "description", "enabled", "rotateSecret"],
        &mut problems,
    );
    let mut changes = Changes::default();
    match body.get("url") {
        None => {}
        Some(Value::String(u)) => match check_url(u) {
            Ok(u) => changes.url = Some(u),
            Err(why) => problems.push(FieldProblem::new("url", why)),
        },
        Some(_) => problems.push(FieldProblem::new("url", "must be a string")),
    }
    if let Some(v) = body.get("events") {
        changes.events = events(v, &mut problems);
    }
    if let Some(v) = body.get("description") {
        changes.description = description(v, &mut problems);
    }
    let mut switch = |field: &str| match body.get(field) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            problems.push(FieldProblem::new(field, "must be true or false"));
            None
        }
    };
    changes.enabled = switch("enabled");
    changes.rotate_secret = switch("rotateSecret") == Some(true);
    if body.is_empty() {
        problems.push(FieldProblem::new(
            "body",
            "names nothing to change: give url, events, description, enabled or rotateSecret",
        ));
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn any_url(u: &str) -> Result<String, String> {
        if u.starts_with("https://") {
            Ok(u.to_string())
        } else {
            Err("must be https".into())
        }
    }

    #[test]
    fn a_create_names_every_problem() {
        let ok = create(
            &obj(json!({"url": "https://h/x", "events": ["datasource.ready", "datasource.ready"]})),
            any_url,
        )
        .unwrap();
        assert_eq!(ok.1, vec!["datasource.ready"]);
        let problems = create(
            &obj(json!({"url": "http://h", "events": ["nope"], "description": 3, "x": 1})),
            any_url,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["x", "url", "events[0]", "description"]);
        assert!(create(&obj(json!({})), any_url).unwrap_err().len() == 2);
    }

    #[test]
    fn an_update_needs_a_change_and_checks_its_kinds() {
        let c = update(
            &obj(json!({"enabled": true, "rotateSecret": true})),
            any_url,
        )
        .unwrap();
        assert_eq!(c.enabled, Some(true));
        assert!(c.rotate_secret);
        let c = update(&obj(json!({"description": null})), any_url).unwrap();
        assert_eq!(c.description, Some(None));
        assert!(update(&obj(json!({})), any_url).is_err());
        assert!(update(&obj(json!({"enabled": "yes"})), any_url).is_err());
        assert!(update(&obj(json!({"events": []})), any_url).is_err());
    }
}
