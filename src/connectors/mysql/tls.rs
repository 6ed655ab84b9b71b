//! The TLS policy as mysql_async takes it, and a probe that fetches the certificate
//! a server presented when the driver's handshake failed (the driver does not say
//! which certificate it refused; the message should).

use std::sync::Arc;
use std::time::Duration;

use mysql_async::{ClientIdentity, SslOpts};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::config::MysqlConfig;
use crate::connectors::Net;
use crate::egress::tls::SslMode;

/// The driver's TLS options for `mode` (never `Disable`).
pub fn ssl_opts(cfg: &MysqlConfig, mode: SslMode) -> SslOpts {
    // The driver's PathOrBuf is unnamed outside it; bytes convert into it.
    let buf = |text: &str| text.as_bytes().to_vec().into();
    let mut opts = SslOpts::default();
    match mode {
        // Encrypted, the certificate not checked: what prefer and require mean.
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            opts = opts.with_danger_accept_invalid_certs(true);
        }
        SslMode::VerifyCa => opts = opts.with_danger_skip_domain_validation(true),
        SslMode::VerifyFull => {}
    }
    if let Some(ca) = &cfg.tls.ca_certificate {
        // The given CA is the only one trusted.
        opts = opts
            .with_root_certs(vec![buf(ca)])
            .with_disable_built_in_roots(true);
    }
    if let (Some(cert), Some(key)) = (&cfg.tls.client_certificate, &cfg.tls.client_key) {
        opts = opts.with_client_identity(Some(ClientIdentity::new(
            buf(cert),
            buf(key.expose_secret()),
        )));
    }
    opts
}

/// CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION (MySQL's
/// capability flags).
const SSL_REQUEST_CAPABILITIES: u32 = 0x0200 | 0x0800 | 0x8000;
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The certificate the server presents to a TLS handshake, or `None` when it
/// cannot be had (no TLS, no answer): a second, bounded connection, used only to
/// describe a failure.
pub async fn presented_certificate(cfg: &MysqlConfig, net: &Net) -> Option<Vec<u8>> {
    tokio::time::timeout(PROBE_TIMEOUT, probe(cfg, net))
        .await
        .ok()
        .flatten()
}

async fn probe(cfg: &MysqlConfig, net: &Net) -> Option<Vec<u8>> {
    let mut stream = net.tcp(&cfg.host, cfg.port).await.ok()?;
    // The server's greeting: a 3-byte length, a sequence number, then the payload.
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.ok()?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    if len > 64 * 1024 {
        return None;
    }
    let mut greeting = vec![0u8; len];
    stream.read_exact(&mut greeting).await.ok()?;
    // SSLRequest: capabilities, max packet size, character set, 23 bytes of zero.
    let mut request = vec![32u8, 0, 0, header[3].wrapping_add(1)];
    request.extend(SSL_REQUEST_CAPABILITIES.to_le_bytes());
    request.extend((16u32 * 1024 * 1024).to_le_bytes());
    request.push(45); // utf8mb4_general_ci
    request.extend([0u8; 23]);
    stream.write_all(&request).await.ok()?;
    let policy = cfg.tls.policy(SslMode::Require);
    let (config, presented) = policy.client_config().ok()?;
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone()).ok()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let _ = connector.connect(name, stream).await;
    presented.get()
}

/// A name the server's certificate holds (its first DNS name, else its common
/// name), read from the certificate it presents.
pub async fn certificate_name(cfg: &MysqlConfig, net: &Net) -> Option<String> {
    let der = presented_certificate(cfg, net).await?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let dns = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|san| {
            san.value.general_names.iter().find_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
        });
    dns.or_else(|| {
        cert.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string)
    })
    .filter(|n| crate::egress::host::check(n).is_ok())
}
