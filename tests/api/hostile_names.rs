//! Names chosen to break out of quoting, against the real servers: quotes of every
//! dialect, backslashes before them, a newline, unicode. Names the user gives and
//! names the server sends back both arrive whole, and none runs as SQL.

use mysql_async::prelude::Queryable;
use serde_json::json;

use crate::helpers::targets::{
    CLICKHOUSE_PORT, mysql_admin, mysql_credentials, pg_admin, pg_credentials,
};
use crate::helpers::{body, spawn_app, table, unique};

/// Table names as a server may hold them; created quoted, so each is one name.
const TABLES: &[&str] = &[
    "t\"ab'le\\",
    "new\nline",
    "ünï©ødé ✓",
    "x'); DROP TABLE y; --",
];

#[tokio::test]
async fn postgres_schema_and_table_names_with_quotes_backslashes_newlines_and_unicode_arrive_whole()
{
    let schema = format!("{} we\"ird'\\ ✓", unique("s"));
    let quoted = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    let mut sql = format!("CREATE SCHEMA {};", quoted(&schema));
    for t in TABLES {
        sql.push_str(&format!(
            "CREATE TABLE {}.{} (\"c'ol\" int);",
            quoted(&schema),
            quoted(t)
        ));
    }
    pg_admin().await.batch_execute(&sql).await.unwrap();
    let app = spawn_app().await;
    let snapshot = app
        .onboard("postgres", pg_credentials("pg-names", &schema))
        .await;
    assert_eq!(
        snapshot["databases"][0]["schemas"][0]["name"],
        schema.as_str()
    );
    for t in TABLES {
        assert_eq!(table(&snapshot, t)["columns"][0]["name"], "c'ol");
    }
    let _ = pg_admin()
        .await
        .batch_execute(&format!("DROP SCHEMA {} CASCADE", quoted(&schema)))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn mysql_table_names_with_quotes_backslashes_newlines_and_unicode_arrive_whole() {
    let db = unique("m");
    let mut admin = mysql_admin().await;
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    for t in TABLES {
        admin
            .query_drop(format!(
                "CREATE TABLE {db}.`{}` (`c'ol` int)",
                t.replace('`', "``")
            ))
            .await
            .unwrap();
    }
    let app = spawn_app().await;
    let snapshot = app
        .onboard("mysql", mysql_credentials("my-names", &db))
        .await;
    for t in TABLES {
        assert_eq!(table(&snapshot, t)["columns"][0]["name"], "c'ol", "{t}");
    }
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
    let _ = admin.disconnect().await;
    app.stop().await;
}

async fn clickhouse(sql: &str) {
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{CLICKHOUSE_PORT}/"))
        .body(sql.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{sql}: {}",
        answer.text().await.unwrap()
    );
}

#[tokio::test]
async fn a_clickhouse_database_named_to_end_its_literal_early_is_discovered_as_named() {
    // ClickHouse's literals take backslash escapes: a quote after a backslash is
    // where a careless escaper would let the name end.
    let db = format!("{}'q\\\"é\\", unique("k"));
    let backticked = format!("`{}`", db.replace('\\', "\\\\").replace('`', "\\`"));
    clickhouse(&format!("CREATE DATABASE {backticked}")).await;
    clickhouse(&format!(
        "CREATE TABLE {backticked}.`t'ab\\\\le` (a UInt8) ENGINE = Log"
    ))
    .await;
    let app = spawn_app().await;
    let snapshot = app
        .onboard(
            "clickhouse",
            json!({"name": "ch-names", "host": "127.0.0.1", "port": CLICKHOUSE_PORT, "database": db}),
        )
        .await;
    assert_eq!(snapshot["databases"][0]["name"], db.as_str());
    assert_eq!(table(&snapshot, "t'ab\\le")["columns"][0]["name"], "a");
    clickhouse(&format!("DROP DATABASE {backticked}")).await;
    app.stop().await;
}

#[tokio::test]
async fn names_a_user_gives_with_control_characters_or_outside_a_dialects_rules_are_refused() {
    let app = spawn_app().await;
    for (ty, credentials, field) in [
        (
            "postgres",
            pg_credentials("nl", "a\nb"),
            "credentials.schema",
        ),
        (
            "bigquery",
            json!({"name": "bq", "projectId": "proj-1234", "location": "US", "dataset": "a\\` OR 1=1",
                   "serviceAccount": "{}"}),
            "credentials.dataset",
        ),
    ] {
        let answer = app.post_datasource(&body(ty, credentials)).await;
        assert_eq!(answer.status(), 400, "{ty}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(field), "{ty}: {text}");
    }
    app.stop().await;
}
