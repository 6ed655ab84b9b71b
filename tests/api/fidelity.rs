//! Discovery agrees with a peer's reflection on real-world schemas: SQLAlchemy 2's
//! Inspector (tests/fidelity/oracle.py, in the virtualenv scripts/test-servers.sh
//! makes) reflects pagila on PostgreSQL and sakila on MariaDB, and every relation's
//! kind, columns in order, type families, nullability, defaults, comments, primary
//! and foreign keys and folded partitions must match onramp's snapshot.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{spawn_app, table, unique};

const ORACLE_PYTHON: &str = "/var/lib/onramp-sqla/bin/python3";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Feeds `sql` to a command-line client (psql or mysql: both fixtures are dumps with
/// client-side statements such as DELIMITER) and fails the test on any error.
async fn load(program: &str, args: &[&str], sql: String) {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(sql.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The oracle's report on `snapshot`: relations and columns compared, mismatches.
async fn oracle(url: &str, snapshot: &Value, schemas: &[&str]) -> Value {
    let file = std::env::temp_dir().join(format!("{}.json", unique("snapshot")));
    std::fs::write(&file, serde_json::to_vec(snapshot).unwrap()).unwrap();
    let script = format!("{}/tests/fidelity/oracle.py", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(ORACLE_PYTHON)
        .arg(script)
        .arg(url)
        .arg(&file)
        .args(schemas)
        .output()
        .await
        .expect("the SQLAlchemy virtualenv (scripts/test-servers.sh makes it)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "oracle.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_agrees(report: &Value, relations: u64, columns: u64) {
    let mismatches = report["mismatches"].as_array().unwrap();
    assert!(
        mismatches.is_empty(),
        "{} mismatches with SQLAlchemy's Inspector:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .map(|m| m.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The comparison covered the whole schema, not an empty one.
    assert_eq!(report["relations"], relations, "{report}");
    assert_eq!(report["columns"], columns, "{report}");
}

fn column<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {table}"))
}

#[tokio::test]
async fn postgres_discovery_of_pagila_agrees_with_sqlalchemy() {
    let db = unique("pagila");
    let admin = crate::helpers::targets::pg_admin().await;
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    load(
        "psql",
        &[
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &db,
        ],
        fixture("pagila-schema.sql"),
    )
    .await;
    let app = spawn_app().await;
    let snapshot = app
        .onboard(
            "postgres",
            json!({"name": "pagila", "host": "127.0.0.1", "port": 5432, "username": "postgres",
                   "password": "", "database": db, "sslMode": "disable"}),
        )
        .await;

    let report = oracle(
        &format!("postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"),
        &snapshot,
        &["public"],
    )
    .await;
    // 15 tables (payment's seven partitions folded into it), 7 views, 1 materialized view.
    assert_agrees(&report, 23, 131);
    let payment = table(&snapshot, "payment");
    assert_eq!(
        payment["partitions"].as_array().unwrap().len(),
        7,
        "{payment}"
    );
    let film = table(&snapshot, "film");
    assert_eq!(column(film, "release_year")["type"], "integer", "a domain");
    assert_eq!(column(film, "rating")["type"], "string", "an enum");
    assert_eq!(column(film, "special_features")["type"], "array");

    app.stop().await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await;
}

#[tokio::test]
async fn mariadb_discovery_of_sakila_agrees_with_sqlalchemy() {
    let db = unique("sakila");
    load(
        "mysql",
        &["-h", "127.0.0.1", "-P", "3306", "-u", "root"],
        fixture("mysql-sakila-schema.sql").replace("sakila", &db),
    )
    .await;
    let app = spawn_app().await;
    let snapshot = app
        .onboard(
            "mysql",
            crate::helpers::targets::mysql_credentials("sakila", &db),
        )
        .await;

    let report = oracle(
        &format!("mysql+pymysql://root@127.0.0.1:3306/{db}"),
        &snapshot,
        &[&db],
    )
    .await;
    // 16 tables and 7 views.
    assert_agrees(&report, 23, 131);
    let film = table(&snapshot, "film");
    assert_eq!(column(film, "special_features")["type"], "string", "a set");
    assert_eq!(column(film, "description")["default"], Value::Null);

    app.stop().await;
    crate::helpers::targets::drop_mysql_database(&db).await;
}
