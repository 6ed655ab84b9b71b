//! Parquet columns from the file footer alone: the last 8 bytes give the footer's
//! length, the footer (Thrift) gives the schema. No row is read.

use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
use parquet::file::metadata::ParquetMetaDataReader;

use crate::connectors::infer::FileProblem;
use crate::snapshot::{Column, TypeFamily};

/// The footer's length from the file's last 8 bytes (`<u32 LE length>PAR1`).
pub fn footer_length(tail: &[u8]) -> Result<usize, FileProblem> {
    let problem = |m: &str| FileProblem {
        line: None,
        message: m.into(),
    };
    if tail.len() != 8 {
        return Err(problem("the file is too short to be parquet"));
    }
    match &tail[4..] {
        b"PAR1" => Ok(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as usize),
        b"PARE" => Err(problem("the parquet footer is encrypted")),
        _ => Err(problem("not a parquet file (no PAR1 magic at its end)")),
    }
}

pub fn columns(footer: &[u8]) -> Result<Vec<Column>, FileProblem> {
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
