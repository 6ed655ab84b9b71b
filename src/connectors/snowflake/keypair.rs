//! Snowflake key-pair authentication: a JWT signed RS256 with the user's private
//! key, with the claims Snowflake documents: `iss` = `ACCOUNT.USER.SHA256:<base64
//! SHA-256 of the public key's DER>`, `sub` = `ACCOUNT.USER`, `iat`, and an `exp`
//! at most an hour later.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::connectors::support::rsa_jwt;

/// How long a token is good for; Snowflake refuses more than an hour.
const LIFETIME_SECS: i64 = 59 * 60;

/// `SHA256:` and the base64 SHA-256 of the public key's SubjectPublicKeyInfo DER,
/// as `DESC USER` shows it in RSA_PUBLIC_KEY_FP.
pub fn fingerprint(key: &KeyPair) -> String {
    let der = key
        .public_key()
        .as_der()
        .expect("an RSA public key always encodes");
    format!("SHA256:{}", STANDARD.encode(Sha256::digest(der.as_ref())))
}

/// The account part of the claims: upper case, and for an account locator with a
/// region (`xy12345.us-east-1`) only the locator.
pub fn claim_account(account: &str) -> String {
    account
        .split('.')
        .next()
        .unwrap_or(account)
        .to_ascii_uppercase()
}

pub fn token(key: &KeyPair, account: &str, user: &str, now: i64) -> String {
    let subject = format!("{}.{}", claim_account(account), user.to_ascii_uppercase());
    rsa_jwt::sign(
        key,
        &json!({
            "iss": format!("{subject}.{}", fingerprint(key)),
            "sub": subject,
            "iat": now,
            "exp": now + LIFETIME_SECS,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::support::rsa_jwt::tests::{new_key, verified_claims};

    #[test]
    fn the_token_carries_the_documented_claims_and_verifies_with_the_public_key() {
        let key = new_key();
        let token = token(&key, "xy12345.us-east-1", "Loader", 1_700_000_000);
        let claims = verified_claims(&key, &token);
        let spki = key.public_key().as_der().unwrap();
        let expected_fp = format!("SHA256:{}", STANDARD.encode(Sha256::digest(spki.as_ref())));
        assert_eq!(claims["iss"], format!("XY12345.LOADER.{expected_fp}"));
        assert_eq!(claims["sub"], "XY12345.LOADER");
        assert_eq!(claims["iat"], 1_700_000_000);
        let lifetime = claims["exp"].as_i64().unwrap() - 1_700_000_000;
        assert!(lifetime > 0 && lifetime <= 3600, "{lifetime}");
    }

    #[test]
    fn org_account_names_stay_whole_and_upper_case() {
        assert_eq!(claim_account("myorg-analytics"), "MYORG-ANALYTICS");
        assert_eq!(claim_account("xy12345.eu-west-1.aws"), "XY12345");
    }
}
