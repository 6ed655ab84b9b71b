//! The stored form of a snapshot: its JSON as a run of zstd frames. A zstd stream may
//! be several frames, decoded one after the other, so the frames together are the
//! whole JSON compressed: a client that takes zstd gets the stored bytes as they are.
//! The tables go into frames of their own, about 256 KiB of JSON each, with the text
//! between them (the head, names, brackets and commas) in small frames of its own, so
//! that one schema is a byte range of the stored value and one table is one frame of
//! it: a partial read fetches those bytes with GETRANGE and nothing else. An index,
//! stored beside the value, says where each schema's frames are and which tables each
//! frame holds.

use serde::{Deserialize, Serialize};
use std::io::Read;

use crate::domain::snapshot::{Snapshot, Stats, Table};

/// The `format` recorded beside a snapshot written this way; a snapshot without one
/// is plain JSON (written before snapshots were compressed).
pub const FORMAT: &str = "zstd-frames-1";
/// About how much table JSON goes into one frame. Each frame starts zstd's window
/// afresh, so small frames cost size: on the reference workload 64 KiB frames stored
/// 3.4× what one frame of the whole did, 256 KiB 1.6× (BENCHMARKS.md, section 6),
/// while a read of one table still inflates at most a quarter of a megabyte.
const FRAME_BYTES: usize = 256 * 1024;
/// zstd's default level: on the reference workload level 1 was as fast and 5% smaller,
/// level 9 a quarter smaller and 9 times as slow, level 19 a third smaller and 1,600
/// times as slow (BENCHMARKS.md, section 6).
const LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("zstd: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the stored snapshot inflates to more than {0} bytes")]
    TooLarge(usize),
    #[error("the stored snapshot is not as its index says: {0}")]
    Inconsistent(&'static str),
    #[error("the stored snapshot's format {0:?} is not one this onramp reads")]
    UnknownFormat(String),
}

/// Where the parts of a stored snapshot are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The JSON before the first database, up to and including `"databases":[`.
    pub head: String,
    pub schemas: Vec<IndexedSchema>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedSchema {
    /// The database's place in the snapshot (two databases may share a name).
    pub database_at: usize,
    pub database: String,
    pub name: String,
    /// The frames of its tables, in order.
    pub frames: Vec<IndexedFrame>,
}

/// A byte range `[start, end)` of the stored value and the tables its frame holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFrame {
    pub start: usize,
    pub end: usize,
    pub tables: Vec<String>,
}

impl IndexedSchema {
    /// From the first of its table frames to the end of the last, with the comma
    /// frames between them: the schema's tables, compressed, as stored.
    pub fn range(&self) -> Option<(usize, usize)> {
        Some((self.frames.first()?.start, self.frames.last()?.end))
    }
}

/// A snapshot ready to store: the frames, and the index compressed.
pub struct Framed {
    pub value: Vec<u8>,
    pub index: Vec<u8>,
    /// The index's length inflated: the bound its reads are held to.
    pub index_json_bytes: usize,
    /// The length of the JSON the frames hold.
    pub json_bytes: usize,
}

/// The fields of a snapshot before its databases, in `Snapshot`'s order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    datasource_type: &'a str,
    discovered_at: &'a chrono::DateTime<chrono::Utc>,
    duration_ms: u64,
    hash: &'a str,
    stats: &'a Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<&'a crate::domain::schema_filters::SchemaFilters>,
}

/// Writes frames: text between tables waits in `glue` and becomes one frame just
/// before the next table frame (or at the end).
struct Writer {
    zstd: zstd::bulk::Compressor<'static>,
    value: Vec<u8>,
    glue: Vec<u8>,
    json_bytes: usize,
}

impl Writer {
    fn glue(&mut self, text: &[u8]) {
        self.glue.extend_from_slice(text);
    }

    fn frame(&mut self, json: &[u8]) -> Result<(usize, usize), FramingError> {
        let start = self.value.len();
        self.json_bytes += json.len();
        let compressed = self.zstd.compress(json)?;
        self.value.extend_from_slice(&compressed);
        Ok((start, self.value.len()))
    }

    fn flush_glue(&mut self) -> Result<(), FramingError> {
        if !self.glue.is_empty() {
            let glue = std::mem::take(&mut self.glue);
            self.frame(&glue)?;
        }
        Ok(())
    }

    fn tables(&mut self, json: &[u8], names: Vec<String>) -> Result<IndexedFrame, FramingError> {
        self.flush_glue()?;
        let (start, end) = self.frame(json)?;
        Ok(IndexedFrame {
            start,
            end,
            tables: names,
        })
    }
}

/// The JSON of the fields before the databases, ending with `"databases":[`.
pub fn head(snapshot: &Snapshot) -> Result<Vec<u8>, FramingError> {
    let mut head = serde_json::to_vec(&Head {
        datasource_type: &snapshot.datasource_type,
        discovered_at: &snapshot.discovered_at,
        duration_ms: snapshot.duration_ms,
        hash: &snapshot.hash,
        stats: &snapshot.stats,
        filters: snapshot.filters.as_ref(),
    })?;
    // `{...}` becomes `{...,"databases":[`: the head has fields, so a comma follows.
    head.pop();
    head.extend_from_slice(b",\"databases\":[");
    Ok(head)
}

/// The snapshot as frames whose concatenation inflates to exactly
/// `serde_json::to_vec(snapshot)`, and their index.
pub fn frame(snapshot: &Snapshot) -> Result<Framed, FramingError> {
    let head = head(snapshot)?;
    let mut w = Writer {
        zstd: zstd::bulk::Compressor::new(LEVEL)?,
        value: Vec::new(),
        glue: head.clone(),
        json_bytes: 0,
    };
    let mut index = Index {
        head: String::from_utf8_lossy(&head).into_owned(),
        schemas: Vec::new(),
    };
    for (d, database) in snapshot.databases.iter().enumerate() {
        if d > 0 {
            w.glue(b",");
        }
        w.glue(b"{\"name\":");
        w.glue(&serde_json::to_vec(&database.name)?);
        w.glue(b",\"schemas\":[");
        for (s, schema) in database.schemas.iter().enumerate() {
            if s > 0 {
                w.glue(b",");
            }
            w.glue(b"{\"name\":");
            w.glue(&serde_json::to_vec(&schema.name)?);
            w.glue(b",\"tables\":[");
            let mut indexed = IndexedSchema {
                database_at: d,
                database: database.name.clone(),
                name: schema.name.clone(),
                frames: Vec::new(),
            };
            let mut json = Vec::new();
            let mut names = Vec::new();
            for table in &schema.tables {
                let one = serde_json::to_vec(table)?;
                if !json.is_empty() && json.len() + one.len() > FRAME_BYTES {
                    indexed
                        .frames
                        .push(w.tables(&json, std::mem::take(&mut names))?);
                    json.clear();
                    // The comma between two frames of one schema is a frame of its own,
                    // inside the schema's range, so each table frame parses alone.
                    w.glue(b",");
                }
                if !json.is_empty() {
                    json.push(b',');
                }
                json.extend_from_slice(&one);
                names.push(table.name.clone());
            }
            if !json.is_empty() {
                indexed.frames.push(w.tables(&json, names)?);
            }
            w.glue(b"]}");
            index.schemas.push(indexed);
        }
        w.glue(b"]}");
    }
    w.glue(b"]}");
    w.flush_glue()?;
    let index = serde_json::to_vec(&index)?;
    Ok(Framed {
        value: w.value,
        index_json_bytes: index.len(),
        index: zstd::bulk::compress(&index, LEVEL)?,
        json_bytes: w.json_bytes,
    })
}

/// Inflates frames (one or many), refusing to give more than `limit` bytes: what
/// Redis hands back is bounded before it is trusted.
pub fn inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, FramingError> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(compressed)?
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(FramingError::TooLarge(limit));
    }
    Ok(out)
}

/// The index, checked against the value it describes: every frame a non-empty range
/// within `value_len`, in order.
pub fn read_index(
    compressed: &[u8],
    limit: usize,
    value_len: usize,
) -> Result<Index, FramingError> {
    let index: Index = serde_json::from_slice(&inflate(compressed, limit)?)?;
    let mut at = 0;
    for f in index.schemas.iter().flat_map(|s| s.frames.iter()) {
        if f.start < at || f.start >= f.end || f.end > value_len {
            return Err(FramingError::Inconsistent(
                "a frame outside the value or out of order",
            ));
        }
        at = f.end;
    }
    Ok(index)
}

/// The tables of one table frame.
pub fn tables_of_frame(compressed: &[u8], limit: usize) -> Result<Vec<Table>, FramingError> {
    let mut json = b"[".to_vec();
    json.extend_from_slice(&inflate(compressed, limit)?);
    json.push(b']');
    Ok(serde_json::from_slice(&json)?)
}

/// Compresses text written around stored frames when a partial read is assembled.
pub fn compress(json: &[u8]) -> Result<Vec<u8>, FramingError> {
    Ok(zstd::bulk::compress(json, LEVEL)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::snapshot::{Column, Database, Schema, TableKind, TypeFamily};

    fn table(name: &str, columns: usize) -> Table {
        Table {
            name: name.into(),
            kind: TableKind::Table,
            primary_key: vec!["id".into()],
            columns: (0..columns)
                .map(|i| Column {
                    name: format!("column_number_{i}"),
                    ordinal: i as u32 + 1,
                    native_type: "character varying(255)".into(),
                    family: TypeFamily::String,
                    nullable: i % 2 == 0,
                    default: None,
                    comment: Some("a \"quoted\" comment, with ünïcode".into()),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn snapshot(schemas: &[(&str, usize)]) -> Snapshot {
        let databases = vec![
            Database {
                name: "first".into(),
                schemas: schemas
                    .iter()
                    .map(|(name, tables)| Schema {
                        name: (*name).into(),
                        tables: (0..*tables).map(|i| table(&format!("t{i}"), 16)).collect(),
                    })
                    .collect(),
            },
            Database {
                name: "second".into(),
                schemas: vec![Schema {
                    name: "empty".into(),
                    tables: vec![],
                }],
            },
        ];
        Snapshot::new("postgres", databases, std::time::Instant::now())
    }

    #[test]
    fn the_frames_inflate_to_the_snapshot_json_exactly() {
        let mut filters = crate::domain::schema_filters::SchemaFilters::default();
        filters.schemas.include.push("sales".into());
        let mut shapes: Vec<Snapshot> =
            [&[][..], &[("public", 0)], &[("public", 1), ("sales", 700)]]
                .into_iter()
                .map(snapshot)
                .collect();
        // With the filters recorded in the head too.
        shapes[2] = shapes[2].clone().filtered_by(&filters);
        // No databases at all; a database without schemas; a table larger than a frame.
        shapes.push(Snapshot::new("mysql", vec![], std::time::Instant::now()));
        shapes.push(Snapshot::new(
            "mysql",
            vec![
                Database {
                    name: "bare".into(),
                    schemas: vec![],
                },
                Database {
                    name: "wide".into(),
                    schemas: vec![Schema {
                        name: "s".into(),
                        tables: vec![table("small", 2), table("huge", 2_000), table("after", 2)],
                    }],
                },
            ],
            std::time::Instant::now(),
        ));
        for s in shapes {
            let framed = frame(&s).unwrap();
            let json = serde_json::to_vec(&s).unwrap();
            assert_eq!(framed.json_bytes, json.len());
            assert_eq!(inflate(&framed.value, json.len()).unwrap(), json);
            // Bounded: one byte less than the JSON is refused.
            assert!(matches!(
                inflate(&framed.value, json.len() - 1),
                Err(FramingError::TooLarge(_))
            ));
            let index =
                read_index(&framed.index, framed.index_json_bytes, framed.value.len()).unwrap();
            let tables: usize = index
                .schemas
                .iter()
                .flat_map(|s| &s.frames)
                .map(|f| f.tables.len())
                .sum();
            assert_eq!(tables, s.stats.tables);
        }
    }

    #[test]
    fn an_index_pointing_outside_its_value_is_refused() {
        let s = snapshot(&[("public", 3)]);
        let framed = frame(&s).unwrap();
        let index = read_index(&framed.index, framed.index_json_bytes, framed.value.len()).unwrap();
        // A value shorter than the last table frame's end.
        let short = index.schemas[0].frames.last().unwrap().end - 1;
        assert!(matches!(
            read_index(&framed.index, framed.index_json_bytes, short),
            Err(FramingError::Inconsistent(_))
        ));
    }

    #[test]
    fn each_indexed_frame_holds_the_tables_it_names_and_a_schema_is_one_range() {
        let s = snapshot(&[("public", 3), ("sales", 700)]);
        let framed = frame(&s).unwrap();
        let index = read_index(&framed.index, framed.index_json_bytes, framed.value.len()).unwrap();
        assert_eq!(index.head.as_bytes(), head(&s).unwrap().as_slice());
        let sales = &index.schemas[1];
        assert_eq!(
            (sales.database.as_str(), sales.name.as_str()),
            ("first", "sales")
        );
        assert!(sales.frames.len() > 5, "{} frames", sales.frames.len());
        let mut names = Vec::new();
        for f in &sales.frames {
            let tables = tables_of_frame(&framed.value[f.start..f.end], 1 << 20).unwrap();
            let got: Vec<_> = tables.iter().map(|t| t.name.clone()).collect();
            assert_eq!(got, f.tables);
            names.extend(got);
        }
        let want: Vec<_> = s.databases[0].schemas[1]
            .tables
            .iter()
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(names, want);
        // The schema's range inflates to its tables joined by commas.
        let (start, end) = sales.range().unwrap();
        let mut json = b"[".to_vec();
        json.extend(inflate(&framed.value[start..end], 1 << 24).unwrap());
        json.push(b']');
        let tables: Vec<Table> = serde_json::from_slice(&json).unwrap();
        assert_eq!(tables, s.databases[0].schemas[1].tables);
        assert_eq!(index.schemas[2].range(), None);
        // Compressed, the wide schema is a fraction of its JSON.
        assert!(
            framed.value.len() * 5 < framed.json_bytes,
            "{} of {}",
            framed.value.len(),
            framed.json_bytes
        );
    }
}
