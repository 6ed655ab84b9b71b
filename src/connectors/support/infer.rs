//! Column inference for files: CSV (delimiter, quoting and header sniffed, types
//! inferred over a sample) and JSON lines (fields and types, nested objects as
//! dotted paths). Shared by the awss3 and csv types.

use std::collections::BTreeMap;

use crate::domain::snapshot::{Column, TypeFamily};

/// A problem with the file itself, with its line number when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The text of a sample; when the sample was cut off, its last partial line is dropped.
fn sample_text(bytes: &[u8], truncated: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if truncated {
        match text.rfind('\n') {
            Some(end) => text[..end].to_string(),
            None => String::new(),
        }
    } else {
        text.to_string()
    }
}

const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// The delimiter that splits the first lines into the same, largest number of fields.
pub fn sniff_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let mut best = (b',', 0usize, 0usize);
    for d in DELIMITERS {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, d)).collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        let consistent = counts.iter().filter(|&&c| c == first).count();
        if first > 0 && (consistent, first) > (best.1, best.2) {
            best = (d, consistent, first);
        }
    }
    best.0
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    line.bytes()
        .filter(|&b| {
            if b == b'"' {
                quoted = !quoted;
            }
            b == delimiter && !quoted
        })
        .count()
}

/// Infers the columns of a CSV sample. A row whose field count differs from the
/// header's is reported with its line number.
pub fn csv_columns(
    bytes: &[u8],
    truncated: bool,
    max_rows: usize,
) -> Result<Vec<Column>, FileProblem> {
    let text = sample_text(bytes, truncated);
    if text.trim().is_empty() {
        return Err(FileProblem {
            line: None,
            message: "the file is empty".into(),
        });
    }
    let delimiter = sniff_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(false)
        .from_reader(text.as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for record in reader.records().take(max_rows + 1) {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
            Err(e) => {
                let line = e.position().map(|p| p.line());
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("expected {expected_len} fields, found {len}")
                    }
                    _ => format!("malformed row: {e}"),
                };
                return Err(FileProblem { line, message });
            }
        }
    }
    let first = rows.remove(0);
    // A header is a first row of distinct, non-empty fields that read as text;
    // when the data reads as text too, a header is the likelier case.
    let distinct = first.iter().collect::<std::collections::HashSet<_>>().len() == first.len();
    let looks_like_header = distinct
        && first
            .iter()
            .all(|f| !f.trim().is_empty() && guess(f) == TypeFamily::String);
    let (names, data): (Vec<String>, Vec<Vec<String>>) = if looks_like_header {
        (first.iter().map(|f| f.trim().to_string()).collect(), rows)
    } else {
        let names = (1..=first.len()).map(|i| format!("column_{i}")).collect();
        let mut data = vec![first];
        data.extend(rows);
        (names, data)
    };
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<&str> = data.iter().map(|r| r[i].as_str()).collect();
            let nullable = values.is_empty() || values.iter().any(|v| v.trim().is_empty());
            let family = unify(
                values
                    .iter()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| guess(v)),
            );
            Column {
                name,
                ordinal: i as u32 + 1,
                native_type: native_name(family).into(),
                family,
                nullable,
                default: None,
                comment: None,
            }
        })
        .collect())
}

/// The narrowest family a text value fits.
pub fn guess(value: &str) -> TypeFamily {
    let v = value.trim();
    if v.parse::<i64>().is_ok() {
        TypeFamily::Integer
    } else if v.parse::<f64>().is_ok() && v.chars().any(|c| c.is_ascii_digit()) {
        TypeFamily::Float
    } else if matches!(v.to_ascii_lowercase().as_str(), "true" | "false") {
        TypeFamily::Boolean
    } else if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() {
        TypeFamily::Date
    } else if chrono::DateTime::parse_from_rfc3339(v).is_ok()
        || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_ok()
        || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").is_ok()
    {
        TypeFamily::Timestamp
    } else {
        TypeFamily::String
    }
}

/// The family every value fits: integers widen to floats, dates to timestamps,
/// anything else mixed is a string.
fn unify(families: impl Iterator<Item = TypeFamily>) -> TypeFamily {
    let mut out: Option<TypeFamily> = None;
    for f in families {
        out = Some(match (out, f) {
            (None, f) => f,
            (Some(a), b) if a == b => a,
            (Some(TypeFamily::Integer), TypeFamily::Float)
            | (Some(TypeFamily::Float), TypeFamily::Integer) => TypeFamily::Float,
            (Some(TypeFamily::Date), TypeFamily::Timestamp)
            | (Some(TypeFamily::Timestamp), TypeFamily::Date) => TypeFamily::Timestamp,
            _ => TypeFamily::String,
        });
    }
    out.unwrap_or(TypeFamily::String)
}

fn native_name(family: TypeFamily) -> &'static str {
    match family {
        TypeFamily::Integer => "integer",
        TypeFamily::Float => "double",
        TypeFamily::Boolean => "boolean",
        TypeFamily::Date => "date",
        TypeFamily::Timestamp => "timestamp",
        TypeFamily::Json => "object",
        TypeFamily::Array => "array",
        _ => "string",
    }
}

/// Infers the fields of a JSON-lines sample: each object's keys, nested objects as
/// dotted paths; a field missing from some lines, or null in them, is nullable.
pub fn json_lines_columns(
    bytes: &[u8],
    truncated: bool,
    max_rows: usize,
) -> Result<Vec<Column>, FileProblem> {
    let text = sample_text(bytes, truncated);
    let mut fields: BTreeMap<String, (usize, Option<TypeFamily>, usize, bool)> = BTreeMap::new();
    let mut rows = 0usize;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .take(max_rows)
    {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| FileProblem {
            line: Some(i as u64 + 1),
            message: format!("not a JSON value: {e}"),
        })?;
        let serde_json::Value::Object(object) = value else {
            return Err(FileProblem {
                line: Some(i as u64 + 1),
                message: "not a JSON object".into(),
            });
        };
        rows += 1;
        let root = serde_json::Value::Object(object);
        let mut flat = Vec::new();
        flatten("", &root, &mut flat, 0);
        for (path, v) in flat {
            let order = fields.len();
            let entry = fields.entry(path).or_insert((order, None, 0, false));
            entry.2 += 1;
            if v.is_null() {
                entry.3 = true;
            } else {
                let f = json_family(v);
                entry.1 = Some(entry.1.map_or(f, |a| unify([a, f].into_iter())));
            }
        }
    }
    if rows == 0 {
        return Err(FileProblem {
            line: None,
            message: "the file has no JSON objects".into(),
        });
    }
    let mut columns: Vec<(usize, Column)> = fields
        .into_iter()
        .map(|(name, (order, family, seen, null))| {
            let family = family.unwrap_or(TypeFamily::String);
            (
                order,
                Column {
                    name,
                    ordinal: 0,
                    native_type: native_name(family).into(),
                    family,
                    nullable: null || seen < rows,
                    default: None,
                    comment: (seen < rows)
                        .then(|| format!("present in {seen} of {rows} sampled rows")),
                },
            )
        })
        .collect();
    columns.sort_by_key(|(order, _)| *order);
    Ok(columns
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut c))| {
            c.ordinal = i as u32 + 1;
            c
        })
        .collect())
}

fn flatten<'a>(
    prefix: &str,
    value: &'a serde_json::Value,
    out: &mut Vec<(String, &'a serde_json::Value)>,
    depth: usize,
) {
    match value {
        // Past the nesting limit an object is one field of its own.
        serde_json::Value::Object(map)
            if !map.is_empty() && depth < crate::connectors::MAX_NESTING =>
        {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out, depth + 1);
            }
        }
        other => out.push((prefix.to_string(), other)),
    }
}

fn json_family(v: &serde_json::Value) -> TypeFamily {
    match v {
        serde_json::Value::Bool(_) => TypeFamily::Boolean,
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => TypeFamily::Integer,
        serde_json::Value::Number(_) => TypeFamily::Float,
        serde_json::Value::String(s) => match guess(s) {
            f @ (TypeFamily::Date | TypeFamily::Timestamp) => f,
            _ => TypeFamily::String,
        },
        serde_json::Value::Array(_) => TypeFamily::Array,
        serde_json::Value::Object(_) => TypeFamily::Json,
        serde_json::Value::Null => TypeFamily::String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(columns: &[Column]) -> Vec<(String, TypeFamily, bool)> {
        columns
            .iter()
            .map(|c| (c.name.clone(), c.family, c.nullable))
            .collect()
    }

    #[test]
    fn a_semicolon_csv_with_quotes_and_a_header_is_read() {
        let text = b"id;name;price;day;seen\n1;\"Smith; John\";1.5;2024-01-02;true\n2;Ann;2;2024-01-03;\n3;\"Bo \"\"B\"\"\";3.25;2024-01-04;false\n";
        let cols = csv_columns(text, false, 100).unwrap();
        assert_eq!(
            shape(&cols),
            [
                ("id".into(), TypeFamily::Integer, false),
                ("name".into(), TypeFamily::String, false),
                ("price".into(), TypeFamily::Float, false),
                ("day".into(), TypeFamily::Date, false),
                ("seen".into(), TypeFamily::Boolean, true),
            ]
        );
    }

    #[test]
    fn a_malformed_row_is_reported_with_its_line() {
        let e = csv_columns(b"a,b\n1,2\n3,4,5\n", false, 100).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("expected 2 fields, found 3"), "{e}");
    }

    #[test]
    fn a_cut_sample_drops_its_partial_last_line_and_a_headerless_file_gets_names() {
        let cols = csv_columns(
            b"1\t2020-01-01T00:00:00Z\n2\t2020-01-02T00:00:00Z\n3\t20",
            true,
            100,
        )
        .unwrap();
        assert_eq!(
            shape(&cols),
            [
                ("column_1".into(), TypeFamily::Integer, false),
                ("column_2".into(), TypeFamily::Timestamp, false)
            ]
        );
    }

    #[test]
    fn json_lines_flatten_nested_objects_and_note_missing_fields() {
        let text = b"{\"id\":1,\"user\":{\"name\":\"a\",\"age\":3},\"tags\":[1]}\n{\"id\":2,\"user\":{\"name\":\"b\"},\"score\":1.5}\n";
        let cols = json_lines_columns(text, false, 100).unwrap();
        assert_eq!(
            shape(&cols),
            [
                ("id".into(), TypeFamily::Integer, false),
                ("user.name".into(), TypeFamily::String, false),
                ("user.age".into(), TypeFamily::Integer, true),
                ("tags".into(), TypeFamily::Array, true),
                ("score".into(), TypeFamily::Float, true),
            ]
        );
        assert_eq!(
            cols[2].comment.as_deref(),
            Some("present in 1 of 2 sampled rows")
        );
        // Keys come in the order the lines hold them, first-seen across lines.
        assert_eq!(
            json_lines_columns(b"{\"a\":1}\nnot json\n", false, 10)
                .unwrap_err()
                .line,
            Some(2)
        );
    }
}
