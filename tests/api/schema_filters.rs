//! `credentials.schemaFilters`: include and exclude patterns for databases, schemas
//! and tables, applied in the catalog queries, recorded in the snapshot, refused
//! when malformed; through the API and the CLI's `discover`.

use serde_json::{Value, json};

use crate::helpers::targets::*;
use crate::helpers::{body, spawn_app, table, unique};

/// `schema.table` of every relation in the snapshot, sorted.
fn relations(snapshot: &Value) -> Vec<String> {
    let mut found: Vec<String> = snapshot["databases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["schemas"].as_array().unwrap())
        .flat_map(|s| {
            s["tables"].as_array().unwrap().iter().map(move |t| {
                format!(
                    "{}.{}",
                    s["name"].as_str().unwrap(),
                    t["name"].as_str().unwrap()
                )
            })
        })
        .collect();
    found.sort();
    found
}

/// The cached snapshot of the datasource `name`.
async fn schema_of(app: &crate::helpers::TestApp, name: &str) -> Value {
    app.get(&format!("/api/v2/datasource/{name}/schema"))
        .await
        .json()
        .await
        .unwrap()
}

async fn pg_database(db: &str, sql: &str) {
    pg_admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
}

const PG_SCHEMAS: &str = r#"
CREATE SCHEMA sales_eu; CREATE SCHEMA sales_us; CREATE SCHEMA hr; CREATE SCHEMA "Sales_Archive";
CREATE TABLE sales_eu.orders (id int PRIMARY KEY, customer_id int);
CREATE TABLE sales_eu.orders_tmp (id int);
CREATE TABLE sales_eu.t_1 (id int);
CREATE TABLE sales_eu."t%1" (id int);
CREATE VIEW sales_eu.big_orders AS SELECT id FROM sales_eu.orders;
CREATE TABLE sales_us.orders (id int PRIMARY KEY, eu_id int REFERENCES sales_eu.orders);
CREATE TABLE sales_us.events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE sales_us.events_2026 PARTITION OF sales_us.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE hr.people (id int);
CREATE TABLE "Sales_Archive".old (id int);
"#;

#[tokio::test]
async fn postgres_reads_only_what_the_filters_keep_and_records_them() {
    let db = unique("filt");
    pg_database(&db, PG_SCHEMAS).await;
    let app = spawn_app().await;
    let filters = json!({
        "schemas": {"include": ["sales_*"]},
        "tables": {"exclude": ["*_tmp", "t%1"]}
    });
    let credentials = json!({"name": "filtered", "host": "127.0.0.1", "port": 5432, "username": "postgres",
                             "password": "", "database": db, "sslMode": "disable", "schemaFilters": filters});
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot = schema_of(&app, "filtered").await;
    // Case-sensitive: "Sales_Archive" is not sales_*; `_` in t_1 is no wildcard
    // and `%` in "t%1" is a literal character.
    assert_eq!(
        relations(&snapshot),
        [
            "sales_eu.big_orders",
            "sales_eu.orders",
            "sales_eu.t_1",
            "sales_us.events",
            "sales_us.orders"
        ],
        "{snapshot}"
    );
    assert_eq!(
        snapshot["filters"], filters,
        "the snapshot records its filters"
    );
    let events = &snapshot["databases"][0]["schemas"][1]["tables"][0];
    assert_eq!(events["name"], "events", "{snapshot}");
    assert_eq!(events["partitions"], json!(["events_2026"]));
    // A key to a relation the filters keep is kept with its reference.
    let us_orders = &snapshot["databases"][0]["schemas"][1]["tables"][1];
    assert_eq!(
        us_orders["foreignKeys"][0]["references"]["schema"],
        "sales_eu"
    );
    // The datasource shows its filters: they are not secret.
    let view: Value = app
        .get("/api/v2/datasource/filtered")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["credentials"]["schemaFilters"], filters, "{view}");

    // Include patterns for tables, case-sensitive, with exclude winning.
    let narrow =
        json!({"tables": {"include": ["orders*", "people", "Old"], "exclude": ["orders_tmp"]}});
    let credentials = json!({"name": "narrow", "host": "127.0.0.1", "port": 5432, "username": "postgres",
                             "password": "", "database": db, "sslMode": "disable", "schemaFilters": narrow});
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot = schema_of(&app, "narrow").await;
    assert_eq!(
        relations(&snapshot),
        ["hr.people", "sales_eu.orders", "sales_us.orders"],
        "{snapshot}"
    );
    assert_eq!(snapshot["stats"]["tables"], 3);

    // The other PostgreSQL-protocol types push the same filters into their own
    // catalog queries; a key to a relation filtered out still names its columns.
    for ty in ["redshift", "cockroachdb"] {
        let name = format!("{ty}-filtered");
        // Redshift's switch is `ssl`; cockroachdb's `sslMode`.
        let ssl = if ty == "redshift" { "ssl" } else { "sslMode" };
        let credentials = json!({"name": name, "host": "127.0.0.1", "port": 5432, "username": "postgres",
                                 "password": "", "database": db, ssl: "disable",
                                 "schemaFilters": {"schemas": {"include": ["SALES_US"]}, "tables": {"exclude": ["events*"]}}});
        let job = app.create_and_wait(&body(ty, credentials)).await;
        assert_eq!(job["status"], "succeeded", "{ty}: {job}");
        let snapshot = schema_of(&app, &name).await;
        // Redshift folds names to lower case and compares them so; CockroachDB
        // compares them as PostgreSQL does.
        let expected: &[&str] = if ty == "redshift" {
            &["sales_us.orders"]
        } else {
            &[]
        };
        assert_eq!(relations(&snapshot), expected, "{ty}: {snapshot}");
        if ty == "redshift" {
            let key = &snapshot["databases"][0]["schemas"][0]["tables"][0]["foreignKeys"][0];
            assert_eq!(key["references"]["table"], "orders", "{snapshot}");
            assert_eq!(key["references"]["columns"], json!(["id"]), "{snapshot}");
        }
    }

    // Without filters the snapshot says nothing of them and reads every schema.
    let credentials = json!({"name": "all", "host": "127.0.0.1", "port": 5432, "username": "postgres",
                             "password": "", "database": db, "sslMode": "disable"});
    app.create_and_wait(&body("postgres", credentials)).await;
    let snapshot = schema_of(&app, "all").await;
    assert!(snapshot.get("filters").is_none());
    assert_eq!(snapshot["stats"]["tables"], 9, "{snapshot}");

    app.stop().await;
    let _ = pg_admin()
        .await
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await;
}

#[tokio::test]
async fn the_cli_discover_applies_the_filters_of_its_credentials_file() {
    let db = unique("filtcli");
    pg_database(&db, PG_SCHEMAS).await;
    let dir = std::env::temp_dir().join(unique("filters"));
    std::fs::create_dir_all(&dir).unwrap();
    let creds = dir.join("creds.json");
    let c = json!({"host": "127.0.0.1", "port": 5432, "username": "postgres", "password": "",
                   "database": db, "sslMode": "disable",
                   "schemaFilters": {"schemas": {"include": ["hr", "Sales_*"]}}});
    std::fs::write(&creds, c.to_string()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .args(["discover", "--type", "postgres", "--credentials"])
        .arg(&creds)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snapshot: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(relations(&snapshot), ["Sales_Archive.old", "hr.people"]);
    assert_eq!(
        snapshot["filters"]["schemas"]["include"],
        json!(["hr", "Sales_*"])
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = pg_admin()
        .await
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await;
}

#[tokio::test]
async fn mariadb_and_clickhouse_filter_tables_in_their_catalog_queries() {
    let (my_db, ch_db) = (unique("filtmy"), unique("filtch"));
    mysql_database(&my_db).await;
    clickhouse_database(&ch_db).await;
    let app = spawn_app().await;

    // MySQL's information_schema compares names without case: so do the patterns.
    let mut credentials = mysql_credentials("my", &my_db);
    credentials["schemaFilters"] =
        json!({"tables": {"include": ["CUSTOMERS", "*orders"], "exclude": ["big_*"]}});
    let job = app.create_and_wait(&body("mysql", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot = schema_of(&app, "my").await;
    assert_eq!(
        relations(&snapshot),
        [format!("{my_db}.customers"), format!("{my_db}.orders")],
        "{snapshot}"
    );
    assert_eq!(
        table(&snapshot, "orders")["foreignKeys"][0]["references"]["table"],
        "customers"
    );

    // SingleStore takes the same filters, escaped with its backslash: `_` is literal.
    let mut credentials = mysql_credentials("ss", &my_db);
    credentials["schemaFilters"] = json!({"tables": {"include": ["BIG_*", "custom_rs"]}});
    let job = app.create_and_wait(&body("singlestore", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot = schema_of(&app, "ss").await;
    assert_eq!(
        relations(&snapshot),
        [format!("{my_db}.big_orders")],
        "{snapshot}"
    );

    // ClickHouse's names differ by case.
    let mut credentials = clickhouse_credentials("ch", &ch_db);
    credentials["schemaFilters"] = json!({"tables": {"include": ["e*", "r*", "Log"]}});
    let job = app.create_and_wait(&body("clickhouse", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot = schema_of(&app, "ch").await;
    assert_eq!(
        relations(&snapshot),
        [format!("{ch_db}.events"), format!("{ch_db}.recent")],
        "{snapshot}"
    );
    assert_eq!(snapshot["stats"]["columns"], 8, "{snapshot}");

    app.stop().await;
    drop_mysql_database(&my_db).await;
    drop_clickhouse_database(&ch_db).await;
}

#[tokio::test]
async fn malformed_filters_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"databases": {"include": ["x"]}}),
            "credentials.schemaFilters.databases",
            "unknown field",
        ),
        (
            json!({"schemas": {"include": "public"}}),
            "credentials.schemaFilters.schemas.include",
            "must be a list of patterns",
        ),
        (
            json!({"tables": {"exclude": ["ok", "bad\u{7}"]}}),
            "credentials.schemaFilters.tables.exclude",
            "item 1 must not contain control characters",
        ),
        (
            json!({"tables": {"include": [""]}}),
            "credentials.schemaFilters.tables.include",
            "item 0 must be 1 to 256 characters",
        ),
        (
            json!({"tables": {"include": vec!["t"; 101]}}),
            "credentials.schemaFilters.tables.include",
            "takes at most 100 patterns",
        ),
        (
            json!({"tables": {"only": ["t"]}}),
            "credentials.schemaFilters.tables.only",
            "unknown field",
        ),
    ];
    for (filters, field, problem) in cases {
        let mut credentials = pg_credentials("bad", "public");
        credentials["schemaFilters"] = filters.clone();
        let r = app.post_datasource(&body("postgres", credentials)).await;
        assert_eq!(r.status(), 400, "{filters}");
        let answer: Value = r.json().await.unwrap();
        let problems = answer["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            problems
                .iter()
                .any(|p| p["field"] == field && p["problem"] == problem),
            "{filters}: {answer}"
        );
    }
    app.stop().await;
}
