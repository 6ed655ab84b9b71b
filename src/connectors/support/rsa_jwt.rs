//! RS256 JSON Web Tokens signed with an RSA private key given as PEM: Snowflake's
//! key-pair login and Google's service-account token grant both use them.

use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

#[derive(Debug, PartialEq, Eq)]
pub enum KeyProblem {
    NotPem,
    Encrypted,
    WrongPassphrase,
    TooCostly(String),
    NotRsa,
}

impl KeyProblem {
    pub fn describe(&self) -> String {
        match self {
            KeyProblem::NotPem => "is not a PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
            KeyProblem::Encrypted => "is encrypted, and no passphrase was given".into(),
            KeyProblem::WrongPassphrase => {
                "could not be decrypted with privateKeyPassphrase".into()
            }
            KeyProblem::TooCostly(why) => why.clone(),
            KeyProblem::NotRsa => "is not an RSA private key of 2048 bits or more".into(),
        }
    }
}

/// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`), encrypted PKCS#8 (`ENCRYPTED
/// PRIVATE KEY`, with `passphrase`) or PKCS#1 (`RSA PRIVATE KEY`). Decrypting is CPU
/// work the key names the cost of: it is bounded first, and callers on async
/// threads run this on a blocking one.
pub fn parse_key_with(pem: &str, passphrase: Option<&str>) -> Result<KeyPair, KeyProblem> {
    let (label, der) = pem_der(pem)?;
    match label.as_str() {
        "PRIVATE KEY" => KeyPair::from_pkcs8(&der).map_err(|_| KeyProblem::NotRsa),
        "RSA PRIVATE KEY" => KeyPair::from_der(&der).map_err(|_| KeyProblem::NotRsa),
        "ENCRYPTED PRIVATE KEY" => {
            let passphrase = passphrase.ok_or(KeyProblem::Encrypted)?;
            crate::egress::ssh::keys::pkcs8_cost(&der).map_err(|p| match p {
                crate::egress::ssh::keys::KeyProblem::TooCostly(why) => KeyProblem::TooCostly(why),
                _ => KeyProblem::NotPem,
            })?;
            let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
                .map_err(|_| KeyProblem::NotPem)?;
            let plain = info
                .decrypt(passphrase.as_bytes())
                .map_err(|_| KeyProblem::WrongPassphrase)?;
            KeyPair::from_pkcs8(plain.as_bytes()).map_err(|_| KeyProblem::NotRsa)
        }
        _ => Err(KeyProblem::NotPem),
    }
}

/// An unencrypted key: [`parse_key_with`] without a passphrase.
pub fn parse_key(pem: &str) -> Result<KeyPair, KeyProblem> {
    parse_key_with(pem, None)
}

/// What the API can know of a key without decrypting it: that it reads, and, when
/// encrypted, that a passphrase is given and decrypting it is bounded.
pub fn check_key(pem: &str, passphrase_given: bool) -> Result<(), KeyProblem> {
    let (label, der) = pem_der(pem)?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return parse_key(pem).map(|_| ());
    }
    if !passphrase_given {
        return Err(KeyProblem::Encrypted);
    }
    crate::egress::ssh::keys::pkcs8_cost(&der)
        .map(|_| ())
        .map_err(|p| match p {
            crate::egress::ssh::keys::KeyProblem::TooCostly(why) => KeyProblem::TooCostly(why),
            _ => KeyProblem::NotPem,
        })
}

fn pem_der(pem: &str) -> Result<(String, Vec<u8>), KeyProblem> {
    let (label, body) = pem_body(pem.trim()).ok_or(KeyProblem::NotPem)?;
    let der = STANDARD.decode(body).map_err(|_| KeyProblem::NotPem)?;
    Ok((label, der))
}

/// The label and the base64 text between a PEM block's BEGIN and END lines.
fn pem_body(pem: &str) -> Option<(String, String)> {
    let mut lines = pem.lines().map(str::trim);
    let label = lines
        .next()?
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for line in lines {
        if line == end {
            return Some((label, body));
        }
        body.push_str(line);
    }
    None
}

/// DER as a PEM block of 64-character lines: how key files carry keys.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// `header.claims.signature`, RS256.
pub fn sign(key: &KeyPair, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .expect("signing with a parsed RSA key cannot fail");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    pub fn new_key() -> KeyPair {
        let generated = KeyPair::generate(KeySize::Rsa2048).unwrap();
        parse_key(&to_pem("PRIVATE KEY", generated.as_der().unwrap().as_ref())).unwrap()
    }

    /// The claims of a token whose signature verifies with `key`'s public half.
    pub fn verified_claims(key: &KeyPair, token: &str) -> Value {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        assert_eq!(decode(parts[0]), json!({"alg": "RS256", "typ": "JWT"}));
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref())
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("signature verifies");
        decode(parts[1])
    }

    #[test]
    fn keys_that_cannot_sign_are_named_for_what_is_wrong() {
        assert_eq!(parse_key("not a key").err(), Some(KeyProblem::NotPem));
        assert_eq!(
            parse_key(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
            )
            .err(),
            Some(KeyProblem::Encrypted)
        );
        assert_eq!(
            parse_key(&to_pem("PRIVATE KEY", b"\x30\x03\x02\x01\x00")).err(),
            Some(KeyProblem::NotRsa)
        );
    }

    #[test]
    fn a_signed_token_verifies() {
        let key = new_key();
        let claims = json!({"sub": "x"});
        assert_eq!(verified_claims(&key, &sign(&key, &claims)), claims);
    }
}
