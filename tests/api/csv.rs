//! csv: a file uploaded with the request, at an http URL (a loopback server), or at
//! an s3:// URL (moto) — one table, columns inferred; bad rows and big files refused.

use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, s3, spawn_app, spawn_with, unique};

const PEOPLE: &str = "id,name,born,score\n1,Ann,1990-01-02,3.5\n2,\"Smith, Bo\",1985-12-31,\n";

async fn upload(app: &TestApp, request: &Value, file: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("request", request.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.as_bytes().to_vec()).file_name("people.csv"),
        );
    app.client
        .post(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// A loopback HTTP server with one CSV file at /people.csv.
async fn file_server(content: &'static str) -> String {
    let app = axum::Router::new().route("/people.csv", get(move || async move { content }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn columns(snapshot: &Value) -> Vec<(String, String, bool)> {
    snapshot["databases"][0]["schemas"][0]["tables"][0]["columns"]
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

fn expected() -> Vec<(String, String, bool)> {
    [
        ("id", "integer", false),
        ("name", "string", false),
        ("born", "date", false),
        ("score", "float", true),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.into(), b.into(), c))
    .collect()
}

#[tokio::test]
async fn a_csv_file_is_read_from_an_upload_an_http_url_and_an_s3_url() {
    let app = spawn_app().await;
    let mut events = crate::helpers::events::Subscriber::events(&app.settings).await;
    let r = upload(
        &app,
        &json!({"datasourceType": "csv", "credentials": {"name": "uploaded"}}),
        PEOPLE,
    )
    .await;
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    let job = app
        .wait_for_job(
            accepted["jobId"].as_str().unwrap(),
            std::time::Duration::from_secs(20),
        )
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/uploaded/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        snapshot["databases"][0]["schemas"][0]["tables"][0]["name"],
        "people.csv"
    );
    assert_eq!(columns(&snapshot), expected());
    let ready = events
        .next_of("datasource.ready", std::time::Duration::from_secs(10))
        .await
        .expect("ready event");
    assert_eq!(ready.body["data"]["datasourceType"], "csv");

    let base = file_server(PEOPLE).await;
    let job = app
        .create_and_wait(&body(
            "csv",
            json!({"name": "web", "url": format!("{base}/people.csv")}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/web/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(columns(&snapshot), expected());

    let bucket = unique("b");
    s3::bucket(&bucket).await;
    s3::object(&bucket, "in/people.csv", PEOPLE).await;
    let job = app
        .create_and_wait(&body(
            "csv",
            json!({"name": "lake", "url": format!("s3://{bucket}/in/people.csv"), "region": "us-east-1",
                   "accessKeyId": "AKIDONRAMPTEST", "secretAccessKey": "x", "endpoint": s3::endpoint(), "sampleRows": 10}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/lake/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(columns(&snapshot), expected());
    app.stop().await;
}

/// An app that reads at most 60 bytes of a csv file and takes uploads of at most 1 KiB.
async fn limited_app() -> TestApp {
    spawn_with(|s| {
        s.csv_max_bytes = 60;
        s.upload_limit_bytes = 1024;
    })
    .await
}

/// Uploads a file with `request`, which is refused (400) with `problem` as its first detail.
async fn upload_refused(app: &TestApp, request: &Value, problem: Value) {
    let r = upload(app, request, PEOPLE).await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["details"][0], problem, "{answer}");
}

#[tokio::test]
async fn a_ragged_upload_fails_at_its_line_and_too_big_or_misplaced_uploads_are_not_stored() {
    let app = limited_app().await;
    let r = upload(
        &app,
        &json!({"datasourceType": "csv", "credentials": {"name": "bad"}}),
        "a,b\n1,2\n3,4,5\n",
    )
    .await;
    let accepted: Value = r.json().await.unwrap();
    let job = app
        .wait_for_job(
            accepted["jobId"].as_str().unwrap(),
            std::time::Duration::from_secs(20),
        )
        .await;
    assert_eq!(job["error"]["code"], "SCHEMA_CACHE_FAILED", "{job}");
    assert_eq!(
        job["error"]["message"],
        "discover: the file is not valid CSV: line 3: expected 2 fields, found 3"
    );

    let base = file_server(PEOPLE).await;
    let r = upload(
        &app,
        &json!({"datasourceType": "csv", "credentials": {"name": "huge"}}),
        &"x,y\n".repeat(400),
    )
    .await;
    assert_eq!(r.status(), 413);
    upload_refused(
        &app,
        &json!({"datasourceType": "csv", "credentials": {"name": "both", "url": format!("{base}/people.csv")}}),
        json!({"field": "file", "problem": "give a url or upload a file, not both"}),
    )
    .await;
    // Only a type whose connector takes a file may be sent one.
    upload_refused(
        &app,
        &body(
            "postgres",
            crate::helpers::targets::pg_credentials("pg-file", "public"),
        ),
        json!({"field": "file", "problem": "only a csv datasource takes an uploaded file"}),
    )
    .await;
    assert_eq!(
        app.count("uploads").await,
        1,
        "only the accepted upload is stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_csv_url_over_the_size_limit_or_not_found_fails_with_its_own_message() {
    let app = limited_app().await;
    let base = file_server(PEOPLE).await;
    app.fails_with(
        &body(
            "csv",
            json!({"name": "big", "url": format!("{base}/people.csv")}),
        ),
        "over the limit of 60 bytes",
    )
    .await;
    app.fails_with(
        &body(
            "csv",
            json!({"name": "gone", "url": format!("{base}/nothing.csv")}),
        ),
        "does not exist (http 404)",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn csv_credentials_without_a_url_or_s3_keys_or_with_tenancy_are_refused_by_field() {
    let app = limited_app().await;
    let base = file_server(PEOPLE).await;
    let r = app
        .post_datasource(&body("csv", json!({"name": "neither"})))
        .await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["field"], "credentials.url",
        "{answer}"
    );
    let r = app
        .post_datasource(&body("csv", json!({"name": "s3", "url": "s3://b/k.csv"})))
        .await;
    let answer: Value = r.json().await.unwrap();
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["credentials.region", "credentials.accessKeyId"],
        "an s3:// URL needs a region, and keys or a role: {answer}"
    );
    let mut tenancy = body(
        "csv",
        json!({"name": "t", "url": format!("{base}/people.csv")}),
    );
    tenancy["tenancySettings"] = json!({"tenancyLevel": "TABLE"});
    assert_eq!(app.post_datasource(&tenancy).await.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn unreachable_silent_and_wrongly_keyed_csv_sources_fail_with_their_own_message() {
    let app = spawn_app().await;
    let port = crate::helpers::proxy::closed_port().await;
    app.fails_with(
        &body(
            "csv",
            json!({"name": "refused", "url": format!("http://127.0.0.1:{port}/a.csv")}),
        ),
        "connect: request to 127.0.0.1 failed…",
    )
    .await;
    let (silent, _server) = crate::helpers::proxy::silent_server().await;
    app.fails_with(
        &body(
            "csv",
            json!({"name": "silent", "url": format!("http://127.0.0.1:{silent}/a.csv")}),
        ),
        "connect timed out after 2000 ms",
    )
    .await;

    let (_moto, endpoint, keys) = s3::checking_moto().await;
    let creds = |name: &str, secret: &str| {
        json!({"name": name, "url": "s3://checked/people.csv", "region": "us-east-1", "endpoint": endpoint,
               "accessKeyId": keys["accessKeyId"], "secretAccessKey": secret})
    };
    app.fails_with(
        &body("csv", creds("wrong-keys", "not-the-secret")),
        "the access key was refused: SignatureDoesNotMatch",
    )
    .await;
    app.fails_with(
        &body(
            "csv",
            creds("missing-object", keys["secretAccessKey"].as_str().unwrap()),
        ),
        "s3://checked/people.csv does not exist",
    )
    .await;
    app.stop().await;
}
