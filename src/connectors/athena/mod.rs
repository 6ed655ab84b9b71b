//! Amazon Athena: the connection test through the Athena API (the workgroup), and
//! discovery through the Glue Data Catalog behind Athena's AwsDataCatalog
//! (databases, tables, columns, partition keys), paged, never one call per table.

use std::collections::BTreeMap;
use std::time::Instant;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connectors::Net;
use crate::connectors::fields::{FieldSpec, NAME, text, url};
use crate::connectors::support::aws::json_api::{ApiError, AwsJson, common_error, hive_family};
use crate::connectors::{ConnectorError, Fault};
use crate::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "region",
        32,
        "the region of the workgroup and catalog, e.g. us-east-1",
    )
    .required(),
    text("accessKeyId", 128, "access key id").required(),
    text("secretAccessKey", 256, "secret access key")
        .required()
        .secret(),
    text("workgroup", 128, "Athena workgroup").or("\"primary\""),
    text(
        "outputLocation",
        1024,
        "s3:// location for query results, when the workgroup sets none",
    ),
    text(
        "catalog",
        128,
        "data catalog; AwsDataCatalog is the Glue Data Catalog",
    )
    .or("\"AwsDataCatalog\""),
    text("database", 255, "database (Glue database) to discover").required(),
    url(
        "endpoint",
        "one endpoint for Athena and Glue (an AWS-compatible server); AWS when absent",
    ),
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AthenaConfig {
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub workgroup: String,
    pub output_location: Option<String>,
    pub catalog: String,
    pub database: String,
    pub endpoint: Option<String>,
}

impl AthenaConfig {
    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        let mut problems = crate::connectors::support::aws::region_problems(&self.region);
        if self
            .output_location
            .as_deref()
            .is_some_and(|l| !l.starts_with("s3://"))
        {
            problems.push(crate::connectors::FieldProblem::new(
                "credentials.outputLocation",
                "must be an s3:// location",
            ));
        }
        if self.catalog != "AwsDataCatalog" {
            problems.push(crate::connectors::FieldProblem::new(
                "credentials.catalog",
                "only AwsDataCatalog (the Glue Data Catalog) can be discovered",
            ));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }
}

pub struct AthenaSession {
    api: AwsJson,
}

fn api_error(
    result: Result<ApiError, ConnectorError>,
    what: &str,
    cfg: &AthenaConfig,
) -> ConnectorError {
    let e = match result {
        Ok(e) => e,
        Err(transport) => return transport,
    };
    if let Some(common) = common_error(&e) {
        return common;
    }
    match e.kind.as_str() {
        "EntityNotFoundException" => ConnectorError::new(
            Fault::UnknownDatabase,
            format!(
                "database {} does not exist in the Glue Data Catalog",
                cfg.database
            ),
            "check the database name and the region",
        ),
        "InvalidRequestException" if what == "GetWorkGroup" => ConnectorError::new(
            Fault::UnknownDatabase,
            format!("workgroup {} does not exist: {}", cfg.workgroup, e.message),
            "check the workgroup name and the region",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!(
                "{what} answered http {}: {} {}",
                e.status, e.kind, e.message
            ),
            "check the endpoint and region",
        ),
    }
}

pub async fn connect(cfg: &AthenaConfig, net: &Net) -> Result<AthenaSession, ConnectorError> {
    let api = AwsJson {
        client: net.http()?,
        endpoint: cfg
            .endpoint
            .as_deref()
            .map(|e| e.parse().expect("validated url")),
        region: cfg.region.clone(),
        access_key_id: cfg.access_key_id.clone(),
        secret_access_key: cfg.secret_access_key.clone(),
    };
    let workgroup = api
        .call(
            "athena",
            "AmazonAthena.GetWorkGroup",
            &json!({"WorkGroup": cfg.workgroup}),
        )
        .await
        .map_err(|e| api_error(e, "GetWorkGroup", cfg))?;
    let configured =
        workgroup["WorkGroup"]["Configuration"]["ResultConfiguration"]["OutputLocation"].as_str();
    if configured.is_none() && cfg.output_location.is_none() {
        return Err(ConnectorError::new(
            Fault::Protocol,
            format!("workgroup {} sets no query result location", cfg.workgroup),
            "give outputLocation (an s3:// location), or set one on the workgroup",
        ));
    }
    api.call(
        "glue",
        "AWSGlue.GetDatabase",
        &json!({"Name": cfg.database}),
    )
    .await
    .map_err(|e| api_error(e, "GetDatabase", cfg))?;
    Ok(AthenaSession { api })
}

pub async fn discover(s: &AthenaSession, cfg: &AthenaConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let mut tables = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = crate::connectors::Pages::new("GetTables");
    loop {
        pages.one_more()?;
        let mut request = json!({"DatabaseName": cfg.database, "MaxResults": 100});
        if let Some(t) = &token {
            request["NextToken"] = json!(t);
        }
        let page = s
            .api
            .call("glue", "AWSGlue.GetTables", &request)
            .await
            .map_err(|e| api_error(e, "GetTables", cfg))?;
        for t in page["TableList"].as_array().into_iter().flatten() {
            tables.push(table(t));
        }
        token = page["NextToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let databases = vec![Database {
        name: cfg.catalog.clone(),
        schemas: vec![Schema {
            name: cfg.database.clone(),
            tables,
        }],
    }];
    Ok(Snapshot::new("athena", databases, started))
}

pub async fn list_databases(s: &AthenaSession) -> Result<Vec<String>, ConnectorError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = crate::connectors::Pages::new("GetDatabases");
    loop {
        pages.one_more()?;
        let mut request = json!({});
        if let Some(t) = &token {
            request["NextToken"] = json!(t);
        }
        let page = s
            .api
            .call("glue", "AWSGlue.GetDatabases", &request)
            .await
            .map_err(|e| match e {
                Ok(api) => common_error(&api).unwrap_or_else(|| {
                    ConnectorError::new(
                        Fault::Protocol,
                        format!("GetDatabases: {} {}", api.kind, api.message),
                        "check the endpoint",
                    )
                }),
                Err(transport) => transport,
            })?;
        names.extend(
            page["DatabaseList"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["Name"].as_str().map(str::to_string)),
        );
        token = page["NextToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// A Glue table: its storage columns, then its partition keys.
fn table(t: &Value) -> Table {
    let kind = match t["TableType"].as_str() {
        Some("VIRTUAL_VIEW") => TableKind::View,
        _ => TableKind::External,
    };
    let mut columns = Vec::new();
    let storage = t["StorageDescriptor"]["Columns"]
        .as_array()
        .into_iter()
        .flatten();
    let partitions = t["PartitionKeys"].as_array().into_iter().flatten();
    for (c, partition) in storage
        .map(|c| (c, false))
        .chain(partitions.map(|c| (c, true)))
    {
        let native = c["Type"].as_str().unwrap_or("string").to_string();
        let comment = c["Comment"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        columns.push(Column {
            name: c["Name"].as_str().unwrap_or_default().to_string(),
            ordinal: columns.len() as u32 + 1,
            family: hive_family(&native),
            native_type: native,
            nullable: true,
            default: None,
            comment: if partition {
                Some(comment.map_or("partition key".to_string(), |c| {
                    format!("partition key: {c}")
                }))
            } else {
                comment
            },
        });
    }
    let mut properties = BTreeMap::new();
    if let Some(location) = t["StorageDescriptor"]["Location"].as_str() {
        properties.insert("location".to_string(), location.to_string());
    }
    let partition_keys: Vec<&str> = t["PartitionKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Name"].as_str())
        .collect();
    if !partition_keys.is_empty() {
        properties.insert("partitionKeys".to_string(), partition_keys.join(", "));
    }
    Table {
        name: t["Name"].as_str().unwrap_or_default().to_string(),
        kind,
        comment: t["Description"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        row_estimate: None,
        primary_key: Vec::new(),
        foreign_keys: Vec::new(),
        columns,
        properties,
    }
}

crate::connector! {
    Athena {
        config: AthenaConfig,
        session: AthenaSession,
        fields: FIELDS,
        check: AthenaConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
