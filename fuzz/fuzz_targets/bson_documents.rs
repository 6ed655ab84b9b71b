//! BSON documents as a MongoDB server sends them, into the field inference.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mongodb::bson::Document;

fuzz_target!(|data: &[u8]| {
    let mut docs = Vec::new();
    let mut rest = data;
    while let Ok(doc) = Document::from_reader(&mut rest) {
        docs.push(doc);
        if docs.len() > 64 {
            break;
        }
    }
    let _ = onramp::connectors::mongodb::infer::columns(&docs);
});
