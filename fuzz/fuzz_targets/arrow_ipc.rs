//! Snowflake's Arrow IPC result sets (rowsetBase64 and result chunks) as a
//! server sends them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = onramp::connectors::snowflake::results::arrow_rows(data);
});
