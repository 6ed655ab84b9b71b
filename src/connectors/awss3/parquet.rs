//! Parquet columns from the file footer alone: the last 8 bytes give the footer's
//! length, the footer (Thrift) gives the schema. No row is read.

use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
use parquet::file::metadata::ParquetMetaDataReader;

use crate::connectors::infer::FileProblem;
use crate::snapshot::{Column, TypeFamily};

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

pub fn columns(footer: &[u8]) -> Result<Vec<Column>, FileProblem> {
    super::thrift::check_schema_tree(footer).map_err(|e| FileProblem {
        line: None,
        message: format!("unreadable parquet footer: {e}"),
    })?;
    let metadata = ParquetMetaDataReader::decode_metadata(footer).map_err(|e| FileProblem {
        line: None,
        message: format!("unreadable parquet footer: {e}"),
    })?;
    let schema = metadata.file_metadata().schema_descr();
    Ok(schema
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let family = if c.max_rep_level() > 0 {
                TypeFamily::Array
            } else {
                family(c.physical_type(), c.converted_type(), c.logical_type_ref())
            };
            let logical = c.logical_type_ref().map(|l| format!("{l:?}")).or_else(|| {
                (c.converted_type() != ConvertedType::NONE).then(|| c.converted_type().to_string())
            });
            Column {
                name: c.path().string(),
                ordinal: i as u32 + 1,
                native_type: match logical {
                    Some(l) => format!("{} ({l})", c.physical_type()),
                    None => c.physical_type().to_string(),
                },
                family,
                nullable: c.max_def_level() > 0,
                default: None,
                comment: None,
            }
        })
        .collect())
}

fn family(
    physical: Physical,
    converted: ConvertedType,
    logical: Option<&LogicalType>,
) -> TypeFamily {
    match logical {
        Some(LogicalType::Uuid) => return TypeFamily::Uuid,
        Some(LogicalType::Timestamp { .. }) => return TypeFamily::Timestamp,
        Some(LogicalType::Json | LogicalType::Bson) => return TypeFamily::Json,
        _ => {}
    }
    match converted {
        ConvertedType::UTF8 | ConvertedType::ENUM => return TypeFamily::String,
        ConvertedType::JSON | ConvertedType::BSON => return TypeFamily::Json,
        ConvertedType::DECIMAL => return TypeFamily::Decimal,
        ConvertedType::DATE => return TypeFamily::Date,
        ConvertedType::TIME_MILLIS | ConvertedType::TIME_MICROS => return TypeFamily::Time,
        ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS => {
            return TypeFamily::Timestamp;
        }
        _ => {}
    }
    match physical {
        Physical::BOOLEAN => TypeFamily::Boolean,
        Physical::INT32 | Physical::INT64 => TypeFamily::Integer,
        Physical::INT96 => TypeFamily::Timestamp,
        Physical::FLOAT | Physical::DOUBLE => TypeFamily::Float,
        Physical::BYTE_ARRAY | Physical::FIXED_LEN_BYTE_ARRAY => TypeFamily::Binary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
