//! Firebolt's fields and its typed config.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldSpec, NAME, text, url};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text("clientId", 256, "service account client ID").required(),
    text("clientSecret", 1024, "service account client secret")
        .required()
        .secret(),
    text("account", 255, "account name").required(),
    text("engine", 255, "engine the discovery queries run on").required(),
    text("database", 255, "database to discover").required(),
    url(
        "apiEndpoint",
        "the Firebolt API (a proxy or a compatible server)",
    )
    .or("\"https://api.app.firebolt.io\""),
    url(
        "authEndpoint",
        "the Firebolt identity service that issues tokens",
    )
    .or("\"https://id.app.firebolt.io\""),
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES_BY_CASE,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FireboltConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub account: String,
    pub engine: String,
    pub database: String,
    pub api_endpoint: String,
    pub auth_endpoint: String,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}
