//! Discovery: indices and aliases as tables, mapped fields as columns (nested
//! properties as dotted paths), and the field types mapped onto families.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::config::SearchConfig;
use super::session::SearchSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::domain::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind, TypeFamily};

pub async fn discover(
    s: &SearchSession,
    cfg: &SearchConfig,
    flavor: &str,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let pattern: String = cfg
        .index_pattern
        .split(',')
        .map(|p| encode_segment(p.trim()))
        .collect::<Vec<_>>()
        .join(",");
    let (cat, mapping, alias) = (
        format!("_cat/indices/{pattern}?format=json"),
        format!("{pattern}/_mapping"),
        format!("{pattern}/_alias"),
    );
    let (indices, mappings, aliases) =
        tokio::try_join!(s.get(&cat), s.get(&mapping), s.get(&alias))?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for entry in indices.as_array().into_iter().flatten() {
        // Index names are lower case; the filter narrows what the index pattern
        // matched (a glob cannot be intersected with another in the request).
        let Some(index) = entry["index"]
            .as_str()
            .filter(|i| !i.starts_with('.'))
            .filter(|i| cfg.schema_filters.tables.keeps(i, Case::Insensitive))
        else {
            continue;
        };
        let mut columns = Vec::new();
        flatten(
            "",
            &mappings[index]["mappings"]["properties"],
            &mut columns,
            0,
        );
        let mut properties = BTreeMap::new();
        if let Some(health) = entry["health"].as_str() {
            properties.insert("health".to_string(), health.to_string());
        }
        tables.insert(
            index.to_string(),
            Table {
                name: index.to_string(),
                kind: TableKind::Index,
                comment: None,
                row_estimate: entry["docs.count"].as_str().and_then(|n| n.parse().ok()),
                primary_key: vec!["_id".to_string()],
                foreign_keys: Vec::new(),
                columns,
                properties,
                ..Default::default()
            },
        );
    }
    // An alias reads like a view over its indices: it takes the first index's fields.
    // The filter applies to the alias's own name, not to the indices behind it.
    let mut alias_targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (index, entry) in aliases.as_object().into_iter().flatten() {
        for alias in entry["aliases"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(a, _)| a)
        {
            alias_targets
                .entry(alias.clone())
                .or_default()
                .push(index.clone());
        }
    }
    for (alias, mut targets) in alias_targets {
        if !cfg.schema_filters.tables.keeps(&alias, Case::Insensitive) {
            continue;
        }
        targets.sort();
        // An alias is kept or dropped by its own name: its fields come from its
        // first index's mapping whether or not the filter keeps that index.
        let Some(first) = targets
            .iter()
            .find(|t| !t.starts_with('.') && mappings[t.as_str()]["mappings"].is_object())
        else {
            continue;
        };
        let mut columns = Vec::new();
        flatten(
            "",
            &mappings[first.as_str()]["mappings"]["properties"],
            &mut columns,
            0,
        );
        let mut properties = BTreeMap::new();
        properties.insert("indices".to_string(), targets.join(", "));
        let table = Table {
            name: alias.clone(),
            kind: TableKind::View,
            comment: Some(format!("alias of {}", targets.join(", "))),
            row_estimate: None,
            primary_key: vec!["_id".to_string()],
            foreign_keys: Vec::new(),
            columns,
            properties,
            ..Default::default()
        };
        tables.insert(alias, table);
    }
    let databases = vec![Database {
        name: s.distribution.clone(),
        schemas: vec![Schema {
            name: cfg.index_pattern.clone(),
            tables: tables.into_values().collect(),
        }],
    }];
    Ok(Snapshot::new(flavor, databases, started))
}

/// Mapped fields as columns; object fields contribute their sub-fields as dotted paths.
fn flatten(prefix: &str, properties: &Value, out: &mut Vec<Column>, depth: usize) {
    for (name, field) in properties.as_object().into_iter().flatten() {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let kind = field["type"].as_str().unwrap_or("object");
        if kind == "object"
            && field["properties"].is_object()
            && depth < crate::connectors::MAX_NESTING
        {
            flatten(&path, &field["properties"], out, depth + 1);
            continue;
        }
        out.push(Column {
            ordinal: out.len() as u32 + 1,
            name: path,
            native_type: kind.to_string(),
            family: family(kind),
            nullable: true,
            default: None,
            comment: None,
        });
    }
}

fn family(kind: &str) -> TypeFamily {
    match kind {
        "text" | "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "ip"
        | "version" | "search_as_you_type" => TypeFamily::String,
        "long" | "integer" | "short" | "byte" | "unsigned_long" => TypeFamily::Integer,
        "double" | "float" | "half_float" | "scaled_float" => TypeFamily::Float,
        "boolean" => TypeFamily::Boolean,
        "date" | "date_nanos" => TypeFamily::Timestamp,
        "binary" => TypeFamily::Binary,
        "nested" | "dense_vector" | "knn_vector" => TypeFamily::Array,
        "object" | "flattened" | "flat_object" => TypeFamily::Json,
        _ => TypeFamily::Other,
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so an index
/// pattern is one path segment whatever it holds.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
