//! Reading a tenant's SSH private key. An encrypted key names its own key
//! derivation cost (bcrypt rounds for OpenSSH keys, PBKDF2 iterations for PKCS#8):
//! a key asking for billions would hold a worker's CPU for hours, so the cost is
//! read from the key's header and bounded before anything is derived.

use base64::Engine;
use russh::keys::PrivateKey;

/// ssh-keygen uses 16 bcrypt rounds unless told otherwise (`-a`); 1,000 is far
/// above any real key and still a bounded wait.
pub const MAX_BCRYPT_ROUNDS: u32 = 1_000;
/// OpenSSL's default is 2,048 PBKDF2 iterations; NIST asks for 600,000 at most.
pub const MAX_PBKDF2_ITERATIONS: u64 = 1_000_000;

/// Why a key cannot be used, in words for the job's message.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyProblem {
    Unreadable,
    NeedsPassphrase,
    WrongPassphrase,
    TooCostly(String),
}

impl KeyProblem {
    pub fn text(&self) -> String {
        match self {
            KeyProblem::Unreadable => "is not a private key onramp can read (PEM or OpenSSH format: RSA, ECDSA or Ed25519)".into(),
            KeyProblem::NeedsPassphrase => "is encrypted: give its passphrase".into(),
            KeyProblem::WrongPassphrase => "could not be decrypted with the passphrase given".into(),
            KeyProblem::TooCostly(why) => why.clone(),
        }
    }
}

/// The key in `pem`, decrypted with `passphrase` when it is encrypted. CPU-bound:
/// call it off the async threads.
pub fn read(pem: &str, passphrase: Option<&str>) -> Result<PrivateKey, KeyProblem> {
    let encrypted = check_cost(pem)?;
    if encrypted && passphrase.is_none() {
        return Err(KeyProblem::NeedsPassphrase);
    }
    match russh::keys::decode_secret_key(pem, passphrase) {
        Ok(key) => Ok(key),
        Err(_) if encrypted => Err(KeyProblem::WrongPassphrase),
        Err(_) => Err(KeyProblem::Unreadable),
    }
}

/// Whether the key is encrypted, after checking that decrypting it is cheap.
fn check_cost(pem: &str) -> Result<bool, KeyProblem> {
    let first = pem
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("-----BEGIN "))
        .ok_or(KeyProblem::Unreadable)?;
    if first.contains("PUTTY") || pem.trim_start().starts_with("PuTTY-User-Key-File-") {
        return Err(KeyProblem::Unreadable);
    }
    match first {
        "-----BEGIN OPENSSH PRIVATE KEY-----" => openssh_rounds(&body(pem)?),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----" => pkcs8_iterations(&body(pem)?).map(|_| true),
        // Legacy PEM encryption (Proc-Type: 4,ENCRYPTED) derives its key with one MD5.
        _ => Ok(pem.contains("Proc-Type: 4,ENCRYPTED")),
    }
}

/// The base64 between the armour lines, decoded.
fn body(pem: &str) -> Result<Vec<u8>, KeyProblem> {
    let text: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END "))
        .filter(|l| !l.contains(':'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| KeyProblem::Unreadable)
}

/// An OpenSSH key's bcrypt rounds (PROTOCOL.key: magic, cipher, kdf, kdf options).
fn openssh_rounds(blob: &[u8]) -> Result<bool, KeyProblem> {
    let rest = blob
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or(KeyProblem::Unreadable)?;
    let (cipher, rest) = ssh_string(rest)?;
    let (kdf, rest) = ssh_string(rest)?;
    let (options, _) = ssh_string(rest)?;
    match (cipher, kdf) {
        (b"none", b"none") => Ok(false),
        (_, b"bcrypt") => {
            let (_salt, rest) = ssh_string(options)?;
            let rounds = rest
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(KeyProblem::Unreadable)?;
            if rounds > MAX_BCRYPT_ROUNDS {
                return Err(KeyProblem::TooCostly(format!(
                    "asks for {rounds} bcrypt rounds to decrypt, more than the {MAX_BCRYPT_ROUNDS} onramp allows: re-encrypt it with ssh-keygen -p -a 16"
                )));
            }
            Ok(true)
        }
        _ => Err(KeyProblem::Unreadable),
    }
}

fn ssh_string(data: &[u8]) -> Result<(&[u8], &[u8]), KeyProblem> {
    let len = data
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(KeyProblem::Unreadable)?;
    let value = data.get(4..4 + len).ok_or(KeyProblem::Unreadable)?;
    Ok((value, &data[4 + len..]))
}

/// DER of the PBKDF2 algorithm identifier (1.2.840.113549.1.5.12).
const PBKDF2_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c,
];

/// An encrypted PKCS#8 key's PBKDF2 iteration count (RFC 8018: the OID, then
/// SEQUENCE { OCTET STRING salt, INTEGER iterationCount, ... }). Any other key
/// derivation (scrypt) is refused rather than run at a cost onramp cannot see.
fn pkcs8_iterations(der: &[u8]) -> Result<u64, KeyProblem> {
    let at = der
        .windows(PBKDF2_OID.len())
        .position(|w| w == PBKDF2_OID)
        .ok_or_else(|| {
            KeyProblem::TooCostly(
                "is encrypted with a key derivation other than PBKDF2: re-encrypt it with openssl pkcs8 -topk8 -v2 aes-256-cbc".into(),
            )
        })?;
    let params = der
        .get(at + PBKDF2_OID.len()..)
        .ok_or(KeyProblem::Unreadable)?;
    let (tag, seq, _) = der_item(params)?;
    if tag != 0x30 {
        return Err(KeyProblem::Unreadable);
    }
    let (salt_tag, _salt, rest) = der_item(seq)?;
    let (int_tag, count, _) = der_item(rest)?;
    if salt_tag != 0x04 || int_tag != 0x02 || count.is_empty() || count.len() > 8 {
        return Err(KeyProblem::Unreadable);
    }
    let iterations = count.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(KeyProblem::TooCostly(format!(
            "asks for {iterations} PBKDF2 iterations to decrypt, more than the {MAX_PBKDF2_ITERATIONS} onramp allows"
        )));
    }
    Ok(iterations)
}

/// One DER item: its tag, its content and what follows it.
fn der_item(data: &[u8]) -> Result<(u8, &[u8], &[u8]), KeyProblem> {
    let tag = *data.first().ok_or(KeyProblem::Unreadable)?;
    let first = *data.get(1).ok_or(KeyProblem::Unreadable)?;
    let (len, start) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(KeyProblem::Unreadable);
        }
        let bytes = data.get(2..2 + n).ok_or(KeyProblem::Unreadable)?;
        (
            bytes.iter().fold(0usize, |l, b| (l << 8) | *b as usize),
            2 + n,
        )
    };
    let content = data.get(start..start + len).ok_or(KeyProblem::Unreadable)?;
    Ok((tag, content, &data[start + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openssh_blob(cipher: &str, kdf: &str, rounds: u32) -> String {
        let mut b = b"openssh-key-v1\0".to_vec();
        for s in [cipher.as_bytes(), kdf.as_bytes()] {
            b.extend((s.len() as u32).to_be_bytes());
            b.extend(s);
        }
        let mut options = Vec::new();
        options.extend(16u32.to_be_bytes());
        options.extend([7u8; 16]);
        options.extend(rounds.to_be_bytes());
        b.extend((options.len() as u32).to_be_bytes());
        b.extend(options);
        let text = base64::engine::general_purpose::STANDARD.encode(b);
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{text}\n-----END OPENSSH PRIVATE KEY-----\n")
    }

    #[test]
    fn a_key_asking_for_too_many_rounds_is_refused_before_any_derivation() {
        let pem = openssh_blob("aes256-ctr", "bcrypt", u32::MAX);
        match read(&pem, Some("x")) {
            Err(KeyProblem::TooCostly(why)) => assert!(why.contains("4294967295 bcrypt rounds")),
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn an_encrypted_key_without_its_passphrase_says_so() {
        let pem = openssh_blob("aes256-ctr", "bcrypt", 16);
        assert_eq!(read(&pem, None).unwrap_err(), KeyProblem::NeedsPassphrase);
    }

    #[test]
    fn a_pkcs8_key_with_a_huge_iteration_count_is_refused() {
        // SEQUENCE { OID pbkdf2, SEQUENCE { OCTET STRING(8), INTEGER 0x7fffffff } }
        let mut der = PBKDF2_OID.to_vec();
        der.extend([0x30, 0x10, 0x04, 0x08]);
        der.extend([1u8; 8]);
        der.extend([0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            pkcs8_iterations(&der),
            Err(KeyProblem::TooCostly(_))
        ));
    }

    #[test]
    fn text_that_is_no_key_is_unreadable() {
        assert_eq!(read("hello", None).unwrap_err(), KeyProblem::Unreadable);
    }
}
