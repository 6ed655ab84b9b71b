//! Partial reads: which stored frames hold a schema or a table, and the answer built
//! from them, in the snapshot's own shape (the head, with the whole snapshot's hash
//! and stats, then only the databases, schemas and tables asked for).

use super::framing::{self, Index, IndexedSchema};
use super::{Body, CacheError, Read, off_the_async_threads};
use crate::domain::snapshot::Snapshot;

/// What to read: every filter given must match (names compare exactly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
}

impl Part {
    pub fn is_whole(&self) -> bool {
        self.database.is_none() && self.schema.is_none() && self.table.is_none()
    }

    fn wants_schema(&self, database: &str, schema: &str) -> bool {
        self.database.as_deref().is_none_or(|d| d == database)
            && self.schema.as_deref().is_none_or(|s| s == schema)
    }

    fn wants_table(&self, table: &str) -> bool {
        self.table.as_deref().is_none_or(|t| t == table)
    }
}

/// The frames to fetch, schema by schema.
pub struct Plan {
    schemas: Vec<Planned>,
}

struct Planned {
    /// Its place in the index.
    at: usize,
    /// Whole: the schema's one range, passed through compressed. Otherwise the frames
    /// holding the table, inflated and cut.
    whole: bool,
    ranges: Vec<(usize, usize)>,
}

pub fn plan(index: &Index, part: &Part) -> Plan {
    let mut schemas = Vec::new();
    for (at, s) in index.schemas.iter().enumerate() {
        if !part.wants_schema(&s.database, &s.name) {
            continue;
        }
        if part.table.is_none() {
            let ranges = s.range().into_iter().collect();
            schemas.push(Planned {
                at,
                whole: true,
                ranges,
            });
            continue;
        }
        let ranges: Vec<_> = s
            .frames
            .iter()
            .filter(|f| f.tables.iter().any(|t| part.wants_table(t)))
            .map(|f| (f.start, f.end))
            .collect();
        if !ranges.is_empty() {
            schemas.push(Planned {
                at,
                whole: false,
                ranges,
            });
        }
    }
    Plan { schemas }
}

/// Text between fetched frames, compressed into frames of its own when a fetched
/// frame follows.
struct Out {
    frames: Vec<u8>,
    text: Vec<u8>,
}

impl Out {
    fn text(&mut self, t: &[u8]) {
        self.text.extend_from_slice(t);
    }

    fn name(&mut self, name: &str) -> Result<(), CacheError> {
        self.text(b"{\"name\":");
        self.text(&serde_json::to_vec(name).map_err(framing::FramingError::from)?);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CacheError> {
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.frames.extend(framing::compress(&text)?);
        }
        Ok(())
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    pub fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.schemas.iter().flat_map(|s| s.ranges.iter().copied())
    }

    /// The answer as zstd frames: fetched schemas pass through as stored; a table's
    /// frames are inflated (each at most `limit`) and only the table kept.
    pub fn assemble(
        &self,
        part: &Part,
        index: &Index,
        fetched: Vec<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<u8>, CacheError> {
        let wanted = self.ranges().count();
        if fetched.len() != wanted {
            return Err(
                framing::FramingError::Inconsistent("fewer ranges read than asked for").into(),
            );
        }
        let mut fetched = fetched.into_iter();
        let mut out = Out {
            frames: Vec::new(),
            text: index.head.as_bytes().to_vec(),
        };
        let mut database: Option<usize> = None;
        for planned in &self.schemas {
            let Some(schema) = index.schemas.get(planned.at) else {
                continue;
            };
            open(&mut out, &mut database, schema)?;
            let mut first = true;
            for _ in &planned.ranges {
                let frames = fetched.next().unwrap_or_default();
                if frames.is_empty() {
                    return Err(framing::FramingError::Inconsistent("an empty range").into());
                }
                if planned.whole {
                    out.flush()?;
                    out.frames.extend_from_slice(&frames);
                    continue;
                }
                for table in framing::tables_of_frame(&frames, limit)? {
                    if !part.wants_table(&table.name) {
                        continue;
                    }
                    if !first {
                        out.text(b",");
                    }
                    first = false;
                    let json = serde_json::to_vec(&table).map_err(framing::FramingError::from)?;
                    out.text(&json);
                }
            }
            out.text(b"]}");
        }
        if database.is_some() {
            out.text(b"]}");
        }
        out.text(b"]}");
        out.flush()?;
        Ok(out.frames)
    }
}

/// Opens a schema in the answer, and its database when it is not the last one's.
fn open(
    out: &mut Out,
    database: &mut Option<usize>,
    schema: &IndexedSchema,
) -> Result<(), CacheError> {
    match *database {
        Some(d) if d == schema.database_at => out.text(b","),
        Some(_) => out.text(b"]},"),
        None => {}
    }
    if *database != Some(schema.database_at) {
        out.name(&schema.database)?;
        out.text(b",\"schemas\":[");
        *database = Some(schema.database_at);
    }
    out.name(&schema.name)?;
    out.text(b",\"tables\":[");
    Ok(())
}

/// The part cut from a whole snapshot (one stored as plain JSON): the same answer as
/// from frames, the hard way.
pub async fn from_whole(whole: Read, part: &Part) -> Result<Option<Read>, CacheError> {
    let limit = whole.limit();
    let meta = whole.meta.clone();
    let part = part.clone();
    let cut = off_the_async_threads("cutting the snapshot", move || {
        let json = whole.body.into_json(limit)?;
        let mut snapshot: Snapshot =
            serde_json::from_slice(&json).map_err(framing::FramingError::from)?;
        let mut found = false;
        snapshot.databases.retain_mut(|d| {
            d.schemas.retain_mut(|s| {
                if !part.wants_schema(&d.name, &s.name) {
                    return false;
                }
                if part.table.is_some() {
                    s.tables.retain(|t| part.wants_table(&t.name));
                    return !s.tables.is_empty();
                }
                true
            });
            found |= !d.schemas.is_empty();
            !d.schemas.is_empty()
        });
        if !found {
            return Ok(None);
        }
        Ok(Some(
            serde_json::to_vec(&snapshot).map_err(framing::FramingError::from)?,
        ))
    })
    .await?;
    Ok(cut.map(|json| Read {
        body: Body::Json(json),
        meta,
    }))
}
