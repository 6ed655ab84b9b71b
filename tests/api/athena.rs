//! athena against moto's Athena and Glue: the workgroup tested, the Glue catalog discovered.

use serde_json::{Value, json};

use crate::helpers::s3::endpoint;
use crate::helpers::{body, spawn_app, spawn_for_faults, table, unique};

async fn glue_fixture(endpoint: &str, database: &str, workgroup: &str) {
    glue_fixture_as(endpoint, database, workgroup, &[]).await
}

/// Runs the fixture script, signing as `keys` (key id, secret) when given.
pub async fn glue_fixture_as(endpoint: &str, database: &str, workgroup: &str, keys: &[&str]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/servers/moto/glue_fixture.py"
    );
    let out = tokio::process::Command::new("/var/lib/onramp-venv/bin/python3")
        .args([script, endpoint, database, workgroup])
        .args(keys)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn credentials(name: &str, database: &str, workgroup: &str) -> Value {
    json!({"name": name, "region": "us-east-1", "accessKeyId": "AKIDONRAMPTEST", "secretAccessKey": "not-checked",
           "workgroup": workgroup, "database": database, "endpoint": endpoint()})
}

#[tokio::test]
async fn the_glue_catalog_behind_athena_is_discovered_with_partition_keys() {
    let app = spawn_app().await;
    let (database, workgroup) = (unique("g"), unique("w"));
    glue_fixture(&endpoint(), &database, &workgroup).await;
    let mut events = crate::helpers::events::Subscriber::events(&app.settings).await;
    let mut request = body("athena", credentials("lake", &database, &workgroup));
    request["tenancySettings"] = json!({"tenancyLevel": "DATABASE"});
    let job = app.create_and_wait(&request).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("catalog AwsDataCatalog"),
        "{job}"
    );
    assert!(
        job["result"]["tenancy"]["clientDatabases"]
            .as_array()
            .unwrap()
            .contains(&json!(database)),
        "{job}"
    );

    let snapshot: Value = app
        .get("/api/v2/datasource/lake/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["datasourceType"], "athena");
    let ready = events
        .next_of("datasource.ready", std::time::Duration::from_secs(10))
        .await
        .expect("ready event");
    assert_eq!(ready.body["data"]["datasourceType"], "athena");
    assert_eq!(snapshot["databases"][0]["name"], "AwsDataCatalog");
    assert_eq!(snapshot["databases"][0]["schemas"][0]["name"], database);
    let clicks = table(&snapshot, "clicks");
    assert_eq!(
        (clicks["kind"].as_str(), clicks["comment"].as_str()),
        (Some("external"), Some("web clicks"))
    );
    let columns: Vec<(&str, &str)> = clicks["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "integer"),
            ("url", "string"),
            ("amount", "decimal"),
            ("day", "date")
        ]
    );
    assert_eq!(clicks["columns"][0]["comment"], "click id");
    assert_eq!(clicks["columns"][3]["comment"], "partition key");
    assert_eq!(clicks["properties"]["partitionKeys"], "day");
    assert_eq!(
        clicks["properties"]["location"],
        format!("s3://lake/{database}/clicks/")
    );
    let nested = table(&snapshot, "nested");
    assert_eq!(
        (
            nested["columns"][0]["type"].as_str(),
            nested["columns"][1]["type"].as_str()
        ),
        (Some("json"), Some("array"))
    );
    assert_eq!(table(&snapshot, "recent")["kind"], "view");
    app.stop().await;
}

#[tokio::test]
async fn athena_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let (database, workgroup) = (unique("g"), unique("w"));
    glue_fixture(&endpoint(), &database, &workgroup).await;
    let failed = |c: Value| {
        let app = &app;
        async move {
            let job = app.create_and_wait(&body("athena", c)).await;
            assert_eq!(job["status"], "failed", "{job}");
            assert!(
                job["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
                "{job}"
            );
            job["error"]["message"].as_str().unwrap().to_string()
        }
    };
    let message = failed(credentials("nodb", "no_such_database", &workgroup)).await;
    assert!(
        message.contains("database no_such_database does not exist"),
        "{message}"
    );
    app.unreachable_and_silent("athena", |name, url| {
        let mut c = credentials(name, &database, &workgroup);
        c["endpoint"] = json!(url);
        c
    })
    .await;

    let mut other = credentials("catalog", &database, &workgroup);
    other["catalog"] = json!("hive_federated");
    other["outputLocation"] = json!("https://not-s3/");
    let r = app.post_datasource(&body("athena", other)).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["credentials.outputLocation", "credentials.catalog"],
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_keys_are_refused_by_athena_and_glue_and_right_ones_work() {
    let (_moto, endpoint, keys) = crate::helpers::s3::checking_moto().await;
    let (key, secret) = (
        keys["accessKeyId"].as_str().unwrap(),
        keys["secretAccessKey"].as_str().unwrap(),
    );
    glue_fixture_as(&endpoint, "checked_db", "checked_wg", &[key, secret]).await;
    let app = spawn_app().await;
    let creds = |name: &str, secret: &str| {
        let mut c = credentials(name, "checked_db", "checked_wg");
        c["endpoint"] = json!(endpoint);
        c["accessKeyId"] = json!(key);
        c["secretAccessKey"] = json!(secret);
        c
    };
    let job = app
        .create_and_wait(&body("athena", creds("right", secret)))
        .await;
    assert_eq!(
        job["status"], "succeeded",
        "our signed JSON calls are accepted: {job}"
    );
    let job = app
        .create_and_wait(&body("athena", creds("wrong", "not-the-secret")))
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the access key was refused"),
        "{job}"
    );
    app.stop().await;
}
