//! The TLS policy's fields, the same for every type that takes them: `sslMode`
//! (libpq's spelling, each type keeping its old field as an alias where it had one),
//! `caCertificate`, and `clientCertificate` with `clientKey` for mutual TLS.

use secrecy::SecretString;
use serde::Deserialize;

use super::fields::{FieldKind, FieldProblem, FieldSpec, text};
use crate::egress::tls::{SslMode, TlsPolicy, pem_problem};

/// `enable` is DataBrain's word for `require`.
pub const SSL_MODES: &[&str] = &[
    "disable",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
    "enable",
];

pub const fn ssl_mode(default: &'static str) -> FieldSpec {
    FieldSpec {
        name: "sslMode",
        kind: FieldKind::OneOf(SSL_MODES),
        required: false,
        default: Some(default),
        secret: false,
        description: "disable; prefer (TLS when the server offers it) or require (TLS or nothing): encrypted, the certificate NOT checked; verify-ca (the certificate must chain to caCertificate, or to a public authority); verify-full (and name the host)",
    }
}

/// Within the request body limit (64 KiB) with room for the rest: a CA bundle of a
/// dozen certificates fits.
const PEM_MAX: usize = 16 * 1024;

pub const CA_CERTIFICATE: FieldSpec = text(
    "caCertificate",
    PEM_MAX,
    "PEM, one or more certificates: with verify-ca or verify-full, the only authorities trusted (public ones when absent)",
)
.multiline();

pub const CLIENT_CERTIFICATE: FieldSpec = text(
    "clientCertificate",
    PEM_MAX,
    "PEM certificate (and chain) for mutual TLS, with clientKey",
)
.multiline();

pub const CLIENT_KEY: FieldSpec =
    text("clientKey", PEM_MAX, "PEM private key of clientCertificate")
        .multiline()
        .secret();

/// `sslMode` of a type that had only an on/off `ssl` switch (off by default): the
/// mode when given, else the switch (on verifies, as it always did).
pub fn mode_or_switch(mode: Option<SslMode>, ssl: bool) -> SslMode {
    mode.unwrap_or(if ssl {
        SslMode::VerifyFull
    } else {
        SslMode::Disable
    })
}

/// `sslMode` for an HTTP type: no default, the `ssl` switch decides when absent.
pub const HTTP_SSL_MODE: FieldSpec = FieldSpec {
    default: None,
    description: "disable (http); require (https, the certificate NOT checked); verify-ca (https, the certificate must chain to caCertificate, or to a public authority); verify-full (and name the host). When absent, ssl decides: true is verify-full",
    ..ssl_mode("null")
};

/// The fields a type's config reads beside its mode.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsFields {
    pub ca_certificate: Option<String>,
    pub client_certificate: Option<String>,
    pub client_key: Option<SecretString>,
}

impl TlsFields {
    pub fn policy(&self, mode: SslMode) -> TlsPolicy {
        TlsPolicy {
            mode,
            ca_certificate: self.ca_certificate.clone(),
            client_certificate: self.client_certificate.clone(),
            client_key: self.client_key.clone(),
        }
    }

    /// The checks across the fields: PEM that reads, a pair for mutual TLS, and a
    /// CA only where it is used (prefer and require check nothing: a CA given with
    /// them would look like protection it is not).
    pub fn check(&self, mode: SslMode, mode_field: &str) -> Result<(), Vec<FieldProblem>> {
        use secrecy::ExposeSecret;
        let mut problems = Vec::new();
        let mut pem = |field: &str, text: Option<&str>| {
            if let Some(problem) = text.and_then(|t| pem_problem(field, t)) {
                problems.push(FieldProblem::new(format!("credentials.{field}"), problem));
            }
        };
        pem("caCertificate", self.ca_certificate.as_deref());
        pem("clientCertificate", self.client_certificate.as_deref());
        pem(
            "clientKey",
            self.client_key.as_ref().map(|k| k.expose_secret()),
        );
        match (&self.client_certificate, &self.client_key) {
            (Some(_), None) => problems.push(FieldProblem::new(
                "credentials.clientKey",
                "is required with clientCertificate",
            )),
            (None, Some(_)) => problems.push(FieldProblem::new(
                "credentials.clientCertificate",
                "is required with clientKey",
            )),
            _ => {}
        }
        if self.ca_certificate.is_some() && !mode.verifies() {
            problems.push(FieldProblem::new(
                "credentials.caCertificate",
                format!("is used only when {mode_field} is verify-ca or verify-full"),
            ));
        }
        if self.client_certificate.is_some() && mode == SslMode::Disable {
            problems.push(FieldProblem::new(
                "credentials.clientCertificate",
                format!("needs TLS: set {mode_field} to require or stronger"),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl TlsFields {
    /// The checks of `check`, and what HTTP cannot do: `prefer` (the scheme is
    /// chosen before anything is sent, so there is no falling back).
    pub fn check_http(&self, mode: SslMode, mode_field: &str) -> Result<(), Vec<FieldProblem>> {
        let mut problems = self.check(mode, mode_field).err().unwrap_or_default();
        if mode == SslMode::Prefer {
            problems.push(FieldProblem::new(
                format!("credentials.{mode_field}"),
                "prefer cannot be had over HTTP (the scheme is chosen before connecting): use require or stronger, or disable",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The connect step's warning for a login sent without TLS to `host`, unless
/// `host` is this machine (nothing crosses a network then).
pub fn cleartext_login(host: &str, what: &str) -> Option<String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| {
        format!("warning: {what} cross the network to {host} without TLS, readable on the way; set sslMode to require or stronger (or use a tunnel)")
    })
}
