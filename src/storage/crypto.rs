//! Encryption of credentials at rest (AES-256-GCM) and hashing of service tokens.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// The key that seals credentials. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Key<Aes256Gcm>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "the secret key must be 32 bytes in base64 (for example from `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error("sealed credentials could not be opened: wrong secret key, or the record was altered")]
    Open,
}

impl SecretKey {
    pub fn from_base64(text: &str) -> Result<SecretKey, CryptoError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let key = Key::<Aes256Gcm>::try_from(bytes.as_slice()).map_err(|_| CryptoError::BadKey)?;
        Ok(SecretKey(key))
    }

    pub fn generate() -> SecretKey {
        SecretKey(Key::<Aes256Gcm>::generate())
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_slice())
    }

    /// Seals `plaintext`, binding it to `context` (the row it belongs to) so a sealed
    /// value copied into another row does not open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Nonce::<aes_gcm::aead::consts::U12>::generate();
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("aes-gcm encryption of a bounded message cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        out
    }

    /// A keyed fingerprint of `parts` for `purpose` (HMAC-SHA256 under a key derived
    /// from this one): equal inputs give equal fingerprints on this server, and nobody
    /// without the key can test a guess (a password) against a stored fingerprint.
    pub fn fingerprint(&self, purpose: &str, parts: &[&[u8]]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        type HmacSha256 = Hmac<Sha256>;
        let mut derive =
            <HmacSha256 as Mac>::new_from_slice(self.0.as_slice()).expect("hmac takes any key");
        derive.update(b"onramp fingerprint key: ");
        derive.update(purpose.as_bytes());
        let subkey = derive.finalize().into_bytes();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&subkey).expect("hmac takes any key");
        for part in parts {
            // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::<aes_gcm::aead::consts::U12>::try_from(nonce).map_err(|_| CryptoError::Open)?;
        Aes256Gcm::new(&self.0)
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Open)
    }
}

/// A new service token: `onr_` and 32 random bytes.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("onr_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens are high-entropy, so a plain SHA-256 is enough to store them safely.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_the_key_the_purpose_and_the_parts() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let body: &[u8] = b"{\"password\":\"hunter2\"}";
        let fa = a.fingerprint("idempotency", &[body]);
        assert_eq!(fa, a.fingerprint("idempotency", &[body]));
        assert_ne!(fa, b.fingerprint("idempotency", &[body]));
        assert_ne!(fa, a.fingerprint("other", &[body]));
        assert_ne!(fa, Sha256::digest(body).to_vec());
        assert_ne!(
            a.fingerprint("p", &[b"ab", b"c"]),
            a.fingerprint("p", &[b"a", b"bc"])
        );
    }

    #[test]
    fn sealed_credentials_open_only_with_the_same_key_and_context() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"{\"password\":\"p\"}", b"row-1");
        assert!(!sealed.windows(1 + 1).any(|w| w == b"\"p"));
        assert_eq!(
            key.open(&sealed, b"row-1").unwrap(),
            b"{\"password\":\"p\"}"
        );
        assert!(key.open(&sealed, b"row-2").is_err());
        assert!(SecretKey::generate().open(&sealed, b"row-1").is_err());
        let again = SecretKey::from_base64(&key.to_base64()).unwrap();
        assert!(again.open(&sealed, b"row-1").is_ok());
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    }
}
