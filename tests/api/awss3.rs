//! awss3 against moto's S3 server: CSV, JSON-lines and Parquet objects, File and Folder mode.

use serde_json::{Value, json};

use crate::helpers::s3;
use crate::helpers::{TestApp, body, spawn_app, spawn_for_faults, table, unique};

fn shape(table: &Value) -> Vec<(String, String, bool)> {
    table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["type"].as_str().unwrap().into(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn col(name: &str, family: &str, nullable: bool) -> (String, String, bool) {
    (name.into(), family.into(), nullable)
}

async fn fill(bucket: &str) {
    s3::bucket(bucket).await;
    s3::object(
        bucket,
        "data/customers.csv",
        "id,name,joined,vip\n1,Ann,2024-01-02,true\n2,\"Bo, Jr\",2024-02-03,\n",
    )
    .await;
    s3::object(bucket, "data/events.jsonl", "{\"id\":1,\"at\":\"2024-01-02T03:04:05Z\",\"user\":{\"id\":7}}\n{\"id\":2,\"at\":\"2024-01-02T03:04:06Z\"}\n").await;
    s3::object(
        bucket,
        "data/part.parquet",
        s3::parquet_file("message m { required int64 id; optional binary name (UTF8); optional int32 day (DATE); required double score; }"),
    )
    .await;
    s3::object(bucket, "data/bad.csv", "a,b\n1,2\n3,4,5\n").await;
    s3::object(bucket, "data/readme.txt", "not data").await;
    s3::object(
        bucket,
        "data/orders/2024-01.csv",
        "order_id;amount\n10;1.5\n",
    )
    .await;
    s3::object(
        bucket,
        "data/orders/2024-02.csv",
        "order_id;amount\n11;2.5\n",
    )
    .await;
}

/// An app and a fresh bucket filled by `fill`.
async fn app_and_filled_bucket() -> (TestApp, String) {
    let app = spawn_app().await;
    let bucket = unique("b");
    fill(&bucket).await;
    (app, bucket)
}

#[tokio::test]
async fn a_bucket_in_file_mode_is_discovered_announced_and_has_a_table_per_data_object() {
    let (app, bucket) = app_and_filled_bucket().await;
    let mut events = crate::helpers::events::Subscriber::events(&app.settings).await;

    let job = app
        .create_and_wait(&body("awss3", s3::credentials("files", &bucket, "data/")))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("mode File"),
        "{job}"
    );
    let snapshot: Value = app
        .get("/api/v2/datasource/files/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["datasourceType"], "awss3");
    let ready = events
        .next_of("datasource.ready", std::time::Duration::from_secs(10))
        .await
        .expect("ready event");
    assert_eq!(ready.body["data"]["datasourceName"], "files");
    assert_eq!(snapshot["databases"][0]["name"], bucket);
    assert_eq!(
        snapshot["stats"]["tables"], 6,
        "readme.txt is not a table: {snapshot}"
    );
    app.stop().await;
}

#[tokio::test]
async fn objects_become_tables_with_columns_from_samples_and_parquet_footers() {
    let (app, bucket) = app_and_filled_bucket().await;
    let snapshot = app
        .onboard("awss3", s3::credentials("files", &bucket, "data/"))
        .await;
    let customers = table(&snapshot, "customers.csv");
    assert_eq!(customers["kind"], "file");
    assert_eq!(customers["properties"]["format"], "csv");
    assert_eq!(
        shape(customers),
        [
            col("id", "integer", false),
            col("name", "string", false),
            col("joined", "date", false),
            col("vip", "boolean", true)
        ]
    );
    assert_eq!(
        shape(table(&snapshot, "events.jsonl")),
        [
            col("id", "integer", false),
            col("at", "timestamp", false),
            col("user.id", "integer", true)
        ]
    );
    assert_eq!(
        shape(table(&snapshot, "part.parquet")),
        [
            col("id", "integer", false),
            col("name", "string", true),
            col("day", "date", true),
            col("score", "float", false)
        ]
    );
    let bad = table(&snapshot, "bad.csv");
    assert_eq!(
        bad["comment"],
        "unreadable: data/bad.csv: line 3: expected 2 fields, found 3"
    );
    assert_eq!(
        shape(table(&snapshot, "orders/2024-01.csv")),
        [
            col("order_id", "integer", false),
            col("amount", "float", false)
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bucket_in_folder_mode_makes_one_table_of_a_folders_objects() {
    let (app, bucket) = app_and_filled_bucket().await;
    let mut folders = s3::credentials("folders", &bucket, "data/");
    folders["mode"] = json!("Folder");
    let job = app.create_and_wait(&body("awss3", folders)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/folders/schema")
        .await
        .json()
        .await
        .unwrap();
    let orders = table(&snapshot, "orders");
    assert_eq!(orders["properties"]["objects"], "2");
    assert_eq!(
        shape(orders),
        [
            col("order_id", "integer", false),
            col("amount", "float", false)
        ]
    );
    assert_eq!(snapshot["stats"]["tables"], 5);
    app.stop().await;
}

#[tokio::test]
async fn awss3_faults_and_refused_tenancy_each_get_their_own_answer() {
    let app = spawn_for_faults().await;
    let bucket = unique("b");
    s3::bucket(&bucket).await;
    let failed = |c: Value| {
        let app = &app;
        async move {
            let job = app.create_and_wait(&body("awss3", c)).await;
            assert_eq!(job["status"], "failed", "{job}");
            assert!(
                job["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
                "{job}"
            );
            job["error"]["message"].as_str().unwrap().to_string()
        }
    };
    let message = failed(s3::credentials("nobucket", "no-such-bucket-here", "")).await;
    assert!(
        message.contains("bucket no-such-bucket-here does not exist"),
        "{message}"
    );

    app.unreachable_and_silent("awss3", |name, url| {
        let mut c = s3::credentials(name, &bucket, "");
        c["endpoint"] = json!(url);
        c
    })
    .await;

    // Files have no tenancy levels: refused before anything is recorded.
    let mut with_tenancy = body("awss3", s3::credentials("tenant", &bucket, ""));
    with_tenancy["tenancySettings"] = json!({"tenancyLevel": "DATABASE"});
    let r = app.post_datasource(&with_tenancy).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["error"]["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("no tenancy level"),
        "{answer}"
    );

    let mut bad = s3::credentials("bad", "Bad_Bucket", "");
    bad["region"] = json!("Mars 1");
    bad["endpoint"] = json!("http://user@127.0.0.1:1/");
    let r = app.post_datasource(&body("awss3", bad)).await;
    let answer: Value = r.json().await.unwrap();
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "credentials.endpoint",
            "credentials.region",
            "credentials.bucket"
        ],
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_keys_are_refused_by_a_server_that_checks_signatures_and_right_ones_work() {
    let (_moto, endpoint, keys) = s3::checking_moto().await;
    let app = spawn_app().await;
    let creds = |name: &str, key: &str, secret: &str| {
        let mut c = s3::credentials(name, "checked", "");
        c["endpoint"] = json!(endpoint);
        c["accessKeyId"] = json!(key);
        c["secretAccessKey"] = json!(secret);
        c
    };
    let (key, secret) = (
        keys["accessKeyId"].as_str().unwrap(),
        keys["secretAccessKey"].as_str().unwrap(),
    );
    let job = app
        .create_and_wait(&body("awss3", creds("right", key, secret)))
        .await;
    assert_eq!(
        job["status"], "succeeded",
        "our SigV4 signatures are accepted: {job}"
    );

    let job = app
        .create_and_wait(&body("awss3", creds("wrong-secret", key, "not-the-secret")))
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the access key was refused: SignatureDoesNotMatch"),
        "{job}"
    );
    let job = app
        .create_and_wait(&body(
            "awss3",
            creds("wrong-key", "AKIANOSUCHKEY0000000", secret),
        ))
        .await;
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the access key was refused: InvalidAccessKeyId"),
        "{job}"
    );
    app.stop().await;
}
