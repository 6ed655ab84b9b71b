//! What the AWS-based types share: the request signer and the region check.

pub mod json_api;
pub mod sigv4;
pub mod xml;

/// AWS region names: letters, digits and dashes (`us-east-1`, `eu-central-2`).
pub fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The problems of a region field, to start a type's checks with.
pub fn region_problems(region: &str) -> Vec<crate::connectors::FieldProblem> {
    if valid_region(region) {
        Vec::new()
    } else {
        vec![crate::connectors::FieldProblem::new(
            "credentials.region",
            "must be an AWS region name such as us-east-1",
        )]
    }
}
