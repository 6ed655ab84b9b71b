//! JSON Schemas of what onramp accepts and emits. Request schemas are generated from
//! the same field tables the API validates with; `schemas/` holds them as files, and a
//! test fails when the files and the code disagree (`onramp schemas --out schemas`).

use serde_json::{Value, json};

use crate::connectors::fields::json_schema;
use crate::connectors::{DatasourceType, Registered};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

fn tenancy_schema() -> Value {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 128});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["tenancyLevel"],
        "properties": {
            "tenancyLevel": {"enum": ["TABLE", "DATABASE"]},
            "schemaName": name, "tableName": name, "tableClientNameColumn": name, "tablePrimaryKeyColumn": name,
            "clientColumnType": {"enum": ["NUMBER", "STRING"]}
        },
        "if": {"properties": {"tenancyLevel": {"const": "TABLE"}}},
        "then": {"required": ["schemaName", "tableName", "tableClientNameColumn", "tablePrimaryKeyColumn", "clientColumnType"]}
    })
}

/// The create/update request body for one type.
pub fn request_schema(ty: DatasourceType) -> Value {
    let mut credentials = json_schema(ty.fields());
    crate::connectors::aliases::describe(ty, &mut credentials);
    json!({
        "$schema": DRAFT,
        "$id": format!("https://onramp.dev/schemas/request.{}.json", ty.as_str()),
        "title": format!("create or update a {} datasource", ty.as_str()),
        "type": "object",
        "additionalProperties": false,
        "required": ["datasourceType", "credentials"],
        "properties": {
            "datasourceType": {"const": ty.as_str()},
            "credentials": credentials,
            // Absent and null both mean "no tenancy settings".
            "tenancySettings": {"anyOf": [{"type": "null"}, tenancy_schema()]}
        }
    })
}

pub fn job_message_schema() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    json!({
        "$schema": DRAFT,
        "$id": "https://onramp.dev/schemas/job-message.json",
        "title": "job message on the jobs queue (never carries credentials)",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "jobId", "orgId", "datasourceId", "kind"],
        "properties": {
            "version": {"const": 1},
            "jobId": uuid, "orgId": uuid, "datasourceId": uuid,
            "kind": {"enum": ["create", "update", "sync", "test"]}
        }
    })
}

pub fn event_schema() -> Value {
    // In two parts: one json! of it all is past the macro's recursion limit.
    let data = json!({
        "type": "object",
        "properties": {
            "webhookId": {"type": "string", "format": "uuid", "description": "webhook.disabled"},
            "url": {"type": "string", "description": "webhook.disabled: the webhook's URL"},
            "reason": {"type": "string", "description": "webhook.disabled: why onramp disabled it"},
            "consecutiveFailures": {"type": "integer", "description": "webhook.disabled"},
            "jobId": {"type": "string", "format": "uuid"},
            "datasourceId": {"type": ["string", "null"], "format": "uuid",
                             "description": "null in the job.progress events of a test job"},
            "datasourceName": {"type": "string"},
            "datasourceType": {"type": "string"},
            "schema": {"type": "object"},
            "error": {"type": "object", "required": ["code", "message"]},
            "step": {"type": "object"},
            "fromHash": {"type": "string"},
            "toHash": {"type": "string"},
            "summary": {"type": "object", "description": "datasource.schema_changed: counts of the diff"},
            "changes": {"type": "array", "items": {"type": "object", "required": ["kind", "breaking", "database", "schema", "table"]},
                        "description": "datasource.schema_changed: the first 50 changes"},
            "truncated": {"type": "boolean", "description": "datasource.schema_changed: more changes than the event carries"},
            "links": {"type": "object", "properties": {"changes": {"type": "string"}}}
        }
    });
    json!({
        "$schema": DRAFT,
        "$id": "https://onramp.dev/schemas/event.json",
        "title": "CloudEvents 1.0 event on the events exchange, routing key <orgId>.<type> (each type's data in full: asyncapi.yaml)",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
        "if": {"properties": {"type": {"const": "webhook.disabled"}}},
        "then": {"properties": {"data": {"required": ["webhookId", "url", "reason", "consecutiveFailures"]}}},
        "else": {"properties": {"data": {"required": ["datasourceId", "datasourceName"]}}},
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string"},
            "source": {"type": "string"},
            "type": {"enum": ["datasource.ready", "datasource.failed", "job.progress", "datasource.deleted",
                              "datasource.schema_changed", "webhook.disabled"]},
            "subject": {"type": "string", "description": "the datasource name (the webhook id for webhook.disabled)"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "data": data
        }
    })
}

pub fn snapshot_schema() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let column = json!({
        "type": "object", "additionalProperties": false,
        "required": ["name", "ordinal", "nativeType", "type", "nullable", "default", "comment"],
        "properties": {
            "name": {"type": "string"}, "ordinal": {"type": "integer", "minimum": 1},
            "nativeType": {"type": "string"},
            "type": {"enum": ["integer", "float", "decimal", "string", "boolean", "date", "time", "timestamp", "json", "binary", "uuid", "array", "other"]},
            "nullable": {"type": "boolean"},
            "default": {"type": ["string", "null"]}, "comment": {"type": ["string", "null"]}
        }
    });
    let table = json!({
        "type": "object", "additionalProperties": false,
        "required": ["name", "kind", "comment", "rowEstimate", "primaryKey", "foreignKeys", "columns"],
        "properties": {
            "name": {"type": "string"},
            "kind": {"enum": ["table", "view", "materialized_view", "external", "collection", "index", "file"]},
            "comment": {"type": ["string", "null"]}, "rowEstimate": {"type": ["integer", "null"]},
            "primaryKey": strings,
            "foreignKeys": {"type": "array", "items": {
                "type": "object", "required": ["columns", "references"],
                "properties": {"columns": strings, "references": {
                    "type": "object", "required": ["schema", "table", "columns"],
                    "properties": {"schema": {"type": "string"}, "table": {"type": "string"}, "columns": strings}}}}},
            "columns": {"type": "array", "items": column},
            "readable": {"const": false, "description": "present only when the credentials cannot read the relation"},
            "partitions": {"type": "array", "items": {"type": "string"},
                           "description": "the leaf partitions folded into a partitioned table"},
            "properties": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "facts particular to a type, e.g. a ClickHouse engine, sortingKey, partitionKey"}
        }
    });
    let patterns = json!({"type": "object", "additionalProperties": false, "properties": {
        "include": strings, "exclude": strings}});
    json!({
        "$schema": DRAFT,
        "$id": "https://onramp.dev/schemas/snapshot.json",
        "title": "schema snapshot, the same shape for every datasource type",
        "type": "object", "additionalProperties": false,
        "required": ["datasourceType", "discoveredAt", "durationMs", "hash", "stats", "databases"],
        "properties": {
            "datasourceType": {"type": "string"},
            "discoveredAt": {"type": "string", "format": "date-time"},
            "durationMs": {"type": "integer", "minimum": 0},
            "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "stats": {"type": "object", "required": ["schemas", "tables", "columns"], "properties": {
                "schemas": {"type": "integer"}, "tables": {"type": "integer"}, "columns": {"type": "integer"}}},
            "filters": {"type": "object", "additionalProperties": false,
                        "description": "the credentials.schemaFilters the snapshot was taken with; absent when none",
                        "properties": {"databases": patterns, "schemas": patterns, "tables": patterns}},
            "databases": {"type": "array", "items": {
                "type": "object", "required": ["name", "schemas"], "properties": {
                    "name": {"type": "string"},
                    "schemas": {"type": "array", "items": {
                        "type": "object", "required": ["name", "tables"], "properties": {
                            "name": {"type": "string"}, "tables": {"type": "array", "items": table}}}}}}}
        }
    })
}

/// Every schema file, by file name.
pub fn all() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = DatasourceType::ALL
        .iter()
        .map(|t| (format!("request.{}.json", t.as_str()), request_schema(*t)))
        .collect();
    out.push(("job-message.json".into(), job_message_schema()));
    out.push(("event.json".into(), event_schema()));
    out.push(("snapshot.json".into(), snapshot_schema()));
    out
}

/// Writes every schema into `dir`, pretty-printed with a trailing newline.
pub fn write_all(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, schema) in all() {
        let text = serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n";
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_files_match_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        for (name, schema) in super::all() {
            let expected = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let found = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            assert_eq!(
                found, expected,
                "schemas/{name} is stale: run `cargo run -- schemas --out schemas`"
            );
        }
    }
}
