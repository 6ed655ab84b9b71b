//! Discovery: databases, collections (read as plain documents), and each
//! collection's fields inferred from a bounded sample.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{Document, doc};

use super::config::{MongoConfig, SYSTEM_DATABASES};
use super::infer;
use super::session::MongoSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::domain::snapshot::{Database, Schema, Snapshot, Table, TableKind};

/// The collections of a database and whether each is a view, from the
/// `listCollections` command read as plain documents: servers differ in the
/// optional fields (`info.uuid`) that the driver's typed listing insists on.
async fn collections(db: &mongodb::Database) -> Result<Vec<(String, bool)>, mongodb::error::Error> {
    let mut found = Vec::new();
    let mut answer = db
        .run_command(doc! {"listCollections": 1, "cursor": {}, "authorizedCollections": true})
        .await?;
    let mut batch_key = "firstBatch";
    let mut pages = 0;
    loop {
        // A server that keeps its cursor open for ever: stop at the page cap.
        pages += 1;
        if pages > crate::connectors::support::limits::MAX_PAGES {
            return Ok(found);
        }
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

/// Up to `size` documents: a random sample where the server can draw one, else the
/// first ones. At most `size` are kept whatever the server sends.
async fn sample(
    coll: &mongodb::Collection<Document>,
    size: u32,
) -> Result<Vec<Document>, mongodb::error::Error> {
    let random = coll
        .aggregate(vec![doc! {"$sample": {"size": size as i64}}])
        .await;
    let cursor = match random {
        Ok(cursor) => cursor,
        Err(_) => coll.find(doc! {}).limit(size as i64).await?,
    };
    cursor.take(size as usize).try_collect().await
}

pub async fn discover(s: &MongoSession, cfg: &MongoConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    // The lists of databases and collections carry names only; the filters
    // (case-sensitive, as MongoDB's names are) apply to them before any collection
    // is sampled or counted, which is where discovery's time goes.
    let filters = &cfg.schema_filters;
    let names = match &cfg.database {
        Some(db) => vec![db.clone()],
        None => list_databases(s).await?,
    };
    let mut databases = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| filters.databases.keeps(n, Case::Sensitive))
    {
        let db = s.client.database(&name);
        let mut tables = Vec::new();
        let listed = s.guarded(collections(&db)).await?;
        for (collection, is_view) in listed
            .into_iter()
            .filter(|(c, _)| filters.tables.keeps(c, Case::Sensitive))
        {
            let coll = db.collection::<Document>(&collection);
            let docs = s.guarded(sample(&coll, cfg.sample_size)).await?;
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
                ..Default::default()
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
        .guarded(s.client.list_database_names().into_future())
        .await?;
    names.retain(|n| !SYSTEM_DATABASES.contains(&n.as_str()));
    names.sort();
    Ok(names)
}
