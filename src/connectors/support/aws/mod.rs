//! What the AWS-based types share: how they sign in (keys or an assumed role),
//! the SDK's configuration and HTTP client held to the egress guard, the mapping
//! of its errors, the region check and Hive's type names.

pub mod auth;
mod guarded_http;
pub mod hive;
mod platform;
pub mod sdk;

pub use auth::AwsAuth;
pub use platform::Platform;

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
