//! The fields of a collection from a bounded sample of its documents: nested
//! documents as dotted paths, every BSON type a field was seen with, and the share
//! of sampled documents that have it.

use std::collections::{BTreeMap, BTreeSet};

use mongodb::bson::{Bson, Document};

use crate::domain::snapshot::{Column, TypeFamily};

#[derive(Default)]
struct Seen {
    order: usize,
    types: BTreeSet<&'static str>,
    documents: usize,
    null: bool,
}

/// BSON's own type names, as `$type` reports them.
pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Array(_) => "array",
        Bson::Document(_) => "object",
        Bson::Boolean(_) => "bool",
        Bson::Null | Bson::Undefined => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::JavaScriptCode(_) | Bson::JavaScriptCodeWithScope(_) => "javascript",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Timestamp(_) => "timestamp",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::DateTime(_) => "date",
        Bson::Symbol(_) => "symbol",
        Bson::Decimal128(_) => "decimal",
        Bson::MaxKey => "maxKey",
        Bson::MinKey => "minKey",
        Bson::DbPointer(_) => "dbPointer",
    }
}

fn family_of(name: &str) -> TypeFamily {
    match name {
        "int" | "long" => TypeFamily::Integer,
        "double" => TypeFamily::Float,
        "decimal" => TypeFamily::Decimal,
        "string" | "symbol" | "regex" | "javascript" => TypeFamily::String,
        "bool" => TypeFamily::Boolean,
        "date" | "timestamp" => TypeFamily::Timestamp,
        "binData" => TypeFamily::Binary,
        "objectId" => TypeFamily::String,
        "array" => TypeFamily::Array,
        "object" => TypeFamily::Json,
        _ => TypeFamily::Other,
    }
}

/// One family for a field seen with several types: numbers widen, anything else mixed is `other`.
fn family(types: &BTreeSet<&'static str>) -> TypeFamily {
    let families: BTreeSet<_> = types.iter().map(|t| family_of(t) as u8).collect();
    match types.len() {
        0 => TypeFamily::Other,
        1 => family_of(types.iter().next().unwrap()),
        _ if types.iter().all(|t| matches!(*t, "int" | "long")) => TypeFamily::Integer,
        _ if types
            .iter()
            .all(|t| matches!(*t, "int" | "long" | "double" | "decimal")) =>
        {
            TypeFamily::Float
        }
        _ if families.len() == 1 => family_of(types.iter().next().unwrap()),
        _ => TypeFamily::Other,
    }
}

fn visit(
    prefix: &str,
    doc: &Document,
    fields: &mut BTreeMap<String, Seen>,
    in_doc: &mut BTreeSet<String>,
    depth: usize,
) {
    for (key, value) in doc {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let order = fields.len();
        let seen = fields.entry(path.clone()).or_insert_with(|| Seen {
            order,
            ..Seen::default()
        });
        if in_doc.insert(path.clone()) {
            seen.documents += 1;
        }
        match value {
            Bson::Null | Bson::Undefined => seen.null = true,
            other => {
                seen.types.insert(type_name(other));
            }
        }
        // Deeper levels are reported as their parent's `object`: the documents are
        // the server's, and their nesting must not decide how deep this recursion goes.
        if depth + 1 >= crate::connectors::MAX_NESTING {
            continue;
        }
        match value {
            Bson::Document(inner) => visit(&path, inner, fields, in_doc, depth + 1),
            // Documents inside arrays describe the array's elements: `items.sku`.
            Bson::Array(items) => {
                for item in items {
                    if let Bson::Document(inner) = item {
                        visit(&path, inner, fields, in_doc, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

pub fn columns(sample: &[Document]) -> Vec<Column> {
    let mut fields: BTreeMap<String, Seen> = BTreeMap::new();
    for doc in sample {
        let mut in_doc = BTreeSet::new();
        visit("", doc, &mut fields, &mut in_doc, 0);
    }
    let total = sample.len();
    let mut ordered: Vec<(String, Seen)> = fields.into_iter().collect();
    ordered.sort_by_key(|(_, s)| s.order);
    ordered
        .into_iter()
        .enumerate()
        .map(|(i, (name, seen))| {
            let native = if seen.types.is_empty() {
                "null".to_string()
            } else {
                seen.types.iter().copied().collect::<Vec<_>>().join("|")
            };
            let share = seen.documents as f64 * 100.0 / total.max(1) as f64;
            Column {
                nullable: seen.null || seen.documents < total,
                family: family(&seen.types),
                native_type: native,
                name,
                ordinal: i as u32 + 1,
                default: None,
                comment: Some(format!(
                    "present in {} of {total} sampled documents ({share:.0}%)",
                    seen.documents
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn nested_paths_mixed_types_and_presence_are_reported() {
        let sample = vec![
            doc! {"_id": 1, "name": "a", "address": {"city": "Oslo", "zip": "0150"}, "items": [{"sku": "x"}]},
            doc! {"_id": 2, "name": 7, "address": {"city": "Bergen"}},
            doc! {"_id": 3, "name": "c", "score": 1.5, "address": null},
            doc! {"_id": 4, "name": "d", "score": 2_i64},
        ];
        let cols = columns(&sample);
        let by = |n: &str| {
            cols.iter()
                .find(|c| c.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(by("_id").native_type, "int");
        assert!(!by("_id").nullable);
        assert_eq!(by("name").native_type, "int|string");
        assert_eq!(by("name").family, TypeFamily::Other);
        assert_eq!(by("address.city").family, TypeFamily::String);
        assert_eq!(
            by("address.zip").comment.as_deref(),
            Some("present in 1 of 4 sampled documents (25%)")
        );
        assert_eq!(by("score").native_type, "double|long");
        assert_eq!(by("score").family, TypeFamily::Float);
        assert!(by("address").nullable);
        assert_eq!(by("items.sku").family, TypeFamily::String);
        assert_eq!(by("items").family, TypeFamily::Array);
    }
}
