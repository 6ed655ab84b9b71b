//! `credentials.tunnel`: the SSH bastion a TCP-based type is reached through. One
//! field table for every type that takes it; the tunnel itself is the egress's
//! (`egress::ssh`), opened by the job's `tunnel` step, never by a connector.

use serde_json::{Map, Value};

use super::fields::{FieldKind, FieldProblem, FieldSpec, HOST, port, text};
use crate::egress::ssh::TunnelSettings;

pub const AUTH_METHODS: &[&str] = &["key", "password", "key+password"];

pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        description: "the bastion's host name or IP address (the target's host is then resolved and reached from the bastion)",
        ..HOST
    },
    FieldSpec {
        description: "the bastion's SSH port",
        ..port("22")
    },
    text("username", 128, "user to log in to the bastion as").required(),
    FieldSpec {
        name: "auth",
        kind: FieldKind::OneOf(AUTH_METHODS),
        required: true,
        default: None,
        secret: false,
        description: "key, password, or key+password (a bastion that asks for both)",
    },
    text(
        "privateKey",
        16 * 1024,
        "the private key, PEM or OpenSSH format: RSA, ECDSA or Ed25519",
    )
    .multiline()
    .secret(),
    text(
        "passphrase",
        1024,
        "the private key's passphrase, when it is encrypted",
    )
    .secret(),
    text("password", 1024, "the bastion user's password").secret(),
    text(
        "hostKeyFingerprint",
        128,
        "the bastion's host key as ssh-keygen -lf prints it (SHA256:...); when absent, the first job's is trusted and pinned",
    ),
];

/// The field every TCP-based type lists.
pub const TUNNEL: FieldSpec = FieldSpec {
    name: "tunnel",
    kind: FieldKind::Object(FIELDS),
    required: false,
    default: None,
    secret: false,
    description: "reach the server through an SSH bastion",
};

/// The tunnel of validated credentials, with the checks across its fields.
pub fn settings(
    normalised: &Map<String, Value>,
) -> Result<Option<TunnelSettings>, Vec<FieldProblem>> {
    let Some(tunnel) = normalised.get("tunnel").filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let problems = problems(normalised);
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_json::from_value(tunnel.clone())
        .map(Some)
        .map_err(|e| vec![FieldProblem::new("credentials.tunnel", e.to_string())])
}

/// The checks across the tunnel's fields alone, for credentials whose other fields
/// may be wrong (so that one answer names every problem, and none twice).
pub fn problems(normalised: &Map<String, Value>) -> Vec<FieldProblem> {
    let Some(tunnel) = normalised.get("tunnel").filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let has = |f: &str| {
        tunnel
            .get(f)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let auth = tunnel
        .get("auth")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wants_key = auth == "key" || auth == "key+password";
    let wants_password = auth == "password" || auth == "key+password";
    if wants_key && !has("privateKey") {
        problems.push(FieldProblem::new(
            "credentials.tunnel.privateKey",
            format!("is required with auth {auth}"),
        ));
    }
    if wants_password && !has("password") {
        problems.push(FieldProblem::new(
            "credentials.tunnel.password",
            format!("is required with auth {auth}"),
        ));
    }
    if let Some(key) = tunnel.get("privateKey").and_then(Value::as_str)
        && key.matches("-----BEGIN ").count() != 1
    {
        // Decrypting the key is the worker's (it costs CPU the key itself names);
        // here only its armour is checked.
        problems.push(FieldProblem::new(
            "credentials.tunnel.privateKey",
            "must be one PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)",
        ));
    }
    if let Some(fp) = tunnel.get("hostKeyFingerprint").and_then(Value::as_str)
        && !is_fingerprint(fp)
    {
        problems.push(FieldProblem::new(
            "credentials.tunnel.hostKeyFingerprint",
            "must be a SHA256 fingerprint as ssh-keygen -lf prints it (SHA256: and 43 base64 characters)",
        ));
    }
    problems
}

fn is_fingerprint(fp: &str) -> bool {
    fp.strip_prefix("SHA256:").is_some_and(|b64| {
        let b64 = b64.trim_end_matches('=');
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::ssh::AuthMethod;
    use serde_json::json;

    fn checked(tunnel: Value) -> Result<Option<TunnelSettings>, Vec<FieldProblem>> {
        let normalised = crate::connectors::fields::validate(
            &[TUNNEL],
            "credentials",
            &json!({"tunnel": tunnel}),
        )?;
        settings(&normalised)
    }

    #[test]
    fn each_auth_names_what_it_lacks() {
        let e = checked(json!({"host": "b.example.com", "username": "u", "auth": "key+password"}))
            .err()
            .unwrap();
        let fields: Vec<_> = e.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "credentials.tunnel.privateKey",
                "credentials.tunnel.password"
            ]
        );
        let e = checked(json!({"host": "b.example.com", "username": "u", "auth": "password", "password": "p", "hostKeyFingerprint": "MD5:aa"}))
            .err()
            .unwrap();
        assert_eq!(e[0].field, "credentials.tunnel.hostKeyFingerprint");
        let ok = checked(
            json!({"host": "b.example.com", "username": "u", "auth": "password", "password": "p"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!((ok.port, ok.auth), (22, AuthMethod::Password));
    }

    #[test]
    fn unknown_and_bad_fields_inside_the_tunnel_are_named_with_their_path() {
        let e = checked(json!({"host": "", "username": "u", "auth": "magic", "extra": 1}))
            .err()
            .unwrap();
        let fields: Vec<_> = e.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "credentials.tunnel.extra",
                "credentials.tunnel.host",
                "credentials.tunnel.auth"
            ]
        );
    }

    #[test]
    fn the_tunnel_secrets_are_redacted_and_listed() {
        let normalised = crate::connectors::fields::validate(
            &[TUNNEL],
            "credentials",
            &json!({"tunnel": {"host": "b.example.com", "username": "u", "auth": "password", "password": "hunter2"}}),
        )
        .unwrap();
        let public = crate::connectors::fields::redact(&[TUNNEL], &normalised);
        assert_eq!(public["tunnel"]["username"], "u");
        assert!(public["tunnel"].get("password").is_none());
        assert_eq!(
            crate::connectors::fields::secret_values(&[TUNNEL], &normalised),
            ["hunter2"]
        );
    }
}
