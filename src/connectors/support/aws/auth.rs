//! How an AWS-based type (awss3, athena, csv's s3:// URLs) signs in: the customer's
//! access keys, or a role in the customer's account that onramp assumes with an
//! External ID — the way SaaS platforms are granted access to a bucket without
//! being handed long-lived keys.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldSpec, text};
use crate::domain::FieldProblem;

pub const ACCESS_KEY_ID: FieldSpec = text(
    "accessKeyId",
    128,
    "access key id; or give roleArn and externalId instead of keys",
);
pub const SECRET_ACCESS_KEY: FieldSpec = text(
    "secretAccessKey",
    256,
    "secret access key, with accessKeyId",
)
.secret();
pub const ROLE_ARN: FieldSpec = text(
    "roleArn",
    2048,
    "IAM role to assume (arn:aws:iam::ACCOUNT:role/NAME); onramp's own AWS credentials assume it, or the access keys when given",
);
pub const EXTERNAL_ID: FieldSpec = text(
    "externalId",
    1224,
    "the External ID the role's trust policy requires (sts:ExternalId); required with roleArn",
)
.at_least(2);

/// The sign-in fields, flattened into each type's config.
#[derive(Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

/// A role ARN: `arn:<partition>:iam::<12 digits>:role/<path and name>`.
fn role_arn_problem(arn: &str) -> Option<&'static str> {
    let shape = "must be an IAM role ARN: arn:aws:iam::123456789012:role/NAME";
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let partition_ok = partition.starts_with("aws")
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let name = resource.strip_prefix("role/").unwrap_or("");
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_/-".contains(&b));
    if arn_ == "arn"
        && partition_ok
        && service == "iam"
        && region.is_empty()
        && account_ok
        && name_ok
    {
        None
    } else {
        Some(shape)
    }
}

impl AwsAuth {
    /// Whether onramp assumes a role (rather than signing with the keys alone).
    pub fn assumes_role(&self) -> bool {
        self.role_arn.is_some()
    }

    /// What the field table cannot say: keys come in pairs, and a role needs its
    /// External ID (without one, any tenant who learns a role's ARN could have
    /// onramp assume it: the confused deputy the External ID exists to stop).
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let field = |name: &str| format!("credentials.{name}");
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => problems.push(FieldProblem::new(
                field("secretAccessKey"),
                "is required with accessKeyId",
            )),
            (None, Some(_)) => problems.push(FieldProblem::new(
                field("accessKeyId"),
                "is required with secretAccessKey",
            )),
            (None, None) if self.role_arn.is_none() => problems.push(FieldProblem::new(
                field("accessKeyId"),
                "give accessKeyId and secretAccessKey, or roleArn and externalId",
            )),
            _ => {}
        }
        if let Some(arn) = &self.role_arn {
            if let Some(p) = role_arn_problem(arn) {
                problems.push(FieldProblem::new(field("roleArn"), p));
            }
            if self.external_id.is_none() {
                problems.push(FieldProblem::new(
                    field("externalId"),
                    "is required with roleArn",
                ));
            }
        }
        if let Some(id) = &self.external_id {
            if self.role_arn.is_none() {
                problems.push(FieldProblem::new(
                    field("externalId"),
                    "is given only with roleArn",
                ));
            }
            if !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b))
            {
                problems.push(FieldProblem::new(
                    field("externalId"),
                    "may hold letters, digits and + = , . @ : / _ - only",
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(keys: bool, role: Option<&str>, external: Option<&str>) -> AwsAuth {
        AwsAuth {
            access_key_id: keys.then(|| "AKID".to_string()),
            secret_access_key: keys.then(|| SecretString::from("s".to_string())),
            role_arn: role.map(str::to_string),
            external_id: external.map(str::to_string),
        }
    }

    fn fields(a: &AwsAuth) -> Vec<String> {
        a.problems().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn keys_or_a_role_with_its_external_id_are_accepted_and_nothing_else() {
        let role = Some("arn:aws:iam::123456789012:role/path/onramp-reader");
        assert!(fields(&auth(true, None, None)).is_empty());
        assert!(fields(&auth(false, role, Some("ext-1"))).is_empty());
        assert!(fields(&auth(true, role, Some("ext-1"))).is_empty());
        assert_eq!(
            fields(&auth(false, None, None)),
            ["credentials.accessKeyId"]
        );
        assert_eq!(fields(&auth(false, role, None)), ["credentials.externalId"]);
        assert_eq!(
            fields(&auth(true, None, Some("ext-1"))),
            ["credentials.externalId"]
        );
        for bad in [
            "arn:aws:iam::12345:role/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "role/x",
        ] {
            assert_eq!(
                fields(&auth(false, Some(bad), Some("ext-1"))),
                ["credentials.roleArn"],
                "{bad}"
            );
        }
        assert_eq!(
            fields(&auth(false, role, Some("has space"))),
            ["credentials.externalId"]
        );
    }
}
