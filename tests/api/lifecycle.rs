//! List, get, update, delete, sync, tenancy, isolation and the SSE stream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{TestApp, body, redis_at, redis_keys, spawn_app, unique};

/// Runs `sql` in the database the fixture schemas live in.
async fn run(sql: &str) {
    pg_admin().await.batch_execute(sql).await.unwrap();
}

/// A fresh fixture schema (with one more table, `extra`, when `extra`) and an app with
/// `life`, a postgres datasource discovered on it: the app, the schema and the create job.
async fn app_with_life(extra: bool) -> (TestApp, String, Value) {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    if extra {
        run(&format!("CREATE TABLE {schema}.extra (id int)")).await;
    }
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("life", &schema)))
        .await;
    assert_eq!(job["status"], "succeeded");
    (app, schema, job)
}

#[tokio::test]
async fn the_list_shows_a_created_datasource_without_its_password() {
    let (app, schema, _) = app_with_life(false).await;
    let list: Value = app
        .get("/api/v2/datasource?isPagination=true&pageNumber=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "life");
    assert!(list["data"][0]["credentials"].get("password").is_none());
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn an_update_retests_and_recaches_so_a_new_table_appears_and_an_unknown_name_is_refused() {
    let (app, schema, _) = app_with_life(false).await;
    // Update: a new table appears after the re-test and re-cache.
    run(&format!("CREATE TABLE {schema}.extra (id int)")).await;
    let put = app
        .client
        .put(app.url("/api/v2/datasource?wait=20"))
        .bearer_auth(&app.token)
        .json(&body("postgres", pg_credentials("life", &schema)))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let snapshot: Value = app
        .get("/api/v2/datasource/life/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["stats"]["tables"], 4);
    let unknown = app
        .client
        .put(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .json(&body("postgres", pg_credentials("nobody", &schema)))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_sync_by_name_or_by_id_rediscovers_a_dropped_table_and_an_unknown_name_is_not_found() {
    // Discovered with `extra`, which is then dropped: the cache holds 4 tables, the database 3.
    let (app, schema, _) = app_with_life(true).await;
    run(&format!("DROP TABLE {schema}.extra")).await;
    // Sync, by name and by id.
    let sync = |payload: Value| {
        app.client
            .post(app.url("/api/v2/datasource/sync"))
            .bearer_auth(&app.token)
            .json(&payload)
            .send()
    };
    let accepted: Value = sync(json!({"datasourceName": "life"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = app
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(
        (job["kind"].as_str(), job["status"].as_str()),
        (Some("sync"), Some("succeeded"))
    );
    let id = accepted["datasourceId"].as_str().unwrap().to_string();
    let by_id = sync(json!({"input": {"datasourceId": id}})).await.unwrap();
    assert_eq!(by_id.status(), 202);
    let by_id: Value = by_id.json().await.unwrap();
    app.wait_for_job(by_id["jobId"].as_str().unwrap(), Duration::from_secs(20))
        .await;
    let snapshot: Value = app
        .get("/api/v2/datasource/life/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["stats"]["tables"], 3);
    assert_eq!(
        sync(json!({"datasourceName": "ghost"}))
            .await
            .unwrap()
            .status(),
        404
    );
    // An id that names no datasource: DataBrain's DATASOURCE_ID_ERROR.
    let unknown = sync(json!({"input": {"datasourceId": uuid::Uuid::now_v7()}}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["error"]["code"], "DATASOURCE_ID_ERROR", "{unknown}");
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_delete_removes_the_record_and_cached_schema_announces_it_and_cannot_be_repeated() {
    let (app, schema, job) = app_with_life(false).await;
    let id = job["datasourceId"].as_str().unwrap().to_string();
    // Delete removes the record and the cached schema.
    let mut events = Subscriber::events(&app.settings).await;
    let deleted = app
        .client
        .delete(app.url("/api/v2/datasource?datasourceName=life"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(deleted["id"], json!(id));
    assert_eq!(app.get("/api/v2/datasource/life").await.status(), 404);
    assert_eq!(
        app.get("/api/v2/datasource/life/schema").await.status(),
        404
    );
    let mut redis = redis_at("redis://127.0.0.1:6379/").await;
    let keys = redis_keys(&mut redis, &app.settings.prefix).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    assert!(
        events
            .next_of("datasource.deleted", Duration::from_secs(10))
            .await
            .is_some()
    );
    let again = app
        .client
        .delete(app.url("/api/v2/datasource?datasourceName=life"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn tenancy_is_checked_against_the_discovered_schema() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let tenancy = |column: &str| {
        json!({"tenancyLevel": "TABLE", "schemaName": schema, "tableName": "customers",
        "tableClientNameColumn": column, "tablePrimaryKeyColumn": "id", "clientColumnType": "NUMBER"})
    };
    let mut good = body("postgres", pg_credentials("tenant-ok", &schema));
    good["tenancySettings"] = tenancy("tenant_id");
    assert_eq!(app.create_and_wait(&good).await["status"], "succeeded");

    let mut bad = body("postgres", pg_credentials("tenant-bad", &schema));
    bad["tenancySettings"] = tenancy("client_name");
    let job = app.create_and_wait(&bad).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "SCHEMA_CACHE_FAILED");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has no column client_name"),
        "{job}"
    );

    let mut db = body("postgres", pg_credentials("tenant-db", &schema));
    db["tenancySettings"] = json!({"tenancyLevel": "DATABASE"});
    let job = app.create_and_wait(&db).await;
    let dbs = job["result"]["tenancy"]["clientDatabases"]
        .as_array()
        .unwrap();
    assert!(
        dbs.contains(&json!("test")) && dbs.contains(&json!("postgres")),
        "{job}"
    );
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn one_organisation_never_sees_another_organisations_jobs_or_datasources() {
    let app = spawn_app().await;
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("mine", "public")))
        .await;
    let (_, _, other) = onramp::storage::tokens::create(&app.pool, "someone-else", None)
        .await
        .unwrap();
    let as_other = |path: &str| app.client.get(app.url(path)).bearer_auth(&other).send();
    let job_id = job["jobId"].as_str().unwrap();
    let r = as_other(&format!("/api/v2/jobs/{job_id}")).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "JOB_NOT_FOUND"
    );
    assert_eq!(
        as_other("/api/v2/datasource/mine").await.unwrap().status(),
        404
    );
    assert_eq!(
        as_other("/api/v2/datasource/mine/schema")
            .await
            .unwrap()
            .status(),
        404
    );
    let list: Value = as_other("/api/v2/datasource")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    // The other organisation may use the same name.
    let r = app
        .client
        .post(app.url("/api/v2/datasource"))
        .bearer_auth(&other)
        .json(&body("postgres", pg_credentials("mine", "public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn the_job_event_stream_shows_each_step_and_closes_after_the_end() {
    let app = spawn_app().await;
    let accepted: Value = app
        .accept(&body("postgres", pg_credentials("sse", "public")))
        .await;
    let job_id = accepted["jobId"].as_str().unwrap();
    let response = app.get(&format!("/api/v2/jobs/{job_id}/events")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .expect("stream closes")
        .unwrap();
    let jobs: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(jobs.len() >= 2, "{text}");
    assert_eq!(jobs.last().unwrap()["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_datasource_while_its_job_runs_leaves_nothing_cached() {
    let app = spawn_app().await;
    let target = crate::helpers::proxy::Proxy::start("127.0.0.1:5432").await;
    target.pause();
    let mut creds = pg_credentials("racing", "public");
    creds["port"] = json!(target.port);
    let accepted = app.accept(&body("postgres", creds)).await;
    let job_id = accepted["jobId"].as_str().unwrap();
    for _ in 0..200 {
        if app.job(job_id).await["status"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deleted = app
        .client
        .delete(app.url("/api/v2/datasource?datasourceName=racing"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // The job goes on to discover and cache, then finds its datasource gone.
    target.restore();
    app.wait_for_job(job_id, Duration::from_secs(20)).await;
    let mut redis = redis_at("redis://127.0.0.1:6379/").await;
    let keys = redis_keys(&mut redis, &app.settings.prefix).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    app.stop().await;
}
