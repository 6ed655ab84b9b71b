//! MongoDB through the official driver: by host and port or by a connection
//! string (`mongodb://`, `mongodb+srv://`). Discovery lists databases and
//! collections and infers each collection's fields from a bounded sample.
//!
//! Egress: every host the driver will be given is resolved and checked first. By
//! host and port the driver gets the checked address itself, and a direct
//! connection, so no replica-set member list can send it elsewhere. With TLS, or
//! with a connection string, the driver needs the names (for certificates and SRV),
//! so they are checked before and the driver resolves them again.

pub mod infer;

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, Credential, ServerAddress, Tls, TlsOptions};
use mongodb::{Client, error::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, port, text};
use crate::connectors::{ConnectorError, Fault, FieldProblem};
use crate::egress::Egress;
use crate::snapshot::{Database, Schema, Snapshot, Table, TableKind};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        required: false,
        description: "host name or IP address of the server; or give uri",
        ..HOST
    },
    port("27017"),
    text(
        "uri",
        4096,
        "a mongodb:// or mongodb+srv:// connection string; instead of host and port",
    )
    .secret(),
    text(
        "username",
        128,
        "user to log in as; none for a server without auth",
    ),
    text("password", 1024, "password of that user").secret(),
    text("authDatabase", 128, "database the user is defined in").or("\"admin\""),
    FieldSpec {
        name: "tls",
        kind: FieldKind::Bool,
        required: false,
        default: Some("false"),
        secret: false,
        description: "TLS with certificate verification (always on for mongodb+srv)",
    },
    text(
        "database",
        128,
        "limit discovery to this database; all databases when absent",
    ),
    FieldSpec {
        name: "sampleSize",
        kind: FieldKind::Integer {
            min: 1,
            max: 10_000,
        },
        required: false,
        default: Some("100"),
        secret: false,
        description: "documents sampled per collection to infer its fields",
    },
];

/// Databases that hold the server's own state, not the user's data.
const SYSTEM_DATABASES: &[&str] = &["admin", "local", "config"];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MongoConfig {
    pub host: Option<String>,
    pub port: u16,
    pub uri: Option<SecretString>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub auth_database: String,
    pub tls: bool,
    pub database: Option<String>,
    pub sample_size: u32,
}

impl MongoConfig {
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        match (&self.host, &self.uri) {
            (None, None) => problems.push(FieldProblem::new(
                "credentials.host",
                "give a host or a uri",
            )),
            (Some(_), Some(_)) => problems.push(FieldProblem::new(
                "credentials.uri",
                "give either a host or a uri, not both",
            )),
            (None, Some(uri)) => {
                let uri = uri.expose_secret();
                if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                    problems.push(FieldProblem::new(
                        "credentials.uri",
                        "must start with mongodb:// or mongodb+srv://",
                    ));
                } else if let Err(e) = mongodb::options::ConnectionString::parse(uri) {
                    // The driver's message may quote the string; say only what kind of problem it is.
                    let kind = match *e.kind {
                        ErrorKind::InvalidArgument { .. } => "is not a valid connection string",
                        _ => "could not be read",
                    };
                    problems.push(FieldProblem::new("credentials.uri", kind));
                }
            }
            _ => {}
        }
        if self.password.is_some() && self.username.is_none() {
            problems.push(FieldProblem::new(
                "credentials.username",
                "is required with a password",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

pub struct MongoSession {
    client: Client,
}

fn map_error(e: &mongodb::error::Error, target: &str) -> ConnectorError {
    let text = e.to_string();
    let short: String = text.chars().take(300).collect();
    match e.kind.as_ref() {
        ErrorKind::Authentication { .. } => ConnectorError::new(
            Fault::Authentication,
            format!("mongodb refused the login: {short}"),
            "check the username, password and authDatabase",
        ),
        ErrorKind::Command(c) if c.code == 18 => ConnectorError::new(
            Fault::Authentication,
            format!("mongodb refused the login: {}", c.message),
            "check the username, password and authDatabase",
        ),
        ErrorKind::Command(c) if c.code == 13 => ConnectorError::new(
            Fault::Permission,
            format!("the user lacks a privilege: {}", c.message),
            "grant the user listDatabases, listCollections and find (the read role) on the databases",
        ),
        ErrorKind::DnsResolve { .. } => ConnectorError::new(
            Fault::Unreachable,
            format!("could not resolve {target}: {short}"),
            "check the host name or the mongodb+srv record",
        ),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) => {
            let lower = text.to_ascii_lowercase();
            if lower.contains("tls") || lower.contains("certificate") {
                ConnectorError::new(
                    Fault::Tls,
                    format!("tls with {target} failed: {short}"),
                    "check the tls setting and the server's certificate",
                )
            } else if lower.contains("timed out") {
                ConnectorError::new(
                    Fault::Timeout,
                    format!("{target} did not answer in time: {short}"),
                    "check that it is a MongoDB server and not overloaded",
                )
            } else {
                ConnectorError::new(
                    Fault::Unreachable,
                    format!("could not reach {target}: {short}"),
                    "check the host and port, and that the server accepts connections from onramp's workers",
                )
            }
        }
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("mongodb answered an error: {short}"),
            "check that the server is MongoDB 4.2 or later",
        ),
    }
}

fn credential(cfg: &MongoConfig) -> Option<Credential> {
    cfg.username.as_ref().map(|user| {
        Credential::builder()
            .username(user.clone())
            .password(cfg.password.as_ref().map(|p| p.expose_secret().to_string()))
            .source(cfg.auth_database.clone())
            .build()
    })
}

async fn options(
    cfg: &MongoConfig,
    egress: &Egress,
) -> Result<(ClientOptions, String), ConnectorError> {
    let mut options = if let Some(host) = &cfg.host {
        let addrs = egress.resolve_checked(host, cfg.port).await?;
        let first = addrs[0];
        // A checked address for the driver, unless TLS needs the name for the certificate.
        let host_for_driver = if cfg.tls {
            host.clone()
        } else {
            first.ip().to_string()
        };
        let mut o = ClientOptions::default();
        o.hosts = vec![ServerAddress::Tcp {
            host: host_for_driver,
            port: Some(cfg.port),
        }];
        o.direct_connection = Some(true);
        if cfg.tls {
            o.tls = Some(Tls::Enabled(TlsOptions::default()));
        }
        o.credential = credential(cfg);
        o
    } else {
        let uri = cfg.uri.as_ref().expect("checked at validation");
        let mut o = ClientOptions::parse(uri.expose_secret())
            .await
            .map_err(|e| map_error(&e, "the connection string's hosts"))?;
        for address in &o.hosts {
            if let ServerAddress::Tcp { host, port } = address {
                egress.resolve_checked(host, port.unwrap_or(27017)).await?;
            }
        }
        if cfg.username.is_some() {
            o.credential = credential(cfg);
        }
        o
    };
    let target = match options.hosts.first() {
        Some(ServerAddress::Tcp { host, port }) => format!("{host}:{}", port.unwrap_or(27017)),
        _ => "the server".to_string(),
    };
    options.app_name = Some("onramp".into());
    // The worker's phase timeouts bound the whole step; these bound each try.
    options.connect_timeout = Some(Duration::from_secs(10));
    options.server_selection_timeout = Some(Duration::from_secs(30));
    Ok((options, target))
}

pub async fn connect(cfg: &MongoConfig, egress: &Egress) -> Result<MongoSession, ConnectorError> {
    let (options, target) = options(cfg, egress).await?;
    // Refused connections surface at once here, rather than after server selection gives up.
    if let (Some(host), false) = (&cfg.host, cfg.tls) {
        drop(egress.connect(host, cfg.port).await?);
    }
    let client = Client::with_options(options).map_err(|e| map_error(&e, &target))?;
    let auth_db = if cfg.username.is_some() {
        cfg.auth_database.as_str()
    } else {
        "admin"
    };
    client
        .database(auth_db)
        .run_command(doc! {"ping": 1})
        .await
        .map_err(|e| map_error(&e, &target))?;
    Ok(MongoSession { client })
}

/// The collections of a database and whether each is a view, from the
/// `listCollections` command read as plain documents: servers differ in the
/// optional fields (`info.uuid`) that the driver's typed listing insists on.
async fn collections(db: &mongodb::Database) -> Result<Vec<(String, bool)>, mongodb::error::Error> {
    let mut found = Vec::new();
    let mut answer = db
        .run_command(doc! {"listCollections": 1, "cursor": {}, "authorizedCollections": true})
        .await?;
    let mut batch_key = "firstBatch";
    loop {
        let cursor = answer.get_document("cursor").cloned().unwrap_or_default();
        for item in cursor.get_array(batch_key).into_iter().flatten() {
            if let Some(spec) = item.as_document() {
                let name = spec.get_str("name").unwrap_or_default();
                if !name.is_empty() && !name.starts_with("system.") {
                    found.push((name.to_string(), spec.get_str("type") == Ok("view")));
                }
            }
        }
        let id = cursor.get_i64("id").unwrap_or(0);
        if id == 0 {
            return Ok(found);
        }
        answer = db
            .run_command(doc! {"getMore": id, "collection": "$cmd.listCollections"})
            .await?;
        batch_key = "nextBatch";
    }
}

/// Up to `size` documents: a random sample where the server can draw one, else the first ones.
async fn sample(
    coll: &mongodb::Collection<Document>,
    size: u32,
) -> Result<Vec<Document>, mongodb::error::Error> {
    let random = coll
        .aggregate(vec![doc! {"$sample": {"size": size as i64}}])
        .await;
    match random {
        Ok(cursor) => cursor.try_collect().await,
        Err(_) => {
            coll.find(doc! {})
                .limit(size as i64)
                .await?
                .try_collect()
                .await
        }
    }
}

pub async fn discover(s: &MongoSession, cfg: &MongoConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let target = "the server";
    let names = match &cfg.database {
        Some(db) => vec![db.clone()],
        None => list_databases(s).await?,
    };
    let mut databases = Vec::new();
    for name in names {
        let db = s.client.database(&name);
        let mut tables = Vec::new();
        for (collection, is_view) in collections(&db).await.map_err(|e| map_error(&e, target))? {
            let coll = db.collection::<Document>(&collection);
            let docs = sample(&coll, cfg.sample_size)
                .await
                .map_err(|e| map_error(&e, target))?;
            let estimate = if is_view {
                None
            } else {
                coll.estimated_document_count().await.ok().map(|n| n as i64)
            };
            tables.push(Table {
                name: collection,
                kind: if is_view {
                    TableKind::View
                } else {
                    TableKind::Collection
                },
                comment: None,
                row_estimate: estimate,
                primary_key: vec!["_id".into()],
                foreign_keys: Vec::new(),
                columns: infer::columns(&docs),
                properties: [("sampledDocuments".to_string(), docs.len().to_string())].into(),
            });
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        databases.push(Database {
            name: name.clone(),
            schemas: vec![Schema { name, tables }],
        });
    }
    Ok(Snapshot::new("mongodb", databases, started))
}

pub async fn list_databases(s: &MongoSession) -> Result<Vec<String>, ConnectorError> {
    let mut names = s
        .client
        .list_database_names()
        .await
        .map_err(|e| map_error(&e, "the server"))?;
    names.retain(|n| !SYSTEM_DATABASES.contains(&n.as_str()));
    names.sort();
    Ok(names)
}

impl MongoSession {
    pub async fn close(self) {
        self.client.shutdown().await;
    }
}
