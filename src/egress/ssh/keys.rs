//! Reading a tenant's SSH private key. An encrypted key names its own key
//! derivation cost (bcrypt rounds for OpenSSH keys, PBKDF2 iterations for PKCS#8):
//! a key asking for billions would hold a worker's CPU for hours, so the cost is
//! read from the key's header and bounded before anything is derived.

use base64::Engine;
use russh::keys::PrivateKey;

/// ssh-keygen uses 16 bcrypt rounds unless told otherwise (`-a`); guides that ask
/// for more say 64 or 100. 128 is about a second of one core.
pub const MAX_BCRYPT_ROUNDS: u32 = 128;
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

/// Whether the key is encrypted, after checking that decrypting it is cheap. The
/// text must hold exactly one armoured block: russh reads the last BEGIN line
/// before the first END, and a second one could hide a costly key behind a cheap
/// first line.
fn check_cost(pem: &str) -> Result<bool, KeyProblem> {
    if pem.trim_start().starts_with("PuTTY-User-Key-File-") {
        return Err(KeyProblem::Unreadable);
    }
    let mut armour = pem
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("-----"));
    let (Some(first), Some(end), None) = (armour.next(), armour.next(), armour.next()) else {
        return Err(KeyProblem::Unreadable);
    };
    if !first.starts_with("-----BEGIN ") || !end.starts_with("-----END ") {
        return Err(KeyProblem::Unreadable);
    }
    match first {
        "-----BEGIN OPENSSH PRIVATE KEY-----" => openssh_rounds(&body(pem)?),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----" => pkcs8_iterations(&body(pem)?).map(|_| true),
        // Legacy PEM encryption (Proc-Type: 4,ENCRYPTED) derives its key with one MD5.
        "-----BEGIN RSA PRIVATE KEY-----"
        | "-----BEGIN EC PRIVATE KEY-----"
        | "-----BEGIN PRIVATE KEY-----" => Ok(pem.contains("Proc-Type: 4,ENCRYPTED")),
        _ => Err(KeyProblem::Unreadable),
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

/// DER contents of the PBES2 and PBKDF2 object identifiers (1.2.840.113549.1.5.13
/// and .12).
const PBES2_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const PBKDF2_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];

/// An encrypted PKCS#8 key's PBKDF2 iteration count, read by its structure
/// (RFC 5958 and RFC 8018): EncryptedPrivateKeyInfo { AlgorithmIdentifier { PBES2,
/// { keyDerivationFunc { PBKDF2, { salt, iterationCount, ... } }, ... } }, data }.
/// Any other scheme or derivation (scrypt, whose memory the key names) is refused
/// rather than run at a cost onramp cannot see.
pub fn pkcs8_cost(der: &[u8]) -> Result<u64, KeyProblem> {
    pkcs8_iterations(der)
}

fn pkcs8_iterations(der: &[u8]) -> Result<u64, KeyProblem> {
    let other = || {
        KeyProblem::TooCostly(
            "is encrypted with a scheme other than PBES2 with PBKDF2: re-encrypt it with openssl pkcs8 -topk8 -v2 aes-256-cbc".into(),
        )
    };
    let (info, _) = sequence(der)?;
    let (algorithm, _) = sequence(info)?;
    let (scheme, params) = oid(algorithm)?;
    if scheme != PBES2_OID {
        return Err(other());
    }
    let (pbes2, _) = sequence(params)?;
    let (kdf, _) = sequence(pbes2)?;
    let (kdf_oid, kdf_params) = oid(kdf)?;
    if kdf_oid != PBKDF2_OID {
        return Err(other());
    }
    let (pbkdf2, _) = sequence(kdf_params)?;
    let (salt_tag, _salt, rest) = der_item(pbkdf2)?;
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

/// The contents of the SEQUENCE `data` starts with, and what follows it.
fn sequence(data: &[u8]) -> Result<(&[u8], &[u8]), KeyProblem> {
    match der_item(data)? {
        (0x30, content, rest) => Ok((content, rest)),
        _ => Err(KeyProblem::Unreadable),
    }
}

/// The OBJECT IDENTIFIER `data` starts with, and what follows it.
fn oid(data: &[u8]) -> Result<(&[u8], &[u8]), KeyProblem> {
    match der_item(data)? {
        (0x06, content, rest) => Ok((content, rest)),
        _ => Err(KeyProblem::Unreadable),
    }
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

    /// EncryptedPrivateKeyInfo with PBES2 and the given key derivation.
    fn pkcs8(kdf_oid: &[u8], kdf_params: &[u8]) -> Vec<u8> {
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            if content.len() < 0x80 {
                out.push(content.len() as u8);
            } else {
                out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
            }
            out.extend(content);
            out
        }
        let kdf = tlv(0x30, &[tlv(0x06, kdf_oid), kdf_params.to_vec()].concat());
        let cipher = tlv(
            0x30,
            &tlv(
                0x06,
                &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a],
            ),
        );
        let algorithm = tlv(
            0x30,
            &[tlv(0x06, PBES2_OID), tlv(0x30, &[kdf, cipher].concat())].concat(),
        );
        tlv(0x30, &[algorithm, tlv(0x04, &[0u8; 32])].concat())
    }

    #[test]
    fn a_pkcs8_key_with_a_huge_iteration_count_is_refused() {
        let params = [
            vec![0x30, 0x10, 0x04, 0x08],
            vec![1u8; 8],
            vec![0x02, 0x04, 0x7f, 0xff, 0xff, 0xff],
        ]
        .concat();
        assert!(matches!(
            pkcs8_iterations(&pkcs8(PBKDF2_OID, &params)),
            Err(KeyProblem::TooCostly(why)) if why.contains("2147483647 PBKDF2 iterations")
        ));
        let cheap = [
            vec![0x30, 0x0e, 0x04, 0x08],
            vec![1u8; 8],
            vec![0x02, 0x02, 0x08, 0x00],
        ]
        .concat();
        assert_eq!(pkcs8_iterations(&pkcs8(PBKDF2_OID, &cheap)), Ok(2048));
    }

    #[test]
    fn scrypt_is_refused_even_with_the_pbkdf2_identifier_hidden_in_its_salt() {
        let scrypt = [0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b];
        let mut salt = vec![0x06, 0x09];
        salt.extend(PBKDF2_OID);
        let params = [
            vec![0x30, 0x11, 0x04, 0x0b],
            salt,
            vec![0x02, 0x02, 0x40, 0x00],
        ]
        .concat();
        assert!(matches!(
            pkcs8_iterations(&pkcs8(&scrypt, &params)),
            Err(KeyProblem::TooCostly(_))
        ));
    }

    #[test]
    fn a_second_armoured_block_cannot_hide_a_costly_key() {
        let costly = openssh_blob("aes256-ctr", "bcrypt", u32::MAX);
        let smuggled = format!("-----BEGIN RSA PRIVATE KEY-----\n{costly}");
        assert_eq!(
            read(&smuggled, Some("x")).unwrap_err(),
            KeyProblem::Unreadable
        );
    }

    #[test]
    fn text_that_is_no_key_is_unreadable() {
        assert_eq!(read("hello", None).unwrap_err(), KeyProblem::Unreadable);
    }
}
