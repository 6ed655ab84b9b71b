//! Schema drift: every sync and update diffs its snapshot against the one it
//! replaced, keeps the diff (`GET /api/v2/datasource/{name}/schema/changes`) and
//! publishes `datasource.schema_changed`; an unchanged schema keeps its hash and
//! publishes nothing.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{TestApp, body, spawn_app, unique};

async fn run(sql: &str) {
    pg_admin().await.batch_execute(sql).await.unwrap();
}

async fn changes(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/api/v2/datasource/drifty/schema/changes{query}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn kinds(diff: &Value) -> Vec<(String, String, bool)> {
    diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                format!(
                    "{}{}",
                    c["table"].as_str().unwrap(),
                    c["column"]
                        .as_str()
                        .map(|c| format!(".{c}"))
                        .unwrap_or_default()
                ),
                c["breaking"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_sync_that_changes_the_schema_records_the_diff_and_announces_it_and_one_that_does_not_stays_silent()
 {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let first = app
        .onboard("postgres", pg_credentials("drifty", &schema))
        .await;
    let mut events = Subscriber::events(&app.settings).await;

    // Nothing changed: same hash, no diff, no event (even though row estimates may move).
    run(&format!("ANALYZE {schema}.customers")).await;
    let job = app.sync_and_wait("drifty").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["schema"]["hash"], first["hash"]);
    assert!(
        events
            .next_of("datasource.schema_changed", Duration::from_secs(2))
            .await
            .is_none()
    );
    let none = changes(&app, "").await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0, "{none}");
    assert_eq!(none["pagination"]["total"], 0);

    run(&format!(
        "ALTER TABLE {schema}.orders DROP COLUMN meta;
         ALTER TABLE {schema}.orders ALTER COLUMN paid TYPE integer USING paid::int;
         ALTER TABLE {schema}.customers ADD COLUMN email text;
         ALTER TABLE {schema}.customers ALTER COLUMN created_at SET NOT NULL;
         CREATE TABLE {schema}.refunds (id int PRIMARY KEY);"
    ))
    .await;
    let job = app.sync_and_wait("drifty").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let cache = job["steps"].as_array().unwrap().last().unwrap().clone();
    assert!(
        cache["message"]
            .as_str()
            .unwrap()
            .contains("5 changes (2 breaking)"),
        "{cache}"
    );
    let event = events
        .next_of("datasource.schema_changed", Duration::from_secs(10))
        .await
        .expect("a schema_changed event");
    let data = &event.body["data"];
    assert_eq!(data["datasourceName"], "drifty");
    assert_eq!(data["fromHash"], first["hash"]);
    assert_eq!(data["toHash"], job["schema"]["hash"]);
    assert_eq!(data["summary"]["changes"], 5, "{data}");
    assert_eq!(data["summary"]["breaking"], 2, "{data}");
    assert_eq!(data["truncated"], false);
    assert_eq!(
        data["links"]["changes"],
        "/api/v2/datasource/drifty/schema/changes"
    );

    let list = changes(&app, "").await;
    let diffs = list["data"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{list}");
    assert_eq!(diffs[0]["jobId"], job["jobId"]);
    assert_eq!(
        kinds(&diffs[0]),
        [
            (
                "nullability_changed".to_string(),
                "customers.created_at".to_string(),
                false
            ),
            ("column_added".into(), "customers.email".into(), false),
            ("column_removed".into(), "orders.meta".into(), true),
            ("column_retyped".into(), "orders.paid".into(), true),
            ("table_added".into(), "refunds".into(), false),
        ]
    );
    let retyped = &diffs[0]["changes"][3];
    assert_eq!(retyped["from"], "boolean (boolean)");
    assert_eq!(retyped["to"], "integer (integer)");

    app.stop().await;
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn an_update_diffs_too_and_a_large_diff_is_summarised_in_the_event_and_whole_behind_the_link()
{
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    app.onboard("postgres", pg_credentials("drifty", &schema))
        .await;
    let mut events = Subscriber::events(&app.settings).await;

    let tables: String = (0..60)
        .map(|i| format!("CREATE TABLE {schema}.t{i:02} (id int);"))
        .collect();
    run(&tables).await;
    let put = app
        .client
        .put(app.url("/api/v2/datasource?wait=20"))
        .bearer_auth(&app.token)
        .json(&body("postgres", pg_credentials("drifty", &schema)))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let event = events
        .next_of("datasource.schema_changed", Duration::from_secs(10))
        .await
        .expect("a schema_changed event");
    let data = &event.body["data"];
    assert_eq!(data["summary"]["tablesAdded"], 60, "{data}");
    assert_eq!(data["changes"].as_array().unwrap().len(), 50);
    assert_eq!(data["truncated"], true);

    run(&format!("DROP TABLE {schema}.t00")).await;
    app.sync_and_wait("drifty").await;
    // Newest first, paginated, each diff whole.
    let page = changes(&app, "?pageSize=1").await;
    assert_eq!(page["pagination"]["total"], 2, "{page}");
    assert_eq!(
        kinds(&page["data"][0]),
        [("table_removed".to_string(), "t00".to_string(), true)]
    );
    let older = changes(&app, "?pageSize=1&pageNumber=2").await;
    assert_eq!(older["data"][0]["changes"].as_array().unwrap().len(), 60);
    let refused = app
        .get("/api/v2/datasource/drifty/schema/changes?pageSize=101")
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        app.get("/api/v2/datasource/nobody/schema/changes")
            .await
            .status(),
        404
    );

    app.stop().await;
    drop_pg_schema(&schema).await;
}
