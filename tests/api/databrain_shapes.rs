//! Bodies shaped as DataBrain's documentation shows them are accepted as sent, for
//! every type, or refused only for a documented reason. The API alone runs here (no
//! worker): what is tested is that the request is accepted, and nothing connects
//! anywhere, so the documentation's host names can stay as written.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use serde_json::{Value, json};

use crate::helpers::{spawn_api, test_settings, unique};

fn service_account() -> String {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    json!({"type": "service_account", "project_id": "analytics-prod", "private_key_id": "k1",
           "private_key": onramp::connectors::support::rsa_jwt::to_pem("PRIVATE KEY", key.as_der().unwrap().as_ref()),
           "client_email": "reader@analytics-prod.iam.gserviceaccount.com"})
    .to_string()
}

/// One DataBrain-shaped create body per type: the documentation's field names,
/// its values where it gives them (`ssl: "enable"`, `authMethod: "username/password"`).
fn bodies() -> Vec<(&'static str, Value)> {
    let db = |host: &str| {
        json!({"host": host, "port": 5432, "username": "dbuser",
                                 "password": "securepassword", "database": "analytics"})
    };
    let with = |mut base: Value, extra: Value| {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    vec![
        (
            "postgres",
            with(
                db("db.example.com"),
                json!({"schema": "public", "ssl": "enable"}),
            ),
        ),
        (
            "postgres",
            with(
                db("db.example.com"),
                json!({"schema": "public", "ssl": "disable"}),
            ),
        ),
        (
            "redshift",
            with(
                db("cluster.abc.us-east-1.redshift.amazonaws.com"),
                json!({"port": 5439, "schema": "public", "ssl": "enable"}),
            ),
        ),
        (
            "cockroachdb",
            with(
                db("free-tier.cockroachlabs.cloud"),
                json!({"port": 26257, "ssl": "enable"}),
            ),
        ),
        (
            "mysql",
            with(
                db("mysql.example.com"),
                json!({"port": 3306, "ssl": "enable"}),
            ),
        ),
        (
            "singlestore",
            with(
                db("svc.singlestore.com"),
                json!({"port": 3306, "ssl": "disable"}),
            ),
        ),
        (
            "clickhouse",
            with(db("ch.example.com"), json!({"port": 8443, "ssl": true})),
        ),
        (
            "mssql",
            json!({"server": "sql.example.com", "port": 1433, "user": "dbuser",
                         "password": "securepassword", "database": "analytics", "schema": "dbo"}),
        ),
        (
            "snowflake",
            json!({"account": "xy12345.us-east-1", "username": "dbuser", "password": "securepassword",
                             "authMethod": "username/password", "warehouse": "COMPUTE_WH",
                             "database": "ANALYTICS", "schema": "PUBLIC", "role": "ANALYST"}),
        ),
        (
            "bigquery",
            json!({"projectId": "analytics-prod", "serviceAccount": service_account(), "dataset": "events"}),
        ),
        (
            "databricks",
            json!({"host": "dbc-123.cloud.databricks.com", "httpPath": "/sql/1.0/warehouses/abc",
                              "accessToken": "dapi123", "catalog": "main", "schema": "default"}),
        ),
        (
            "trino",
            json!({"host": "trino.example.com", "port": 443, "user": "dbuser", "password": "pw",
                         "catalog": "hive", "schema": "default", "ssl": "enable"}),
        ),
        (
            "trino",
            json!({"host": "trino.example.com", "port": 8080, "user": "dbuser",
                         "catalog": "hive", "ssl": "disable"}),
        ),
        (
            "trino",
            json!({"host": "trino.example.com", "port": 443, "user": "dbuser", "catalog": "hive", "ssl": true}),
        ),
        (
            "elasticsearch",
            json!({"deploymentType": "elastic-cloud",
                                 "cloudId": "my-deployment:dXMtZWFzdC0xLmF3cy5mb3VuZC5pbyRhYmMxMjMka2liNDU2",
                                 "username": "elastic", "password": "pw"}),
        ),
        (
            "elasticsearch",
            json!({"deploymentType": "open-cloud",
                                 "cloudId": "my-deployment:dXMtZWFzdC0xLmF3cy5mb3VuZC5pbyRhYmMxMjMka2liNDU2",
                                 "apiKey": "key"}),
        ),
        (
            "elasticsearch",
            json!({"deploymentType": "self-managed", "url": "https://es.example.com:9200",
                                 "username": "elastic", "password": "pw"}),
        ),
        (
            "opensearch",
            json!({"deploymentType": "open-cloud", "url": "https://search.example.com",
                              "username": "admin", "password": "pw"}),
        ),
        (
            "mongodb",
            json!({"host": "mongo.example.com", "port": 27017, "username": "dbuser",
                           "password": "pw", "database": "analytics"}),
        ),
        (
            "mongodb",
            json!({"uri": "mongodb+srv://dbuser:pw@cluster0.example.mongodb.net/analytics"}),
        ),
        (
            "awss3",
            json!({"region": "us-east-1", "bucket": "analytics-data", "accessKeyId": "AKIAEXAMPLE",
                         "secretAccessKey": "secret", "prefix": "exports/"}),
        ),
        ("csv", json!({"url": "https://files.example.com/data.csv"})),
        (
            "firebolt",
            json!({"clientId": "id", "clientSecret": "secret", "account": "acme",
                            "engine": "my_engine", "database": "analytics"}),
        ),
        (
            "athena",
            json!({"region": "us-east-1", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "secret",
                          "database": "analytics", "workgroup": "primary",
                          "outputLocation": "s3://athena-results/onramp/"}),
        ),
    ]
}

#[tokio::test]
async fn databrain_shaped_bodies_of_every_type_are_accepted_as_sent() {
    let id = unique("dbs");
    let settings = test_settings(&id);
    let app = spawn_api(&id, &settings).await;
    let shapes = bodies();
    let mut types: Vec<&str> = shapes.iter().map(|(t, _)| *t).collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), 18, "every type has a body: {types:?}");
    for (n, (ty, credentials)) in shapes.into_iter().enumerate() {
        let mut credentials = credentials;
        credentials["name"] = json!(format!("{ty}-{n}"));
        let body = json!({"datasourceType": ty, "credentials": credentials});
        let r = app.post_datasource(&body).await;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 202, "{ty}: {body}\n{answer}");
        // The stored credentials carry onramp's own names, never the alias.
        let view: Value = app
            .get(&format!("/api/v2/datasource/{ty}-{n}"))
            .await
            .json()
            .await
            .unwrap();
        let stored = view["credentials"].as_object().unwrap();
        match ty {
            "postgres" | "cockroachdb" => {
                assert!(!stored.contains_key("ssl"), "{view}");
                assert!(
                    ["enable", "disable"].contains(&stored["sslMode"].as_str().unwrap()),
                    "{view}"
                );
            }
            "snowflake" => {
                assert_eq!(stored["user"], "dbuser", "{view}");
                assert!(!stored.contains_key("username"), "{view}");
            }
            "trino" => assert!(stored["ssl"].is_boolean(), "{view}"),
            _ => {}
        }
        assert!(
            stored.get("password").is_none(),
            "no secret is shown: {view}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn what_databrain_documents_as_refused_is_refused_with_its_code() {
    let id = unique("dbr");
    let settings = test_settings(&id);
    let app = spawn_api(&id, &settings).await;
    // Both names of one field: which one was meant is not for onramp to guess.
    let both = json!({"datasourceType": "snowflake", "credentials": {"name": "sf", "account": "xy12345",
        "username": "a", "user": "b", "password": "pw", "warehouse": "W", "database": "D"}});
    let r = app.post_datasource(&both).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "INVALID_REQUEST_BODY", "{answer}");
    assert_eq!(
        answer["error"]["details"][0]["field"], "credentials.username",
        "{answer}"
    );
    // An SSL word that is neither DataBrain's nor libpq's.
    let odd = json!({"datasourceType": "postgres", "credentials": {"name": "pg", "host": "db.example.com",
        "username": "u", "database": "d", "ssl": "sometimes"}});
    let r = app.post_datasource(&odd).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["field"], "credentials.sslMode",
        "{answer}"
    );
    // An update of a name that does not exist: DATASOURCE_NAME_ERROR, 400, as documented.
    let update = json!({"datasourceType": "postgres", "credentials": {"name": "never-created",
        "host": "db.example.com", "username": "u", "database": "d", "ssl": "enable"}});
    let r = app
        .client
        .put(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "DATASOURCE_NAME_ERROR", "{answer}");
    app.stop().await;
}
