//! Tenancy settings: their shape is checked at the API, their meaning in the worker.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FieldProblem;
use super::snapshot::Snapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Table,
    Database,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClientColumnType {
    Number,
    String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenancySettings {
    pub tenancy_level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_client_name_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_primary_key_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_column_type: Option<ClientColumnType>,
}

const TABLE_FIELDS: &[&str] = &[
    "schemaName",
    "tableName",
    "tableClientNameColumn",
    "tablePrimaryKeyColumn",
];

/// Checks the shape of `tenancySettings`, naming every problem.
pub fn parse(value: &Value, allowed: &[Level]) -> Result<TenancySettings, Vec<FieldProblem>> {
    let p =
        |field: &str, problem: &str| FieldProblem::new(format!("tenancySettings.{field}"), problem);
    let Some(object) = value.as_object() else {
        return Err(vec![FieldProblem::new(
            "tenancySettings",
            "must be an object",
        )]);
    };
    let mut problems = Vec::new();
    for key in object.keys() {
        let known = key == "tenancyLevel"
            || key == "clientColumnType"
            || TABLE_FIELDS.contains(&key.as_str());
        if !known {
            problems.push(p(key, "unknown field"));
        }
    }
    let level = match object.get("tenancyLevel").and_then(Value::as_str) {
        Some("TABLE") => Some(Level::Table),
        Some("DATABASE") => Some(Level::Database),
        _ => {
            problems.push(p("tenancyLevel", "must be TABLE or DATABASE"));
            None
        }
    };
    if allowed.is_empty() {
        return Err(vec![p(
            "tenancyLevel",
            "this datasource type holds files, not databases or tables: it has no tenancy level",
        )]);
    }
    if let Some(level) = level {
        if !allowed.contains(&level) {
            problems.push(p("tenancyLevel", "this datasource type has no such level"));
        }
        if level == Level::Table {
            for field in TABLE_FIELDS {
                match object.get(*field) {
                    Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 128 => {}
                    Some(Value::String(_)) => {
                        problems.push(p(field, "must be 1 to 128 characters long"))
                    }
                    None | Some(Value::Null) => {
                        problems.push(p(field, "is required for TABLE tenancy"))
                    }
                    Some(_) => problems.push(p(field, "must be a string")),
                }
            }
            match object.get("clientColumnType").and_then(Value::as_str) {
                Some("NUMBER") | Some("STRING") => {}
                _ => problems.push(p("clientColumnType", "must be NUMBER or STRING")),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_json::from_value(value.clone())
        .map_err(|e| vec![FieldProblem::new("tenancySettings", e.to_string())])
}

/// Checks a TABLE mapping against the discovered schema; the message names what is missing.
pub fn check_against(settings: &TenancySettings, snapshot: &Snapshot) -> Result<(), String> {
    if settings.tenancy_level != Level::Table {
        return Ok(());
    }
    let schema = settings.schema_name.as_deref().unwrap_or_default();
    let table = settings.table_name.as_deref().unwrap_or_default();
    let Some(found) = snapshot.find_table(schema, table) else {
        return Err(format!("tenancy table {schema}.{table} does not exist"));
    };
    let missing: Vec<&str> = [
        settings.table_client_name_column.as_deref(),
        settings.table_primary_key_column.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|c| !found.columns.iter().any(|col| col.name == *c))
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tenancy table {schema}.{table} has no column {}",
            missing.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_tenancy_names_each_missing_field() {
        let err = parse(
            &json!({"tenancyLevel": "TABLE", "tableName": 3}),
            &[Level::Table],
        )
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tenancySettings.schemaName",
                "tenancySettings.tableName",
                "tenancySettings.tableClientNameColumn",
                "tenancySettings.tablePrimaryKeyColumn",
                "tenancySettings.clientColumnType"
            ]
        );
    }

    #[test]
    fn database_tenancy_needs_nothing_more() {
        let ok = parse(
            &json!({"tenancyLevel": "DATABASE"}),
            &[Level::Table, Level::Database],
        );
        assert_eq!(ok.unwrap().tenancy_level, Level::Database);
    }
}
