//! Snowflake's Arrow IPC result sets (rowsetBase64 and result chunks) as a
//! server sends them.
//!
//! `arrow_rows` catches panics of the arrow crates on malformed streams (a
//! third-party decoder); libfuzzer-sys's panic hook would abort on them before
//! they are caught, so this target's hook only records. Panics that escape still
//! end the run: libfuzzer-sys aborts on any unwind out of the target.
#![no_main]
use libfuzzer_sys::fuzz_target;

static QUIET: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = onramp::connectors::snowflake::results::arrow_rows(data);
});
