//! awss3 and athena signing in as a role in the customer's account, assumed with an
//! External ID — against a moto server that checks every signature, every IAM
//! policy and the role's trust policy (`tests/servers/moto/role_setup.py`).

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use onramp::connectors::support::aws::Platform;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_with_aws, table};

const EXTERNAL_ID: &str = "onramp-org-7f3a";

/// A moto of the test's own and an app whose AWS identity is moto's "platform" user,
/// with STS at moto.
async fn app_with_role() -> (tokio::process::Child, String, Value, TestApp) {
    let (moto, endpoint, setup) = crate::helpers::s3::role_moto(EXTERNAL_ID).await;
    let key = |who: &str, i: usize| setup[who][i].as_str().unwrap().to_string();
    let platform = Platform::with_credentials(
        Some(endpoint.clone()),
        SharedCredentialsProvider::new(Credentials::new(
            key("platform", 0),
            key("platform", 1),
            None,
            None,
            "test",
        )),
    );
    let app = spawn_with_aws(platform).await;
    (moto, endpoint, setup, app)
}

fn s3_role(name: &str, endpoint: &str, role: &Value, external_id: &str) -> Value {
    json!({"name": name, "region": "us-east-1", "bucket": "customer-data", "prefix": "data/",
           "roleArn": role, "externalId": external_id, "endpoint": endpoint})
}

#[tokio::test]
async fn a_bucket_is_read_as_the_customers_role_assumed_with_its_external_id() {
    let (_moto, endpoint, setup, app) = app_with_role().await;
    let role = &setup["roleArn"];

    let job = app
        .create_and_wait(&body(
            "awss3",
            s3_role("as-role", &endpoint, role, EXTERNAL_ID),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/as-role/schema")
        .await
        .json()
        .await
        .unwrap();
    let people = table(&snapshot, "people.csv");
    assert_eq!(people["columns"][1]["name"], "name", "{people}");

    // The role's trust policy requires the External ID: another one is refused by STS.
    let job = app
        .create_and_wait(&body(
            "awss3",
            s3_role("wrong-id", &endpoint, role, "someone-else"),
        ))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be assumed") && message.contains("AccessDenied"),
        "{job}"
    );
    assert!(
        job["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("sts:ExternalId"),
        "{job}"
    );

    // The platform's own keys may assume the role and nothing else: the listing that
    // succeeded above was signed with the role's credentials.
    let own = json!({"name": "as-platform", "region": "us-east-1", "bucket": "customer-data",
        "prefix": "data/", "accessKeyId": setup["platform"][0], "secretAccessKey": setup["platform"][1],
        "endpoint": endpoint});
    let job = app.create_and_wait(&body("awss3", own)).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access to bucket customer-data was denied"),
        "{job}"
    );
    app.stop().await;
}

#[tokio::test]
async fn athena_and_glue_are_read_as_the_assumed_role() {
    let (_moto, endpoint, setup, app) = app_with_role().await;
    let admin = [
        setup["admin"][0].as_str().unwrap(),
        setup["admin"][1].as_str().unwrap(),
    ];
    crate::athena::glue_fixture_as(&endpoint, "lake_db", "lake_wg", &admin).await;
    let credentials = json!({"name": "lake", "region": "us-east-1", "workgroup": "lake_wg",
        "database": "lake_db", "endpoint": endpoint, "roleArn": setup["roleArn"], "externalId": EXTERNAL_ID});
    let job = app.create_and_wait(&body("athena", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/lake/schema")
        .await
        .json()
        .await
        .unwrap();
    let clicks = table(&snapshot, "clicks");
    assert_eq!(clicks["properties"]["partitionKeys"], "day", "{clicks}");
    app.stop().await;
}

#[tokio::test]
async fn a_role_without_its_external_id_or_with_a_malformed_arn_is_refused_at_the_api() {
    let app = crate::helpers::spawn_app().await;
    let endpoint = crate::helpers::s3::endpoint();
    let mut no_id = s3_role(
        "x",
        &endpoint,
        &json!("arn:aws:iam::123456789012:role/r"),
        "e1",
    );
    no_id.as_object_mut().unwrap().remove("externalId");
    let bad_arn = s3_role("y", &endpoint, &json!("arn:aws:s3:::customer-data"), "e1");
    let neither = json!({"name": "z", "region": "us-east-1", "bucket": "customer-data"});
    for (credentials, field) in [
        (no_id, "credentials.externalId"),
        (bad_arn, "credentials.roleArn"),
        (neither, "credentials.accessKeyId"),
    ] {
        let r = app.post_datasource(&body("awss3", credentials)).await;
        assert_eq!(r.status(), 400);
        let answer: Value = r.json().await.unwrap();
        let fields: Vec<&str> = answer["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{answer}");
    }
    app.stop().await;
}
