//! An S3 ListObjectsV2 answer (XML) as an S3-compatible server sends it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = onramp::connectors::awss3::client::parse_list(&text);
    let _ = onramp::connectors::support::aws::xml::xml_text(&text, "Message");
});
