//! Parquet columns from the file footer alone: the last 8 bytes give the footer's
//! length, the footer (Thrift) gives the schema. No row is read, and the footer is
//! read by onramp's own bounded walk (`thrift.rs`).

use crate::connectors::support::infer::FileProblem;
use crate::domain::snapshot::{Column, TypeFamily};

/// The largest footer onramp reads. Real footers are kilobytes to a few MiB (one
/// entry per column per row group); the length is the file's claim.
pub const FOOTER_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The footer's length from the file's last 8 bytes (`<u32 LE length>PAR1`).
pub fn footer_length(tail: &[u8]) -> Result<usize, FileProblem> {
    let problem = |m: &str| FileProblem {
        line: None,
        message: m.into(),
    };
    if tail.len() != 8 {
        return Err(problem("the file is too short to be parquet"));
    }
    let (length, magic) = tail.split_at(4);
    match magic {
        b"PAR1" => {
            let mut le = [0u8; 4];
            le.copy_from_slice(length);
            let length = u32::from_le_bytes(le) as usize;
            if length > FOOTER_MAX_BYTES {
                return Err(problem(&format!(
                    "the parquet footer claims {length} bytes, over the {FOOTER_MAX_BYTES} onramp reads"
                )));
            }
            Ok(length)
        }
        b"PARE" => Err(problem("the parquet footer is encrypted")),
        _ => Err(problem("not a parquet file (no PAR1 magic at its end)")),
    }
}

/// The columns of a file from its footer. The footer is read by onramp's own Thrift
/// walk (`thrift.rs`), not the parquet crate: the crate trusts the footer's counts
/// for allocations and its walk's cost is not bounded by the footer's length (found
/// by fuzzing), and a footer is whatever the bucket's writer made it.
pub fn columns(footer: &[u8]) -> Result<Vec<Column>, FileProblem> {
    let elements = super::thrift::schema(footer).map_err(|e| FileProblem {
        line: None,
        message: format!("unreadable parquet footer: {e}"),
    })?;
    // Depth-first: each open group with the children it still has, its path, and
    // whether it (or a group above it) is optional or repeated.
    struct Open {
        left: i64,
        path: String,
        optional: bool,
        repeated: bool,
    }
    let mut open: Vec<Open> = Vec::new();
    let mut columns = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        let parent = open.last();
        let path = match parent {
            Some(p) if !p.path.is_empty() => format!("{}.{}", p.path, e.name),
            _ if i == 0 => String::new(),
            _ => e.name.clone(),
        };
        let optional = parent.is_some_and(|p| p.optional) || matches!(e.repetition, Some(1 | 2));
        let repeated = parent.is_some_and(|p| p.repeated) || e.repetition == Some(2);
        if let Some(p) = open.last_mut() {
            p.left -= 1;
        }
        if e.num_children > 0 || i == 0 {
            open.push(Open {
                left: e.num_children,
                path,
                optional: i > 0 && optional,
                repeated: i > 0 && repeated,
            });
        } else {
            let physical = e.physical.unwrap_or(-1);
            let logical = logical_name(e.logical).or_else(|| converted_name(e.converted));
            let physical_name = physical_name(physical);
            columns.push(Column {
                name: path,
                ordinal: columns.len() as u32 + 1,
                native_type: match logical {
                    Some(l) => format!("{physical_name} ({l})"),
                    None => physical_name.to_string(),
                },
                family: if repeated {
                    TypeFamily::Array
                } else {
                    family(physical, e.converted, e.logical)
                },
                nullable: optional,
                default: None,
                comment: None,
            });
        }
        while open.last().is_some_and(|p| p.left <= 0) {
            open.pop();
        }
    }
    Ok(columns)
}

fn physical_name(physical: i32) -> &'static str {
    match physical {
        0 => "BOOLEAN",
        1 => "INT32",
        2 => "INT64",
        3 => "INT96",
        4 => "FLOAT",
        5 => "DOUBLE",
        6 => "BYTE_ARRAY",
        7 => "FIXED_LEN_BYTE_ARRAY",
        _ => "UNKNOWN",
    }
}

fn converted_name(converted: Option<i32>) -> Option<&'static str> {
    Some(match converted? {
        0 => "UTF8",
        1 => "MAP",
        2 => "MAP_KEY_VALUE",
        3 => "LIST",
        4 => "ENUM",
        5 => "DECIMAL",
        6 => "DATE",
        7 => "TIME_MILLIS",
        8 => "TIME_MICROS",
        9 => "TIMESTAMP_MILLIS",
        10 => "TIMESTAMP_MICROS",
        11..=18 => "INTEGER",
        19 => "JSON",
        20 => "BSON",
        21 => "INTERVAL",
        _ => return None,
    })
}

fn logical_name(logical: Option<i16>) -> Option<&'static str> {
    Some(match logical? {
        1 => "STRING",
        2 => "MAP",
        3 => "LIST",
        4 => "ENUM",
        5 => "DECIMAL",
        6 => "DATE",
        7 => "TIME",
        8 => "TIMESTAMP",
        10 => "INTEGER",
        11 => "UNKNOWN",
        12 => "JSON",
        13 => "BSON",
        14 => "UUID",
        15 => "FLOAT16",
        16 => "VARIANT",
        17 => "GEOMETRY",
        18 => "GEOGRAPHY",
        _ => return None,
    })
}

fn family(physical: i32, converted: Option<i32>, logical: Option<i16>) -> TypeFamily {
    match logical {
        Some(14) => return TypeFamily::Uuid,
        Some(8) => return TypeFamily::Timestamp,
        Some(12 | 13) => return TypeFamily::Json,
        Some(1 | 4) => return TypeFamily::String,
        Some(5) => return TypeFamily::Decimal,
        Some(6) => return TypeFamily::Date,
        Some(7) => return TypeFamily::Time,
        _ => {}
    }
    match converted {
        Some(0 | 4) => return TypeFamily::String,
        Some(19 | 20) => return TypeFamily::Json,
        Some(5) => return TypeFamily::Decimal,
        Some(6) => return TypeFamily::Date,
        Some(7 | 8) => return TypeFamily::Time,
        Some(9 | 10) => return TypeFamily::Timestamp,
        _ => {}
    }
    match physical {
        0 => TypeFamily::Boolean,
        1 | 2 => TypeFamily::Integer,
        3 => TypeFamily::Timestamp,
        4 | 5 => TypeFamily::Float,
        6 | 7 => TypeFamily::Binary,
        _ => TypeFamily::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parquet crate as the oracle: the same leaf paths, nullability and
    /// repetition as its schema descriptor, on a footer pyarrow wrote.
    #[test]
    fn columns_agree_with_the_parquet_crates_reading_of_a_real_footer() {
        use parquet::file::metadata::ParquetMetaDataReader;
        let footer = include_bytes!("../../../fuzz/corpus/parquet_footer/footer");
        let ours = columns(footer).unwrap();
        let metadata = ParquetMetaDataReader::decode_metadata(footer).unwrap();
        let theirs = metadata.file_metadata().schema_descr();
        let expected: Vec<(String, bool, bool)> = theirs
            .columns()
            .iter()
            .map(|c| {
                (
                    c.path().string(),
                    c.max_def_level() > 0,
                    c.max_rep_level() > 0,
                )
            })
            .collect();
        let got: Vec<(String, bool, bool)> = ours
            .iter()
            .map(|c| (c.name.clone(), c.nullable, c.family == TypeFamily::Array))
            .collect();
        assert_eq!(got, expected);
        let family = |name: &str| ours.iter().find(|c| c.name == name).unwrap().family;
        assert_eq!(family("id"), TypeFamily::Integer);
        assert_eq!(family("name"), TypeFamily::String);
        assert_eq!(family("at"), TypeFamily::Timestamp);
        assert_eq!(family("price"), TypeFamily::Decimal);
    }

    #[test]
    fn a_footer_longer_than_the_cap_is_refused_before_it_is_fetched() {
        let tail = |n: u32| {
            let mut t = n.to_le_bytes().to_vec();
            t.extend_from_slice(b"PAR1");
            t
        };
        assert_eq!(footer_length(&tail(1234)).unwrap(), 1234);
        let e = footer_length(&tail(u32::MAX)).unwrap_err();
        assert!(e.message.contains("over the"), "{}", e.message);
        assert!(footer_length(b"PAR1").is_err());
        assert!(columns(b"\x00\x01garbage").is_err());
    }
}
