//! What changed between two snapshots of a datasource: relations and columns added,
//! removed or retyped, nullability, defaults, keys and comments. A change that can
//! break a reader (something removed, a column's type changed) is `breaking`.
//! Row estimates are not part of a schema and never count as a change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::snapshot::{Column, Snapshot, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    TableAdded,
    TableRemoved,
    /// A table became a view, say.
    KindChanged,
    ColumnAdded,
    ColumnRemoved,
    /// The type family or the native type changed.
    ColumnRetyped,
    NullabilityChanged,
    DefaultChanged,
    CommentChanged,
    PrimaryKeyChanged,
    ForeignKeysChanged,
    PartitionsChanged,
}

impl ChangeKind {
    fn breaking(self) -> bool {
        matches!(
            self,
            ChangeKind::TableRemoved
                | ChangeKind::KindChanged
                | ChangeKind::ColumnRemoved
                | ChangeKind::ColumnRetyped
        )
    }
}

/// One change. `from` and `to` are the old and new values where the change has
/// them (a type, a nullability, a key's columns), as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub kind: ChangeKind,
    pub breaking: bool,
    pub database: String,
    pub schema: String,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffSummary {
    pub changes: usize,
    pub breaking: usize,
    pub tables_added: usize,
    pub tables_removed: usize,
    pub columns_added: usize,
    pub columns_removed: usize,
    pub columns_retyped: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDiff {
    pub from_hash: String,
    pub to_hash: String,
    pub summary: DiffSummary,
    pub changes: Vec<Change>,
}

type Key<'a> = (&'a str, &'a str, &'a str);

fn tables(snapshot: &Snapshot) -> BTreeMap<Key<'_>, &Table> {
    let mut out = BTreeMap::new();
    for db in &snapshot.databases {
        for schema in &db.schemas {
            for t in &schema.tables {
                out.insert((db.name.as_str(), schema.name.as_str(), t.name.as_str()), t);
            }
        }
    }
    out
}

struct Recorder<'a> {
    key: Key<'a>,
    out: &'a mut Vec<Change>,
}

impl Recorder<'_> {
    fn push(
        &mut self,
        kind: ChangeKind,
        column: Option<&str>,
        from: Option<String>,
        to: Option<String>,
    ) {
        self.out.push(Change {
            kind,
            breaking: kind.breaking(),
            database: self.key.0.to_string(),
            schema: self.key.1.to_string(),
            table: self.key.2.to_string(),
            column: column.map(str::to_string),
            from,
            to,
        });
    }

    fn if_changed<T: PartialEq + std::fmt::Debug>(
        &mut self,
        kind: ChangeKind,
        column: Option<&str>,
        from: &T,
        to: &T,
        text: fn(&T) -> String,
    ) {
        if from != to {
            self.push(kind, column, Some(text(from)), Some(text(to)));
        }
    }
}

fn optional(text: &Option<String>) -> String {
    text.clone().unwrap_or_else(|| "(none)".into())
}

fn list(names: &[String]) -> String {
    names.join(", ")
}

fn column_type(c: &Column) -> String {
    format!(
        "{} ({})",
        c.native_type,
        serde_json::to_value(c.family)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    )
}

fn compare_columns(r: &mut Recorder<'_>, old: &Table, new: &Table) {
    let old_columns: BTreeMap<&str, &Column> =
        old.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let new_columns: BTreeMap<&str, &Column> =
        new.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    for (name, was) in &old_columns {
        let Some(now) = new_columns.get(name) else {
            r.push(
                ChangeKind::ColumnRemoved,
                Some(name),
                Some(column_type(was)),
                None,
            );
            continue;
        };
        if was.family != now.family || was.native_type != now.native_type {
            r.push(
                ChangeKind::ColumnRetyped,
                Some(name),
                Some(column_type(was)),
                Some(column_type(now)),
            );
        }
        let nullable = |n: &bool| {
            if *n {
                "nullable".to_string()
            } else {
                "not null".to_string()
            }
        };
        r.if_changed(
            ChangeKind::NullabilityChanged,
            Some(name),
            &was.nullable,
            &now.nullable,
            nullable,
        );
        r.if_changed(
            ChangeKind::DefaultChanged,
            Some(name),
            &was.default,
            &now.default,
            optional,
        );
        r.if_changed(
            ChangeKind::CommentChanged,
            Some(name),
            &was.comment,
            &now.comment,
            optional,
        );
    }
    for (name, now) in &new_columns {
        if !old_columns.contains_key(name) {
            r.push(
                ChangeKind::ColumnAdded,
                Some(name),
                None,
                Some(column_type(now)),
            );
        }
    }
}

fn foreign_keys(t: &Table) -> Vec<String> {
    let mut keys: Vec<String> = t
        .foreign_keys
        .iter()
        .map(|fk| {
            format!(
                "({}) → {}.{} ({})",
                fk.columns.join(", "),
                fk.references.schema,
                fk.references.table,
                fk.references.columns.join(", ")
            )
        })
        .collect();
    keys.sort();
    keys
}

/// The changes from `old` to `new`, in the order of their relations' names; empty
/// when only timings or row estimates differ.
pub fn diff(old: &Snapshot, new: &Snapshot) -> SchemaDiff {
    let (before, after) = (tables(old), tables(new));
    let mut changes = Vec::new();
    for (key, was) in &before {
        let mut r = Recorder {
            key: *key,
            out: &mut changes,
        };
        let Some(now) = after.get(key) else {
            r.push(ChangeKind::TableRemoved, None, None, None);
            continue;
        };
        let kind = |k: &super::snapshot::TableKind| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        r.if_changed(ChangeKind::KindChanged, None, &was.kind, &now.kind, kind);
        r.if_changed(
            ChangeKind::CommentChanged,
            None,
            &was.comment,
            &now.comment,
            optional,
        );
        compare_columns(&mut r, was, now);
        r.if_changed(
            ChangeKind::PrimaryKeyChanged,
            None,
            &was.primary_key,
            &now.primary_key,
            |k| list(k),
        );
        r.if_changed(
            ChangeKind::ForeignKeysChanged,
            None,
            &foreign_keys(was),
            &foreign_keys(now),
            |k| k.join("; "),
        );
        r.if_changed(
            ChangeKind::PartitionsChanged,
            None,
            &was.partitions,
            &now.partitions,
            |k| list(k),
        );
    }
    for key in after.keys() {
        if !before.contains_key(key) {
            Recorder {
                key: *key,
                out: &mut changes,
            }
            .push(ChangeKind::TableAdded, None, None, None);
        }
    }
    let mut summary = DiffSummary {
        changes: changes.len(),
        ..Default::default()
    };
    for c in &changes {
        summary.breaking += usize::from(c.breaking);
        match c.kind {
            ChangeKind::TableAdded => summary.tables_added += 1,
            ChangeKind::TableRemoved => summary.tables_removed += 1,
            ChangeKind::ColumnAdded => summary.columns_added += 1,
            ChangeKind::ColumnRemoved => summary.columns_removed += 1,
            ChangeKind::ColumnRetyped => summary.columns_retyped += 1,
            _ => {}
        }
    }
    SchemaDiff {
        from_hash: old.hash.clone(),
        to_hash: new.hash.clone(),
        summary,
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::snapshot::{Database, ForeignKey, Reference, Schema, TableKind, TypeFamily};

    fn column(name: &str, native: &str, family: TypeFamily, nullable: bool) -> Column {
        Column {
            name: name.into(),
            ordinal: 1,
            native_type: native.into(),
            family,
            nullable,
            default: None,
            comment: None,
        }
    }

    fn snapshot(tables: Vec<Table>) -> Snapshot {
        Snapshot::new(
            "postgres",
            vec![Database {
                name: "db".into(),
                schemas: vec![Schema {
                    name: "public".into(),
                    tables,
                }],
            }],
            std::time::Instant::now(),
        )
    }

    fn orders() -> Table {
        Table {
            name: "orders".into(),
            columns: vec![
                column("id", "bigint", TypeFamily::Integer, false),
                column("amount", "numeric(12,2)", TypeFamily::Decimal, true),
                column("note", "text", TypeFamily::String, true),
            ],
            primary_key: vec!["id".into()],
            row_estimate: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn an_unchanged_schema_has_no_changes_and_keeps_its_hash_whatever_its_row_estimates() {
        let old = snapshot(vec![orders()]);
        let mut grown = orders();
        grown.row_estimate = Some(1_000_000);
        let new = snapshot(vec![grown]);
        assert_eq!(old.hash, new.hash);
        assert!(diff(&old, &new).changes.is_empty());
    }

    #[test]
    fn removals_and_retypes_are_breaking_additions_and_other_changes_are_not() {
        let mut changed = orders();
        changed.columns.retain(|c| c.name != "note");
        changed.columns[1] = column("amount", "double precision", TypeFamily::Float, false);
        changed
            .columns
            .push(column("paid", "boolean", TypeFamily::Boolean, true));
        changed.comment = Some("money".into());
        changed.foreign_keys.push(ForeignKey {
            columns: vec!["id".into()],
            references: Reference {
                schema: "public".into(),
                table: "ledger".into(),
                columns: vec!["id".into()],
            },
        });
        let view = Table {
            name: "v".into(),
            kind: TableKind::View,
            ..Default::default()
        };
        let old = snapshot(vec![
            orders(),
            Table {
                name: "gone".into(),
                ..Default::default()
            },
        ]);
        let new = snapshot(vec![changed, view]);
        let d = diff(&old, &new);
        let kinds: Vec<(ChangeKind, Option<&str>, bool)> = d
            .changes
            .iter()
            .map(|c| (c.kind, c.column.as_deref(), c.breaking))
            .collect();
        assert_eq!(
            kinds,
            [
                (ChangeKind::TableRemoved, None, true),
                (ChangeKind::CommentChanged, None, false),
                (ChangeKind::ColumnRetyped, Some("amount"), true),
                (ChangeKind::NullabilityChanged, Some("amount"), false),
                (ChangeKind::ColumnRemoved, Some("note"), true),
                (ChangeKind::ColumnAdded, Some("paid"), false),
                (ChangeKind::ForeignKeysChanged, None, false),
                (ChangeKind::TableAdded, None, false),
            ]
        );
        assert_eq!(d.summary.breaking, 3);
        assert_eq!(d.summary.columns_retyped, 1);
        assert_eq!(
            d.changes[2].from.as_deref(),
            Some("numeric(12,2) (decimal)")
        );
        assert_eq!(d.changes[2].to.as_deref(), Some("double precision (float)"));
        assert_ne!(d.from_hash, d.to_hash);
    }
}
