//! `GET /datasource/{name}/schema` over HTTP: the stored zstd frames as they are for a
//! client that takes zstd, gzip for one that takes only gzip, JSON otherwise; an ETag
//! per coding and per part; one schema or one table read alone; and all of it with
//! the snapshots in a Redis Cluster.

use serde_json::Value;

use crate::helpers::targets::{drop_pg_schema, pg_admin, pg_credentials};
use crate::helpers::{TestApp, body, redis_at, redis_keys, spawn_app, spawn_with, unique};
use crate::snapshot_store::CLUSTER_NODES;

/// A schema of `tables` tables of 16 columns each.
async fn wide_pg_schema(schema: &str, tables: usize) {
    let mut sql = format!("CREATE SCHEMA {schema};");
    for t in 0..tables {
        let columns: Vec<String> = (1..16).map(|c| format!("column_{c} text")).collect();
        sql.push_str(&format!(
            "CREATE TABLE {schema}.t{t} (id bigint PRIMARY KEY, {});",
            columns.join(", ")
        ));
    }
    pg_admin().await.batch_execute(&sql).await.unwrap();
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(app.url(path)).bearer_auth(&app.token);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn onboard_wide(app: &TestApp, name: &str, tables: usize) -> String {
    let schema = unique("s");
    wide_pg_schema(&schema, tables).await;
    let job = app
        .create_and_wait(&body("postgres", pg_credentials(name, &schema)))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    schema
}

#[tokio::test]
async fn the_schema_goes_out_as_stored_zstd_as_gzip_or_as_json_each_with_its_etag() {
    let app = spawn_app().await;
    let schema = onboard_wide(&app, "wide", 250).await;
    let path = "/api/v2/datasource/wide/schema";

    let plain = get(&app, path, &[]).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary"), Some("accept-encoding"));
    let plain_tag = header(&plain, "etag").unwrap().to_string();
    let json = plain.bytes().await.unwrap().to_vec();
    let snapshot: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(snapshot["stats"]["tables"], 250);
    assert_eq!(
        plain_tag,
        format!("\"{}\"", snapshot["hash"].as_str().unwrap())
    );

    let zstd = get(&app, path, &[("accept-encoding", "gzip, zstd")]).await;
    assert_eq!(header(&zstd, "content-encoding"), Some("zstd"));
    let zstd_tag = header(&zstd, "etag").unwrap().to_string();
    assert_ne!(
        zstd_tag, plain_tag,
        "a coding is a representation of its own"
    );
    let compressed = zstd.bytes().await.unwrap();
    assert!(
        compressed.len() * 8 < json.len(),
        "{} of {}",
        compressed.len(),
        json.len()
    );
    assert_eq!(zstd::stream::decode_all(&compressed[..]).unwrap(), json);

    let gzip = get(&app, path, &[("accept-encoding", "gzip;q=0.8, zstd;q=0")]).await;
    assert_eq!(header(&gzip, "content-encoding"), Some("gzip"));
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzip.bytes().await.unwrap()[..]),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, json);
    let other = get(&app, path, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&other, "content-encoding"), None);
    assert_eq!(other.bytes().await.unwrap().to_vec(), json);

    // Either coding's tag answers for the same snapshot.
    for tag in [&plain_tag, &zstd_tag] {
        let r = get(&app, path, &[("if-none-match", tag)]).await;
        assert_eq!(r.status(), 304, "{tag}");
    }

    // One table, read from its own frame.
    let one = get(&app, &format!("{path}?schema={schema}&table=t7"), &[]).await;
    assert_eq!(one.status(), 200);
    let one_tag = header(&one, "etag").unwrap().to_string();
    assert_ne!(one_tag, plain_tag);
    let one: Value = one.json().await.unwrap();
    let tables = &one["databases"][0]["schemas"][0]["tables"];
    let want = snapshot["databases"][0]["schemas"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "t7")
        .unwrap();
    assert_eq!(tables.as_array().unwrap(), &vec![want.clone()]);
    assert_eq!(one["hash"], snapshot["hash"]);
    let cached = get(
        &app,
        &format!("{path}?schema={schema}&table=t7"),
        &[("if-none-match", &one_tag)],
    )
    .await;
    assert_eq!(cached.status(), 304);
    // The whole schema (the only one here) is the whole snapshot, passed through as stored.
    let whole = get(
        &app,
        &format!("{path}?schema={schema}"),
        &[("accept-encoding", "zstd")],
    )
    .await;
    assert_eq!(header(&whole, "content-encoding"), Some("zstd"));
    let whole = zstd::stream::decode_all(&whole.bytes().await.unwrap()[..]).unwrap();
    assert_eq!(whole, json);

    let missing = get(&app, &format!("{path}?table=nope"), &[]).await;
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["error"]["code"], "DATASOURCE_NOT_FOUND");
    let message = missing["error"]["message"].as_str().unwrap();
    assert!(message.contains("table \"nope\""), "{missing}");
    let empty = get(&app, &format!("{path}?schema="), &[]).await;
    assert_eq!(empty.status(), 400);
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn with_the_snapshots_in_a_redis_cluster_a_datasource_is_onboarded_read_and_deleted() {
    let app = spawn_with(|s| {
        s.redis_cluster = true;
        s.redis_url = CLUSTER_NODES.into();
    })
    .await;
    let schema = onboard_wide(&app, "clustered", 40).await;
    let path = "/api/v2/datasource/clustered/schema";
    let zstd = get(&app, path, &[("accept-encoding", "zstd")]).await;
    assert_eq!(zstd.status(), 200);
    assert_eq!(header(&zstd, "content-encoding"), Some("zstd"));
    let json = zstd::stream::decode_all(&zstd.bytes().await.unwrap()[..]).unwrap();
    let snapshot: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(snapshot["stats"]["tables"], 40);
    let one: Value = get(&app, &format!("{path}?table=t39"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        one["databases"][0]["schemas"][0]["tables"][0]["name"],
        "t39"
    );
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["redis"], "ok", "{ready}");

    let deleted = app
        .client
        .delete(app.url("/api/v2/datasource?datasourceName=clustered"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // Nothing of this test's prefix is left on any master.
    let mut left = Vec::new();
    for port in [17101, 17102, 17103] {
        let mut node = redis_at(&format!("redis://127.0.0.1:{port}/")).await;
        left.extend(redis_keys(&mut node, &app.settings.prefix).await.unwrap());
    }
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(get(&app, path, &[]).await.status(), 404);
    drop_pg_schema(&schema).await;
    app.stop().await;
}
