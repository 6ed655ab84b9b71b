//! Permissions, honestly: the connect step checks the credentials can read the
//! catalog (and that a named schema exists); discovery reports the relations they
//! cannot read (`readable: false`) and passes with a `warning` instead of passing
//! silently or failing.

use serde_json::{Value, json};

use crate::helpers::targets::{drop_mysql_database, mysql_admin, mysql_database, pg_admin};
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

/// MariaDB lists the tables an account holds any privilege on: one it may see but
/// not SELECT from (INSERT only, SHOW VIEW only) is reported unreadable; one it
/// holds SELECT on, or SELECT on a column of, is readable.
#[tokio::test]
async fn mariadb_tables_the_user_may_see_but_not_select_are_reported() {
    use mysql_async::prelude::Queryable;
    let (db, user) = (unique("permmy"), unique("u"));
    mysql_database(&db).await;
    let mut admin = mysql_admin().await;
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
        format!("GRANT SELECT (id, name) ON {db}.customers TO '{user}'@'%'"),
        format!("GRANT INSERT ON {db}.orders TO '{user}'@'%'"),
        format!("GRANT SHOW VIEW ON {db}.big_orders TO '{user}'@'%'"),
    ] {
        admin.query_drop(sql).await.unwrap();
    }
    let app = spawn_app().await;
    let credentials = json!({"name": "limited-my", "host": "127.0.0.1", "port": 3306, "username": user,
                             "password": "pw", "database": db});
    let job = app.create_and_wait(&body("mysql", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let discover = &job["steps"][2];
    assert_eq!(discover["status"], "warning", "{job}");
    let message = discover["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "2 relations not readable: {db}.big_orders, {db}.orders"
        )),
        "{message}"
    );
    let snapshot: Value = app
        .get("/api/v2/datasource/limited-my/schema")
        .await
        .json()
        .await
        .unwrap();
    assert!(table(&snapshot, "customers").get("readable").is_none());
    assert_eq!(table(&snapshot, "orders")["readable"], false);
    assert_eq!(table(&snapshot, "big_orders")["readable"], false);

    // A schema the account cannot see fails the connect step.
    let other = json!({"name": "blind", "host": "127.0.0.1", "port": 3306, "username": user,
                       "password": "pw", "database": db, "schema": "mysql"});
    let job = app
        .fails_with(
            &body("mysql", other),
            &format!("connect: schema \"mysql\" does not exist or {user} holds no privilege on it"),
        )
        .await;
    assert_eq!(job["steps"][1]["status"], "failed", "{job}");

    // Through an active role, whose grants the views do not all show the account,
    // nothing is claimed: every relation is readable and the step passes.
    let role = unique("r");
    for sql in [
        format!("CREATE ROLE {role}"),
        format!("GRANT SELECT ON {db}.orders TO {role}"),
        format!("GRANT {role} TO '{user}'@'%'"),
        format!("SET DEFAULT ROLE {role} FOR '{user}'@'%'"),
    ] {
        admin.query_drop(sql).await.unwrap();
    }
    let credentials = json!({"name": "with-role", "host": "127.0.0.1", "port": 3306, "username": user,
                             "password": "pw", "database": db});
    let job = app.create_and_wait(&body("mysql", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["steps"][2]["status"], "passed", "{job}");

    app.stop().await;
    let _ = admin.query_drop(format!("DROP ROLE {role}")).await;
    let _ = admin.query_drop(format!("DROP USER '{user}'@'%'")).await;
    let _ = admin.disconnect().await;
    drop_mysql_database(&db).await;
}
