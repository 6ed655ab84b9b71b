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

/// AWS region names, and nothing else a hostname could be built from: two or more
/// letters, one or more words, a number (`us-east-1`, `eu-central-2`,
/// `us-gov-west-1`, `cn-north-1`). STS's and S3's hosts are built from the region,
/// so `s3` or `s3.dualstack.x` must not pass for one.
pub fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    region.len() <= 32
        && parts.len() >= 3
        && first.len() >= 2
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
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

#[cfg(test)]
mod tests {
    #[test]
    fn regions_are_aws_region_names_and_not_hostname_parts() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-3",
        ] {
            assert!(super::valid_region(ok), "{ok}");
        }
        for bad in [
            "s3",
            "s3-accelerate",
            "s3.dualstack.us-east-1",
            "us-east-1.evil",
            "us--1",
            "-east-1",
            "US-EAST-1",
            "",
        ] {
            assert!(!super::valid_region(bad), "{bad}");
        }
    }
}
