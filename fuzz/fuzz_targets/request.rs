//! A create or update body as a token holder may send it: request parsing and
//! every type's validation (field tables, typed configs, connection strings) must
//! answer every input with an answer, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = onramp::egress::EgressPolicy::new("", "", true).expect("policy");
    let _ = onramp::http::request::parse_datasource(data, &policy);
    // The same bytes as the credentials of every type, so each type's own checks
    // see arbitrary JSON, not only what parses as a whole request.
    if let Ok(credentials) = serde_json::from_slice::<serde_json::Value>(data) {
        for ty in onramp::connectors::DatasourceType::ALL {
            use onramp::connectors::Registered;
            let _ = ty.validate(&credentials);
        }
    }
});
