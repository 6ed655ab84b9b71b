//! The types that speak PostgreSQL's or MySQL's protocol: cockroachdb and redshift
//! (tested against PostgreSQL), singlestore (against MariaDB).

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{body, spawn_app, unique};

fn table<'a>(snapshot: &'a Value, schema: &str, name: &str) -> &'a Value {
    snapshot["databases"][0]["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == schema)
        .and_then(|s| {
            s["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
        })
        .unwrap_or_else(|| panic!("{schema}.{name} missing from {snapshot}"))
}

#[tokio::test]
async fn cockroachdb_redshift_and_singlestore_are_discovered_end_to_end() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let db = unique("m");
    mysql_database(&db).await;
    let mut events = Subscriber::events(&app.settings).await;
    for ty in ["cockroachdb", "redshift", "singlestore"] {
        let mut c = credentials_for(ty, &format!("{ty}-ok"));
        if is_pg_wire(ty) {
            c["schema"] = json!(schema);
        } else {
            c["database"] = json!(db);
        }
        let job = app.create_and_wait(&body(ty, c)).await;
        assert_eq!(job["status"], "succeeded", "{ty}: {job}");
        let snapshot: Value = app
            .get(&format!("/api/v2/datasource/{ty}-ok/schema"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(snapshot["datasourceType"], ty);
        assert_eq!(snapshot["stats"]["tables"], 3, "{ty}");
        let in_schema = if is_pg_wire(ty) {
            schema.as_str()
        } else {
            db.as_str()
        };
        let orders = table(&snapshot, in_schema, "orders");
        assert_eq!(orders["primaryKey"], json!(["id", "line"]), "{ty}");
        assert_eq!(
            orders["foreignKeys"][0]["references"]["table"], "customers",
            "{ty}"
        );
        assert_eq!(
            orders["foreignKeys"][0]["references"]["columns"],
            json!(["id"]),
            "{ty}"
        );
        assert_eq!(
            table(&snapshot, in_schema, "customers")["comment"],
            "people who pay",
            "{ty}"
        );
        let ready = events
            .next_of("datasource.ready", std::time::Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(ready.body["data"]["datasourceType"], ty);
    }
    drop_pg_schema(&schema).await;
    drop_mysql_database(&db).await;
    app.stop().await;
}

#[tokio::test]
async fn each_type_fills_its_default_port_and_shows_the_defaults_in_the_job() {
    let app = spawn_app().await;
    for (ty, port) in [
        ("cockroachdb", "26257"),
        ("redshift", "5439"),
        ("singlestore", "3306"),
        ("postgres", "5432"),
    ] {
        let mut c = credentials_for(ty, &format!("{ty}-defaults"));
        c.as_object_mut().unwrap().remove("port");
        c["host"] = json!("127.0.0.1");
        let job = app.create_and_wait(&body(ty, c)).await;
        let validate = job["steps"][0]["message"].as_str().unwrap();
        assert!(
            validate.contains(&format!("defaults used: port {port}")),
            "{ty}: {validate}"
        );
        let record: Value = app
            .get(&format!("/api/v2/datasource/{ty}-defaults"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(record["credentials"]["port"].to_string(), port, "{ty}");
    }
    app.stop().await;
}

/// Redshift's own catalog sources, created in a schema on the test user's search path
/// in their documented shape: SVV_EXTERNAL_TABLES, SVV_EXTERNAL_COLUMNS and
/// PG_GET_LATE_BINDING_VIEW_COLS().
const REDSHIFT_CATALOG: &str = "
CREATE SCHEMA {cat};
CREATE VIEW {cat}.svv_external_tables (schemaname, tablename, location, input_format, output_format,
    serialization_lib, serde_parameters, compressed, parameters, tabletype) AS
  VALUES ('{data}'::text, 'clicks'::text, 's3://bucket/clicks/'::text, 'parquet'::text, ''::text, ''::text, ''::text, 0, ''::text, 'EXTERNAL_TABLE'::text);
CREATE VIEW {cat}.svv_external_columns (schemaname, tablename, columnname, external_type, columnnum, part_key, is_nullable) AS
  VALUES ('{data}'::text, 'clicks'::text, 'url'::text, 'string'::text, 2, 0, 'true'::text),
         ('{data}'::text, 'clicks'::text, 'id'::text, 'bigint'::text, 1, 0, 'false'::text),
         ('{data}'::text, 'clicks'::text, 'day'::text, 'date'::text, 3, 1, 'true'::text);
CREATE FUNCTION {cat}.pg_get_late_binding_view_cols() RETURNS SETOF record LANGUAGE sql AS $$
  VALUES ('{data}'::name, 'recent'::name, 'id'::name, 'bigint'::varchar, 1),
         ('{data}'::name, 'recent'::name, 'amount'::name, 'numeric(12,2)'::varchar, 2)
$$;
CREATE VIEW {data}.recent AS SELECT FROM {data}.orders;
CREATE ROLE {role} LOGIN;
ALTER ROLE {role} SET search_path = {cat}, public;
GRANT USAGE ON SCHEMA {cat}, {data} TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA {cat} TO {role};
";

#[tokio::test]
async fn redshift_discovery_reads_external_tables_and_late_binding_views_from_redshift_views() {
    let app = spawn_app().await;
    let (data, cat, role) = (unique("s"), unique("c"), unique("r"));
    pg_schema(&data).await;
    let sql = REDSHIFT_CATALOG
        .replace("{cat}", &cat)
        .replace("{data}", &data)
        .replace("{role}", &role);
    pg_admin().await.batch_execute(&sql).await.unwrap();

    let mut c = credentials_for("redshift", "spectrum");
    c["username"] = json!(role);
    c["schema"] = json!(data);
    let job = app.create_and_wait(&body("redshift", c)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/spectrum/schema")
        .await
        .json()
        .await
        .unwrap();
    let clicks = table(&snapshot, &data, "clicks");
    assert_eq!(clicks["kind"], "external");
    let columns: Vec<(&str, &str, &str)> = clicks["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["nativeType"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "bigint", "integer"),
            ("url", "string", "string"),
            ("day", "date", "date")
        ]
    );
    assert_eq!(clicks["columns"][0]["nullable"], false);
    assert_eq!(clicks["columns"][2]["comment"], "partition key 1");
    let recent = table(&snapshot, &data, "recent");
    assert_eq!(recent["kind"], "view");
    let names: Vec<&str> = recent["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "amount"]);
    assert_eq!(recent["columns"][1]["type"], "decimal");
    // The ordinary pg_catalog path still runs beside them.
    assert_eq!(
        table(&snapshot, &data, "orders")["primaryKey"],
        json!(["id", "line"])
    );

    let cleanup = format!(
        "DROP SCHEMA {cat} CASCADE; DROP SCHEMA {data} CASCADE; DROP OWNED BY {role}; DROP ROLE {role};"
    );
    pg_admin().await.batch_execute(&cleanup).await.unwrap();
    app.stop().await;
}
