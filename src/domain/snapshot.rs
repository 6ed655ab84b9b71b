//! The schema snapshot: one shape for every datasource type (see DESIGN.md).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub datasource_type: String,
    pub discovered_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: u64,
    pub hash: String,
    pub stats: Stats,
    /// The `credentials.schemaFilters` the snapshot was taken with; absent when
    /// discovery read everything the credentials see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<super::schema_filters::SchemaFilters>,
    pub databases: Vec<Database>,
}

/// Feeds what serde_json writes into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub schemas: usize,
    pub tables: usize,
    pub columns: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Database {
    pub name: String,
    pub schemas: Vec<Schema>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Schema {
    pub name: String,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    #[default]
    Table,
    View,
    MaterializedView,
    External,
    Collection,
    Index,
    File,
}

/// `Table { name, kind, ..Default::default() }` starts one with no keys, columns or
/// facts, readable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
    pub comment: Option<String>,
    pub row_estimate: Option<i64>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub columns: Vec<Column>,
    /// False when the credentials may see the relation in the catalog but not read
    /// it (no USAGE on its schema, or no SELECT on it); shown only then.
    #[serde(default = "readable", skip_serializing_if = "is_readable")]
    pub readable: bool,
    /// The leaf partitions folded into this partitioned table (named alone in its
    /// own schema, `schema.name` in another); they are not listed as tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
    /// Facts particular to a type (a ClickHouse engine, sorting and partition keys).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub properties: std::collections::BTreeMap<String, String>,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            name: String::new(),
            kind: TableKind::default(),
            comment: None,
            row_estimate: None,
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            columns: Vec::new(),
            readable: true,
            partitions: Vec::new(),
            properties: Default::default(),
        }
    }
}

fn readable() -> bool {
    true
}

fn is_readable(readable: &bool) -> bool {
    *readable
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub references: Reference,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub name: String,
    pub ordinal: u32,
    pub native_type: String,
    #[serde(rename = "type")]
    pub family: TypeFamily,
    pub nullable: bool,
    pub default: Option<String>,
    pub comment: Option<String>,
}

/// The normalised type families every native type maps onto.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TypeFamily {
    Integer,
    Float,
    Decimal,
    String,
    Boolean,
    Date,
    Time,
    Timestamp,
    Json,
    Binary,
    Uuid,
    Array,
    Other,
}

/// The summary stored beside a datasource and reported in jobs and events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub schemas: usize,
    pub tables: usize,
    pub columns: usize,
    pub hash: String,
}

impl Schema {
    /// Groups tables by schema name, both sorted by name, so that snapshots of an
    /// unchanged catalog are identical (and hash alike) whatever order rows came in.
    pub fn group(tables: impl IntoIterator<Item = (String, Table)>) -> Vec<Schema> {
        let mut by_schema: std::collections::BTreeMap<String, Vec<Table>> = Default::default();
        for (schema, table) in tables {
            by_schema.entry(schema).or_default().push(table);
        }
        by_schema
            .into_iter()
            .map(|(name, mut tables)| {
                tables.sort_by(|a, b| a.name.cmp(&b.name));
                Schema { name, tables }
            })
            .collect()
    }
}

/// The most of a name or type text a snapshot keeps (PostgreSQL's identifiers are
/// 63 bytes, the longest of any supported type's a few hundred).
const NAME_MAX_BYTES: usize = 1024;
/// The most of a comment, default or property a snapshot keeps.
const NOTE_MAX_BYTES: usize = 4096;

fn bound(text: &mut String, max: usize) {
    if text.len() > max {
        *text = super::text::cut_target_text(text, max);
    }
}

/// Every text in a snapshot came from the target: cut what is longer than any real
/// catalog holds before it is stored, served and hashed.
fn bound_texts(databases: &mut [Database]) {
    for db in databases {
        bound(&mut db.name, NAME_MAX_BYTES);
        for schema in &mut db.schemas {
            bound(&mut schema.name, NAME_MAX_BYTES);
            for t in &mut schema.tables {
                bound(&mut t.name, NAME_MAX_BYTES);
                if let Some(c) = &mut t.comment {
                    bound(c, NOTE_MAX_BYTES);
                }
                for v in t.properties.values_mut() {
                    bound(v, NOTE_MAX_BYTES);
                }
                t.partitions
                    .iter_mut()
                    .for_each(|p| bound(p, NAME_MAX_BYTES));
                for k in t.primary_key.iter_mut() {
                    bound(k, NAME_MAX_BYTES);
                }
                for fk in &mut t.foreign_keys {
                    fk.columns.iter_mut().for_each(|c| bound(c, NAME_MAX_BYTES));
                    fk.references
                        .columns
                        .iter_mut()
                        .for_each(|c| bound(c, NAME_MAX_BYTES));
                    bound(&mut fk.references.schema, NAME_MAX_BYTES);
                    bound(&mut fk.references.table, NAME_MAX_BYTES);
                }
                for c in &mut t.columns {
                    bound(&mut c.name, NAME_MAX_BYTES);
                    bound(&mut c.native_type, NAME_MAX_BYTES);
                    if let Some(d) = &mut c.default {
                        bound(d, NOTE_MAX_BYTES);
                    }
                    if let Some(x) = &mut c.comment {
                        bound(x, NOTE_MAX_BYTES);
                    }
                }
            }
        }
    }
}

/// The hash of the schema alone: row estimates move with the data, not the schema,
/// so they are left out (taken out while hashing, then put back). The canonical JSON
/// goes straight into the hash: a wide schema's text is megabytes that need not be held.
fn schema_hash(
    databases: &mut [Database],
    filters: Option<&super::schema_filters::SchemaFilters>,
) -> String {
    fn tables(databases: &mut [Database]) -> impl Iterator<Item = &mut Table> {
        databases
            .iter_mut()
            .flat_map(|d| d.schemas.iter_mut())
            .flat_map(|s| s.tables.iter_mut())
    }
    let estimates: Vec<Option<i64>> = tables(databases).map(|t| t.row_estimate.take()).collect();
    let mut hasher = HashWriter(Sha256::new());
    // Plain structs of strings and numbers: serialising them cannot fail.
    let _ = serde_json::to_writer(&mut hasher, &*databases);
    // Filters are hashed when there are any, so that a snapshot taken with other
    // filters is written over the one before even when it reads the same tables.
    if let Some(f) = filters {
        let _ = serde_json::to_writer(&mut hasher, f);
    }
    for (table, estimate) in tables(databases).zip(estimates) {
        table.row_estimate = estimate;
    }
    hex::encode(hasher.0.finalize())
}

impl Snapshot {
    /// Builds a snapshot, computing stats and a content hash that ignores timing,
    /// so that an unchanged schema keeps its hash (and its HTTP ETag) across syncs.
    pub fn new(
        datasource_type: &str,
        databases: Vec<Database>,
        started: std::time::Instant,
    ) -> Snapshot {
        let mut databases = databases;
        bound_texts(&mut databases);
        let mut stats = Stats::default();
        for db in &databases {
            stats.schemas += db.schemas.len();
            for schema in &db.schemas {
                stats.tables += schema.tables.len();
                stats.columns += schema.tables.iter().map(|t| t.columns.len()).sum::<usize>();
            }
        }
        let hash = schema_hash(&mut databases, None);
        Snapshot {
            datasource_type: datasource_type.to_string(),
            discovered_at: chrono::Utc::now(),
            duration_ms: started.elapsed().as_millis() as u64,
            hash,
            stats,
            filters: None,
            databases,
        }
    }

    /// Records the filters the snapshot was taken with (none when empty).
    pub fn filtered_by(mut self, filters: &super::schema_filters::SchemaFilters) -> Snapshot {
        if !filters.is_empty() {
            self.hash = schema_hash(&mut self.databases, Some(filters));
            self.filters = Some(filters.clone());
        }
        self
    }

    pub fn summary(&self) -> Summary {
        Summary {
            schemas: self.stats.schemas,
            tables: self.stats.tables,
            columns: self.stats.columns,
            hash: self.hash.clone(),
        }
    }

    /// What the credentials cannot read: schemas none of whose relations are
    /// readable, and the unreadable relations of the other schemas (`schema.name`).
    pub fn unreadable(&self) -> (Vec<String>, Vec<String>) {
        let (mut schemas, mut relations) = (Vec::new(), Vec::new());
        for schema in self.databases.iter().flat_map(|d| d.schemas.iter()) {
            let blocked: Vec<&Table> = schema.tables.iter().filter(|t| !t.readable).collect();
            if blocked.is_empty() {
                continue;
            }
            if blocked.len() == schema.tables.len() {
                schemas.push(schema.name.clone());
            } else {
                relations.extend(
                    blocked
                        .iter()
                        .map(|t| format!("{}.{}", schema.name, t.name)),
                );
            }
        }
        (schemas, relations)
    }

    pub fn find_table(&self, schema: &str, table: &str) -> Option<&Table> {
        self.databases
            .iter()
            .flat_map(|d| d.schemas.iter())
            .filter(|s| s.name == schema)
            .flat_map(|s| s.tables.iter())
            .find(|t| t.name == table)
    }
}
