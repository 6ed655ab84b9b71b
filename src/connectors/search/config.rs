//! Elasticsearch's and OpenSearch's fields, their typed config, its checks, and the
//! endpoint a URL or a cloud ID names.

use base64::Engine;
use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};
use crate::connectors::tls::{CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY, TlsFields};
use crate::egress::tls::SslMode;

/// The URL's scheme chooses TLS; for https, how much of the certificate is checked.
const SEARCH_SSL_MODE: FieldSpec = FieldSpec {
    default: None,
    description: "for an https URL: require (the certificate NOT checked), verify-ca (it must chain to caCertificate, or to a public authority) or verify-full (and name the host; the default); an http URL is plain (disable)",
    ..crate::connectors::tls::ssl_mode("null")
};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        name: "deploymentType",
        kind: FieldKind::OneOf(&["self-managed", "open-cloud", "elastic-cloud"]),
        required: false,
        default: Some("\"self-managed\""),
        secret: false,
        description: "self-managed: give url; elastic-cloud: give cloudId; open-cloud (a hosted service): give its url, or a cloudId as DataBrain groups it with elastic-cloud",
    },
    url("url", "the cluster's URL (self-managed, open-cloud)"),
    text(
        "cloudId",
        1024,
        "Elastic Cloud ID (elastic-cloud, or open-cloud without url)",
    ),
    text("username", 128, "user for basic authentication"),
    text("password", 1024, "password of that user").secret(),
    text(
        "apiKey",
        1024,
        "API key (the encoded form), instead of user and password",
    )
    .secret(),
    FieldSpec {
        name: "indexPattern",
        kind: FieldKind::Text { min: 1, max: 255 },
        required: false,
        default: Some("\"*\""),
        secret: false,
        description: "which indices to discover, e.g. logs-*; hidden indices (.name) are skipped",
    },
    SEARCH_SSL_MODE,
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    crate::connectors::schema_filters::TABLES_ONLY,
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchConfig {
    pub deployment_type: String,
    pub url: Option<String>,
    pub cloud_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub api_key: Option<SecretString>,
    pub index_pattern: String,
    pub ssl_mode: Option<SslMode>,
    #[serde(flatten)]
    pub tls: TlsFields,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

/// The Elasticsearch endpoint a cloud ID names: `name:base64(host[:port]$es_id$kibana_id)`.
pub fn cloud_id_url(cloud_id: &str) -> Result<String, String> {
    let encoded = cloud_id.split_once(':').map_or(cloud_id, |(_, e)| e);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "is not a cloud ID (its second part is not base64)".to_string())?;
    let text = String::from_utf8(decoded).map_err(|_| "is not a cloud ID".to_string())?;
    let mut parts = text.split('$');
    let (Some(host), Some(es)) = (parts.next(), parts.next()) else {
        return Err("is not a cloud ID (expected host$elasticsearch-id$kibana-id)".into());
    };
    let (host, port) = host.split_once(':').map_or((host, "443"), |(h, p)| (h, p));
    if host.is_empty() || es.is_empty() || crate::egress::host::check(host).is_err() {
        return Err("is not a cloud ID (bad host)".into());
    }
    Ok(format!("https://{es}.{host}:{port}/"))
}

impl SearchConfig {
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let problem = |f: &str, p: &str| FieldProblem::new(format!("credentials.{f}"), p);
        // DataBrain groups open-cloud with elastic-cloud (a cloudId); a hosted
        // service is as often given by its URL: open-cloud takes either.
        match (self.deployment_type.as_str(), &self.cloud_id, &self.url) {
            ("elastic-cloud", None, _) => {
                problems.push(problem("cloudId", "is required for elastic-cloud"))
            }
            ("open-cloud", Some(_), Some(_)) => problems.push(problem(
                "cloudId",
                "give a cloudId or a url for open-cloud, not both",
            )),
            ("open-cloud", None, None) => problems.push(problem(
                "url",
                "is required for open-cloud without a cloudId",
            )),
            ("self-managed", _, None) => {
                problems.push(problem("url", "is required for self-managed"))
            }
            _ => {}
        }
        if let Some(id) = self.cloud_id.as_deref().filter(|_| self.uses_cloud_id())
            && let Err(e) = cloud_id_url(id)
        {
            problems.push(problem("cloudId", &e));
        }
        if self.api_key.is_some() && (self.username.is_some() || self.password.is_some()) {
            problems.push(problem(
                "apiKey",
                "give an API key or a user and password, not both",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            problems.push(problem("username", "is required with a password"));
        }
        let https = self.base_url().starts_with("https://");
        match self.ssl_mode {
            Some(SslMode::Disable) if https => problems.push(problem(
                "sslMode",
                "disable needs an http:// URL: the scheme chooses TLS",
            )),
            Some(m) if m != SslMode::Disable && !https => problems.push(problem(
                "sslMode",
                "TLS needs an https:// URL: the scheme chooses TLS",
            )),
            _ => {}
        }
        if let Err(tls) = self.tls.check_http(self.mode(), "sslMode") {
            problems.extend(tls);
        }
        crate::connectors::FieldProblem::none_or(problems)
    }

    /// The TLS the URL's scheme and `sslMode` make: an https URL verifies fully
    /// unless told otherwise.
    pub fn mode(&self) -> SslMode {
        if self.base_url().starts_with("https://") {
            self.ssl_mode.unwrap_or(SslMode::VerifyFull)
        } else {
            SslMode::Disable
        }
    }

    /// Whether the endpoint comes from the cloud ID: elastic-cloud, and open-cloud
    /// given one instead of a URL.
    fn uses_cloud_id(&self) -> bool {
        match self.deployment_type.as_str() {
            "elastic-cloud" => true,
            "open-cloud" => self.url.is_none(),
            _ => false,
        }
    }

    pub(super) fn base_url(&self) -> String {
        match (&self.cloud_id, &self.url) {
            (Some(id), _) if self.uses_cloud_id() => cloud_id_url(id).unwrap_or_default(),
            (_, Some(url)) => format!("{}/", url.trim_end_matches('/')),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloud_id_names_the_elasticsearch_endpoint() {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode("us-east-1.aws.found.io$abc123$kib456");
        assert_eq!(
            cloud_id_url(&format!("prod:{encoded}")).unwrap(),
            "https://abc123.us-east-1.aws.found.io:443/"
        );
        let with_port = base64::engine::general_purpose::STANDARD.encode("example.test:9243$es$kb");
        assert_eq!(
            cloud_id_url(&format!("x:{with_port}")).unwrap(),
            "https://es.example.test:9243/"
        );
        assert!(cloud_id_url("prod:not-base64!").is_err());
        let evil = base64::engine::general_purpose::STANDARD.encode("a@169.254.169.254$es$kb");
        assert!(cloud_id_url(&format!("x:{evil}")).is_err());
    }
}
