//! Decoding Snowflake query results into rows of JSON values: the JSON rowset,
//! base64 Arrow IPC (`rowsetBase64`, what the connector protocol sends for
//! SELECTs), and result chunks in either form.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int8Type, Int16Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType, Field};
use serde_json::Value;

/// Rows of an Arrow IPC stream; numbers with a `scale` in their field metadata
/// (Snowflake's FIXED with decimals) come back as decimal text, as in JSON rowsets.
pub fn arrow_rows(ipc: &[u8]) -> Result<Vec<Vec<Value>>, String> {
    if ipc.is_empty() {
        return Ok(Vec::new());
    }
    check_buffers(ipc)?;
    // The arrow crates still panic on some malformed streams (buffer lengths that do
    // not fit their type, found by fuzzing): the stream is the server's, so a panic
    // in decoding it is its fault, and fails this answer, not the worker.
    // Only the decoder runs under the catch: onramp's own code below is not hidden.
    let batches = std::panic::catch_unwind(|| decode(ipc))
        .unwrap_or_else(|_| Err("arrow stream: malformed (the decoder refused it)".into()))?;
    let mut rows = Vec::new();
    for batch in &batches {
        append_batch(batch, &mut rows)?;
    }
    Ok(rows)
}

fn decode(ipc: &[u8]) -> Result<Vec<RecordBatch>, String> {
    let reader = StreamReader::try_new(std::io::Cursor::new(ipc), None)
        .map_err(|e| format!("arrow stream: {e}"))?;
    let mut batches = Vec::new();
    let mut rows = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| format!("arrow batch: {e}"))?;
        // Counted here already: a claimed row count is what is checked, before any
        // row is built.
        rows = rows.saturating_add(batch.num_rows());
        if rows > crate::connectors::support::limits::MAX_ROWS {
            return Err(format!(
                "the result has more than {} rows; onramp stopped reading",
                crate::connectors::support::limits::MAX_ROWS
            ));
        }
        batches.push(batch);
    }
    Ok(batches)
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(i32::from_le_bytes(bytes))
}

/// Checks that every buffer a message names lies inside that message's body. The
/// arrow-ipc reader slices the body where the message says, and panics when that is
/// past its end (found by fuzzing `fuzz/fuzz_targets/arrow_ipc.rs`); the stream is
/// the server's, so its claims are checked here first.
fn check_buffers(ipc: &[u8]) -> Result<(), String> {
    let bad = |why: &str| Err(format!("arrow stream: {why}"));
    let mut at = 0usize;
    while at < ipc.len() {
        let mut len = i32_at(ipc, at).ok_or("arrow stream: a cut message length")?;
        at += 4;
        // Since format 0.15 a message starts with 0xFFFFFFFF, then its length.
        if len == -1 {
            len = i32_at(ipc, at).ok_or("arrow stream: a cut message length")?;
            at += 4;
        }
        if len == 0 {
            return Ok(());
        }
        let Some(meta) = usize::try_from(len)
            .ok()
            .and_then(|n| ipc.get(at..at.checked_add(n)?))
        else {
            return bad("a message past the end");
        };
        at += meta.len();
        let message = arrow_ipc::root_as_message(meta).map_err(|e| format!("arrow stream: {e}"))?;
        let Some(body) = usize::try_from(message.bodyLength())
            .ok()
            .filter(|n| at.checked_add(*n).is_some_and(|end| end <= ipc.len()))
        else {
            return bad("a message body past the end");
        };
        let batch = message
            .header_as_record_batch()
            .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
        if let Some(batch) = batch {
            for buffer in batch.buffers().into_iter().flatten() {
                let end = buffer.offset().checked_add(buffer.length());
                let inside = buffer.offset() >= 0
                    && buffer.length() >= 0
                    && end.is_some_and(|e| e <= body as i64);
                if !inside {
                    return bad("a buffer past its message's body");
                }
                // The format aligns buffers to 8 bytes; the reader views them as
                // typed slices and panics on one that is not (found by fuzzing).
                if buffer.offset() % 8 != 0 {
                    return bad("a buffer not aligned to 8 bytes");
                }
            }
        }
        at += body;
    }
    Ok(())
}

fn append_batch(batch: &RecordBatch, rows: &mut Vec<Vec<Value>>) -> Result<(), String> {
    use crate::connectors::support::limits::MAX_ROWS;
    if batch.num_columns() == 0 && batch.num_rows() > 0 {
        return Err("arrow batch: rows without columns".into());
    }
    if batch.num_rows() > MAX_ROWS.saturating_sub(rows.len()) {
        return Err(format!(
            "the result has more than {MAX_ROWS} rows; onramp stopped reading"
        ));
    }
    let schema = batch.schema();
    let columns: Vec<Vec<Value>> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(array, field)| column_values(array.as_ref(), field))
        .collect::<Result<_, _>>()?;
    for i in 0..batch.num_rows() {
        rows.push(columns.iter().map(|c| c[i].clone()).collect());
    }
    Ok(())
}

fn scaled(value: i64, scale: u32) -> Value {
    if scale == 0 {
        return Value::from(value);
    }
    // The scale is the server's metadata: Snowflake's is at most 37, and anything
    // past what an i128 holds is shown as the unscaled integer rather than trusted.
    let Some(divisor) = 10i128.checked_pow(scale).filter(|_| scale <= 38) else {
        return Value::String(value.to_string());
    };
    let (whole, frac) = ((value as i128) / divisor, ((value as i128) % divisor).abs());
    let sign = if value < 0 && whole == 0 { "-" } else { "" };
    Value::String(format!(
        "{sign}{whole}.{frac:0width$}",
        width = scale as usize
    ))
}

fn column_values(array: &dyn Array, field: &Arc<Field>) -> Result<Vec<Value>, String> {
    let scale: u32 = field
        .metadata()
        .get("scale")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let value_at = |i: usize| -> Value {
        if array.is_null(i) {
            return Value::Null;
        }
        match array.data_type() {
            DataType::Utf8 => Value::from(array.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(i)),
            DataType::Boolean => Value::from(array.as_boolean().value(i)),
            DataType::Int8 => scaled(array.as_primitive::<Int8Type>().value(i).into(), scale),
            DataType::Int16 => scaled(array.as_primitive::<Int16Type>().value(i).into(), scale),
            DataType::Int32 => scaled(array.as_primitive::<Int32Type>().value(i).into(), scale),
            DataType::Int64 => scaled(array.as_primitive::<Int64Type>().value(i), scale),
            DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(i)),
            // Catalog queries select only text, numbers and booleans.
            _ => Value::Null,
        }
    };
    Ok((0..array.len()).map(value_at).collect())
}

/// A JSON-format chunk: rows separated by commas without the enclosing brackets.
pub fn json_chunk_rows(body: &str) -> Result<Vec<Vec<Value>>, String> {
    serde_json::from_str(&format!("[{}]", body.trim())).map_err(|e| format!("json chunk: {e}"))
}

/// Rows of a JSON rowset, every value text or null as Snowflake sends them.
pub fn json_rows(rowset: &Value) -> Vec<Vec<Value>> {
    rowset
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int16Array, StringArray};
    use arrow_ipc::writer::StreamWriter;
    use arrow_schema::Schema;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn arrow_batches_become_rows_with_scaled_numbers_as_text() {
        let scale = |s: &str| HashMap::from([("scale".to_string(), s.to_string())]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("NAME", DataType::Utf8, true),
            Field::new("ORDINAL", DataType::Int16, true).with_metadata(scale("0")),
            Field::new("PRICE", DataType::Int16, true).with_metadata(scale("2")),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("id"), None])),
                Arc::new(Int16Array::from(vec![1, 2])),
                Arc::new(Int16Array::from(vec![Some(1999), Some(-5)])),
            ],
        )
        .unwrap();
        let mut ipc = Vec::new();
        let mut writer = StreamWriter::try_new(&mut ipc, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        assert_eq!(
            arrow_rows(&ipc).unwrap(),
            vec![
                vec![json!("id"), json!(1), json!("19.99")],
                vec![Value::Null, json!(2), json!("-0.05")]
            ]
        );
        assert!(arrow_rows(b"not arrow").is_err());
        assert!(arrow_rows(b"").unwrap().is_empty());
    }

    #[test]
    fn a_buffer_past_its_message_body_is_an_error_not_a_panic() {
        // Found by cargo fuzz: the arrow-ipc reader slices past the body and panics.
        let found = include_bytes!("../../../fuzz/corpus/arrow_ipc/regression-buffer-past-body");
        assert!(arrow_rows(found).is_err());
        // And one whose buffer is not aligned (the reader's typed view panics).
        let found = include_bytes!("../../../fuzz/corpus/arrow_ipc/regression-unaligned-buffer");
        assert!(arrow_rows(found).is_err());
    }

    #[test]
    fn a_scale_no_integer_can_hold_is_shown_unscaled_not_a_panic() {
        assert_eq!(scaled(12345, 2), json!("123.45"));
        for scale in [39, 127, 128, 200, u32::MAX] {
            assert_eq!(scaled(12345, scale), json!("12345"), "{scale}");
        }
    }

    #[test]
    fn json_chunks_are_rows_without_their_brackets() {
        assert_eq!(
            json_chunk_rows("[\"a\",\"1\"],\n[\"b\",null]").unwrap(),
            vec![vec![json!("a"), json!("1")], vec![json!("b"), Value::Null]]
        );
    }
}
