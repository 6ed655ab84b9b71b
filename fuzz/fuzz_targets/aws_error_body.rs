//! An AWS-compatible server's XML error answer, read where the SDK could not parse
//! it (moto's STS and JSON services answer in S3's XML format). The listing itself
//! is the AWS SDK's to parse now; the seeds are the former listing corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = onramp::connectors::support::aws::sdk::xml_error(data);
});
