//! Snowflake's JSON rowsets and JSON result chunks, then the column rows built
//! from them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use onramp::connectors::snowflake::results;
    let text = String::from_utf8_lossy(data);
    let _ = results::json_chunk_rows(&text);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        for row in results::json_rows(&value) {
            let _ = onramp::connectors::snowflake::discover::with_full_type(row);
        }
    }
});
