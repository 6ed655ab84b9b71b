//! Elasticsearch and OpenSearch over their REST API, through the egress guard:
//! each index or alias a table, each mapped field a column (nested properties as
//! dotted paths). Deployments: `self-managed` or `open-cloud` (a URL) and
//! `elastic-cloud` (a cloud ID); auth by user and password or by API key.

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::connectors::Net;
use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};
use crate::connectors::{ConnectorError, Fault, FieldProblem};
use crate::egress::http::GuardedClient;
use crate::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind, TypeFamily};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        name: "deploymentType",
        kind: FieldKind::OneOf(&["self-managed", "open-cloud", "elastic-cloud"]),
        required: false,
        default: Some("\"self-managed\""),
        secret: false,
        description: "self-managed or open-cloud: give url; elastic-cloud: give cloudId",
    },
    url("url", "the cluster's URL (self-managed, open-cloud)"),
    text("cloudId", 1024, "Elastic Cloud ID (elastic-cloud)"),
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
        match self.deployment_type.as_str() {
            "elastic-cloud" => match &self.cloud_id {
                None => problems.push(problem("cloudId", "is required for elastic-cloud")),
                Some(id) => {
                    if let Err(e) = cloud_id_url(id) {
                        problems.push(problem("cloudId", &e));
                    }
                }
            },
            _ if self.url.is_none() => problems.push(problem(
                "url",
                "is required for self-managed and open-cloud",
            )),
            _ => {}
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
        crate::connectors::FieldProblem::none_or(problems)
    }

    fn base_url(&self) -> String {
        match (&self.cloud_id, &self.url) {
            (Some(id), _) if self.deployment_type == "elastic-cloud" => {
                cloud_id_url(id).unwrap_or_default()
            }
            (_, Some(url)) => format!("{}/", url.trim_end_matches('/')),
            _ => String::new(),
        }
    }
}

pub struct SearchSession {
    client: GuardedClient,
    base: String,
    cfg: SearchConfig,
    pub distribution: String,
    pub version: String,
}

impl SearchSession {
    async fn get(&self, path: &str) -> Result<Value, ConnectorError> {
        let mut request = self
            .client
            .request(reqwest::Method::GET, &format!("{}{path}", self.base))?;
        if let Some(key) = &self.cfg.api_key {
            request = request.header("authorization", format!("ApiKey {}", key.expose_secret()));
        } else if let Some(user) = &self.cfg.username {
            request =
                request.basic_auth(user, self.cfg.password.as_ref().map(|p| p.expose_secret()));
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let body: Value = self.client.read_json(response).await?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let reason = body["error"]["reason"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("")
            .to_string();
        Err(match status {
            401 => ConnectorError::new(
                Fault::Authentication,
                format!("the cluster refused the credentials: {reason}"),
                "check the user and password, or the API key",
            ),
            403 => ConnectorError::new(
                Fault::Permission,
                format!("the user lacks a privilege: {reason}"),
                "grant monitor and view_index_metadata on the indices to discover",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("{path} answered http {status}: {reason}"),
                "check that the URL points at an Elasticsearch or OpenSearch cluster",
            ),
        })
    }
}

pub async fn connect(cfg: &SearchConfig, net: &Net) -> Result<SearchSession, ConnectorError> {
    let mut session = SearchSession {
        client: net.http()?,
        base: cfg.base_url(),
        cfg: cfg.clone(),
        distribution: String::new(),
        version: String::new(),
    };
    let root = session.get("").await?;
    let Some(version) = root["version"]["number"].as_str() else {
        return Err(ConnectorError::new(
            Fault::Protocol,
            "the answer is not an Elasticsearch or OpenSearch cluster's",
            "check the URL",
        ));
    };
    session.version = version.to_string();
    session.distribution = root["version"]["distribution"]
        .as_str()
        .unwrap_or("elasticsearch")
        .to_string();
    Ok(session)
}

pub async fn discover(
    s: &SearchSession,
    cfg: &SearchConfig,
    flavor: &str,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let pattern: String = cfg
        .index_pattern
        .split(',')
        .map(|p| crate::connectors::support::aws::sigv4::uri_encode(p.trim(), false))
        .collect::<Vec<_>>()
        .join(",");
    let (cat, mapping, alias) = (
        format!("_cat/indices/{pattern}?format=json"),
        format!("{pattern}/_mapping"),
        format!("{pattern}/_alias"),
    );
    let (indices, mappings, aliases) =
        tokio::try_join!(s.get(&cat), s.get(&mapping), s.get(&alias))?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for entry in indices.as_array().into_iter().flatten() {
        let Some(index) = entry["index"].as_str().filter(|i| !i.starts_with('.')) else {
            continue;
        };
        let mut columns = Vec::new();
        flatten(
            "",
            &mappings[index]["mappings"]["properties"],
            &mut columns,
            0,
        );
        let mut properties = BTreeMap::new();
        if let Some(health) = entry["health"].as_str() {
            properties.insert("health".to_string(), health.to_string());
        }
        tables.insert(
            index.to_string(),
            Table {
                name: index.to_string(),
                kind: TableKind::Index,
                comment: None,
                row_estimate: entry["docs.count"].as_str().and_then(|n| n.parse().ok()),
                primary_key: vec!["_id".to_string()],
                foreign_keys: Vec::new(),
                columns,
                properties,
            },
        );
    }
    // An alias reads like a view over its indices: it takes the first index's fields.
    let mut alias_targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (index, entry) in aliases.as_object().into_iter().flatten() {
        for alias in entry["aliases"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(a, _)| a)
        {
            alias_targets
                .entry(alias.clone())
                .or_default()
                .push(index.clone());
        }
    }
    for (alias, mut targets) in alias_targets {
        targets.sort();
        let Some(first) = targets.iter().find_map(|t| tables.get(t)) else {
            continue;
        };
        let mut properties = BTreeMap::new();
        properties.insert("indices".to_string(), targets.join(", "));
        let table = Table {
            name: alias.clone(),
            kind: TableKind::View,
            comment: Some(format!("alias of {}", targets.join(", "))),
            row_estimate: None,
            primary_key: vec!["_id".to_string()],
            foreign_keys: Vec::new(),
            columns: first.columns.clone(),
            properties,
        };
        tables.insert(alias, table);
    }
    let databases = vec![Database {
        name: s.distribution.clone(),
        schemas: vec![Schema {
            name: cfg.index_pattern.clone(),
            tables: tables.into_values().collect(),
        }],
    }];
    Ok(Snapshot::new(flavor, databases, started))
}

/// Mapped fields as columns; object fields contribute their sub-fields as dotted paths.
fn flatten(prefix: &str, properties: &Value, out: &mut Vec<Column>, depth: usize) {
    for (name, field) in properties.as_object().into_iter().flatten() {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let kind = field["type"].as_str().unwrap_or("object");
        if kind == "object"
            && field["properties"].is_object()
            && depth < crate::connectors::MAX_NESTING
        {
            flatten(&path, &field["properties"], out, depth + 1);
            continue;
        }
        out.push(Column {
            ordinal: out.len() as u32 + 1,
            name: path,
            native_type: kind.to_string(),
            family: family(kind),
            nullable: true,
            default: None,
            comment: None,
        });
    }
}

fn family(kind: &str) -> TypeFamily {
    match kind {
        "text" | "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "ip"
        | "version" | "search_as_you_type" => TypeFamily::String,
        "long" | "integer" | "short" | "byte" | "unsigned_long" => TypeFamily::Integer,
        "double" | "float" | "half_float" | "scaled_float" => TypeFamily::Float,
        "boolean" => TypeFamily::Boolean,
        "date" | "date_nanos" => TypeFamily::Timestamp,
        "binary" => TypeFamily::Binary,
        "nested" | "dense_vector" | "knn_vector" => TypeFamily::Array,
        "object" | "flattened" | "flat_object" => TypeFamily::Json,
        _ => TypeFamily::Other,
    }
}

/// Elasticsearch and OpenSearch: one REST API, their own names in the snapshot.
pub struct Search {
    pub name: &'static str,
}

pub const ELASTICSEARCH: Search = Search {
    name: "elasticsearch",
};

pub const OPENSEARCH: Search = Search { name: "opensearch" };

impl crate::connectors::Connector for Search {
    type Config = SearchConfig;
    type Session = SearchSession;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        FIELDS
    }

    /// An index is a table; a cluster has no databases to split tenants by.
    fn tenancy_levels(&self) -> &'static [crate::connectors::tenancy::Level] {
        &[crate::connectors::tenancy::Level::Table]
    }

    fn check(&self, config: &SearchConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.check()
    }

    async fn connect(
        &self,
        config: &SearchConfig,
        net: &Net,
    ) -> Result<SearchSession, ConnectorError> {
        connect(config, net).await
    }

    async fn discover(
        &self,
        session: &mut SearchSession,
        config: &SearchConfig,
    ) -> Result<crate::snapshot::Snapshot, ConnectorError> {
        discover(session, config, self.name).await
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
