//! A Parquet file's tail and footer, as an S3-compatible server sends them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use onramp::connectors::awss3::parquet;
    if data.len() >= 8 {
        let _ = parquet::footer_length(&data[data.len() - 8..]);
    }
    let _ = parquet::columns(data);
});
