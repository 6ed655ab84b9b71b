//! rustls settings shared by connectors, and the one TLS policy every type that
//! speaks TLS takes (`sslMode`, `caCertificate`, `clientCertificate`, `clientKey`).

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::domain::{ConnectorError, Fault};

/// The rustls error in an error's chain. `io::Error`s hide what they wrap from
/// `source()` (hyper nests them two deep), so each one is opened with `get_ref`.
pub fn find_rustls_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut source = Some(e);
    while let Some(s) = source {
        let mut inner: &(dyn std::error::Error + 'static) = s;
        loop {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        source = s.source();
    }
    None
}

/// A failed handshake in words a user can act on: what failed, and the certificate
/// the server presented (its subject and SHA-256 fingerprint) so it can be fixed or
/// its CA given.
pub fn tls_failure(host: &str, e: &rustls::Error, presented: Option<&[u8]>) -> ConnectorError {
    use rustls::{AlertDescription, CertificateError};
    let (what, hint) = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => (
                "the certificate is not trusted (not issued by the given caCertificate, or by a public authority when none is given)".to_string(),
                "give the CA that issued the server's certificate as caCertificate",
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                format!("the certificate's names do not include {host}"),
                "connect by a name the certificate holds, or use sslMode verify-ca (the chain is checked, the name is not)",
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "the certificate has expired".to_string(),
                "renew the server's certificate",
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "the certificate is not valid yet".to_string(),
                "check the server's certificate dates and clock",
            ),
            other => (
                format!("the certificate was refused: {other:?}"),
                "check the server's certificate",
            ),
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown,
        ) => (
            format!("the server refused the client certificate ({e})"),
            "give a clientCertificate and clientKey the server's CA issued",
        ),
        other => (
            format!("{other}"),
            "check that the server speaks TLS on this port, or use a weaker sslMode",
        ),
    };
    let shown = presented.map(describe).unwrap_or_default();
    ConnectorError::new(
        Fault::Tls,
        format!("tls handshake with {host} failed: {what}{shown}"),
        hint,
    )
}

/// "; the server presented CN=…, SHA-256 AB:CD:…" for a DER certificate.
pub fn describe(der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(der);
    let fingerprint: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    let subject = x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| crate::domain::text::cut_target_text(&c.subject().to_string(), 256))
        .unwrap_or_else(|_| "an unreadable certificate".into());
    format!(
        "; the server presented {subject}, SHA-256 fingerprint {}",
        fingerprint.join(":")
    )
}

/// How much of TLS a connection asks for (libpq's spelling; `enable` is DataBrain's
/// for `require`).
/// Ordered weakest first, so that a deployment can name the weakest it accepts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    /// TLS if the server offers it, plain otherwise; no certificate check.
    Prefer,
    /// TLS or nothing; no certificate check (encrypted, not authenticated).
    #[serde(alias = "enable")]
    Require,
    /// TLS; the chain must lead to the CA, whatever names the certificate holds.
    VerifyCa,
    /// TLS; the chain must lead to the CA and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// The TLS policy of one connection, as the credentials give it.
#[derive(Clone)]
pub struct TlsPolicy {
    pub mode: SslMode,
    /// PEM, one or more certificates: the only roots trusted when given.
    pub ca_certificate: Option<String>,
    pub client_certificate: Option<String>,
    pub client_key: Option<secrecy::SecretString>,
}

/// The end-entity certificate a server presented, kept for the error message.
#[derive(Default, Debug)]
pub struct Presented(Mutex<Option<Vec<u8>>>);

impl Presented {
    pub fn get(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|p| p.clone())
    }
}

/// Why PEM text from the credentials cannot be used.
pub fn pem_problem(field: &str, pem: &str) -> Option<String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ok = match field {
        "clientKey" => PrivateKeyDer::from_pem_slice(pem.as_bytes()).is_ok(),
        _ => {
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
            certs.is_ok_and(|c| !c.is_empty())
        }
    };
    (!ok).then(|| match field {
        "clientKey" => "must be a PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string(),
        _ => "must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----)".to_string(),
    })
}

impl TlsPolicy {
    /// The rustls configuration for this policy, and where the server's certificate
    /// will be kept. Only for modes that use TLS.
    pub fn client_config(&self) -> Result<(rustls::ClientConfig, Arc<Presented>), ConnectorError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: &str| {
            ConnectorError::new(
                Fault::Tls,
                format!("the {what} cannot be used"),
                "give PEM text as the field's description says",
            )
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_certificate {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots
                        .add(cert.map_err(|_| bad("caCertificate"))?)
                        .map_err(|_| bad("caCertificate"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let presented = Arc::new(Presented::default());
        let verifier = PolicyVerifier {
            mode: self.mode,
            webpki: rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|_| bad("caCertificate"))?,
            provider: provider.clone(),
            presented: presented.clone(),
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let config = match (&self.client_certificate, &self.client_key) {
            (Some(cert), Some(key)) => {
                use secrecy::ExposeSecret;
                let chain: Result<Vec<_>, _> =
                    CertificateDer::pem_slice_iter(cert.as_bytes()).collect();
                let key = PrivateKeyDer::from_pem_slice(key.expose_secret().as_bytes())
                    .map_err(|_| bad("clientKey"))?;
                builder
                    .with_client_auth_cert(chain.map_err(|_| bad("clientCertificate"))?, key)
                    .map_err(|_| bad("clientCertificate and clientKey pair"))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok((config, presented))
    }
}

/// Checks a server's certificate as the mode says, keeping it for the message.
#[derive(Debug)]
struct PolicyVerifier {
    mode: SslMode,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    presented: Arc<Presented>,
}

impl ServerCertVerifier for PolicyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut p) = self.presented.0.lock() {
            *p = Some(end_entity.to_vec());
        }
        if !self.mode.verifies() {
            return Ok(ServerCertVerified::assertion());
        }
        let checked = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if self.mode == SslMode::VerifyCa => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
