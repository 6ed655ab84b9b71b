//! List, get, update, delete, sync, tenancy, isolation and the SSE stream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{body, spawn_app, unique};

#[tokio::test]
async fn a_datasource_can_be_listed_updated_synced_and_deleted() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("life", &schema)))
        .await;
    assert_eq!(job["status"], "succeeded");

    let list: Value = app
        .get("/api/v2/datasource?isPagination=true&pageNumber=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "life");
    assert!(list["data"][0]["credentials"].get("password").is_none());

    // Update: a new table appears after the re-test and re-cache.
    pg_admin()
        .await
        .batch_execute(&format!("CREATE TABLE {schema}.extra (id int)"))
        .await
        .unwrap();
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

    // Sync, by name and by id.
    pg_admin()
        .await
        .batch_execute(&format!("DROP TABLE {schema}.extra"))
        .await
        .unwrap();
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
    let mut redis = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.settings.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
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
    let mut redis = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.settings.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    app.stop().await;
}
