//! Permissions, honestly: the connect step checks the credentials can read the
//! catalog (and that a named schema exists); discovery reports the relations they
//! cannot read (`readable: false`) and passes with a `warning` instead of passing
//! silently or failing.

use serde_json::{Value, json};

use crate::helpers::targets::pg_admin;
use crate::helpers::{body, spawn_app, unique};

/// A relation of any schema of the snapshot's first database.
fn table<'a>(snapshot: &'a Value, name: &str) -> &'a Value {
    snapshot["databases"][0]["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tables"].as_array().unwrap())
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("table {name} missing from {snapshot}"))
}

async fn in_database(db: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
}

#[tokio::test]
async fn relations_the_user_cannot_read_are_reported_in_the_snapshot_and_as_a_warning() {
    let (db, role) = (unique("perm"), unique("r"));
    pg_admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    in_database(
        &db,
        &format!(
            "CREATE SCHEMA sales;
             CREATE TABLE sales.customers (id int PRIMARY KEY, name text);
             CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES sales.customers);
             CREATE VIEW sales.big_orders AS SELECT id FROM sales.orders;
             CREATE SCHEMA vault;
             CREATE TABLE vault.secrets (id int);
             CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA sales TO {role};
             GRANT SELECT ON sales.customers TO {role};"
        ),
    )
    .await;
    let app = spawn_app().await;
    let credentials = json!({"name": "limited", "host": "127.0.0.1", "port": 5432, "username": role,
                             "password": "", "database": db, "sslMode": "disable"});
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let discover = &job["steps"][2];
    assert_eq!(discover["status"], "warning", "{job}");
    let message = discover["message"].as_str().unwrap();
    assert!(
        message.contains(
            "1 schema not readable: vault; 2 relations not readable: sales.big_orders, sales.orders"
        ),
        "{message}"
    );
    assert_eq!(
        job["steps"][3]["status"], "passed",
        "the snapshot is still cached"
    );

    let snapshot: Value = app
        .get("/api/v2/datasource/limited/schema")
        .await
        .json()
        .await
        .unwrap();
    assert!(table(&snapshot, "customers").get("readable").is_none());
    assert_eq!(table(&snapshot, "orders")["readable"], false);
    assert_eq!(table(&snapshot, "big_orders")["readable"], false);
    assert_eq!(table(&snapshot, "secrets")["readable"], false);
    // What the catalog shows of an unreadable relation is still reported.
    assert_eq!(
        table(&snapshot, "orders")["columns"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    app.stop().await;
    let _ = pg_admin()
        .await
        .batch_execute(&format!(
            "DROP DATABASE {db} WITH (FORCE); DROP ROLE {role}"
        ))
        .await;
}

#[tokio::test]
async fn a_schema_that_does_not_exist_fails_the_connect_step() {
    let app = spawn_app().await;
    let credentials = json!({"name": "typo", "host": "127.0.0.1", "port": 5432, "username": "postgres",
                             "password": "", "database": "test", "schema": "no_such_schema", "sslMode": "disable"});
    let job = app
        .fails_with(
            &body("postgres", credentials),
            "connect: schema \"no_such_schema\" does not exist in database \"test\"",
        )
        .await;
    assert_eq!(job["steps"][1]["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    app.stop().await;
}
