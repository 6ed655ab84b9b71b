//! BigQuery's type text from INFORMATION_SCHEMA.COLUMNS.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = onramp::connectors::bigquery::types::flatten("c", &text, true);
});
