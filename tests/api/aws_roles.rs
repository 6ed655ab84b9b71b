//! awss3 and athena signing in as a role in the customer's account, assumed with an
//! External ID — against a moto server that checks every signature, every IAM
//! policy and the role's trust policy (`tests/servers/moto/role_setup.py`).

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use onramp::connectors::support::aws::Platform;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_with_aws, table};

/// The External ID onramp made for the app's organisation.
async fn external_id(app: &TestApp) -> String {
    let answer: Value = app
        .get("/api/v2/aws/external-id")
        .await
        .json()
        .await
        .unwrap();
    answer["externalId"].as_str().unwrap().to_string()
}

/// A moto of the test's own, whose role trusts onramp's "platform" user with the
/// organisation's External ID, and an app whose AWS identity is that user, with
/// STS at moto. The app's platform identity is set before moto exists: its
/// credentials provider reads the keys moto makes.
async fn app_with_role() -> (tokio::process::Child, String, Value, TestApp, String) {
    let keys: Arc<Mutex<Option<Credentials>>> = Default::default();
    let port = crate::helpers::proxy::closed_port().await;
    let platform = Platform::with_credentials(
        Some(format!("http://127.0.0.1:{port}")),
        SharedCredentialsProvider::new(Later(keys.clone())),
    );
    let app = spawn_with_aws(platform).await;
    let id = external_id(&app).await;
    let (moto, endpoint, setup) = crate::helpers::s3::role_moto_on(port, &id).await;
    let key = |who: &str, i: usize| setup[who][i].as_str().unwrap().to_string();
    *keys.lock().unwrap() = Some(Credentials::new(
        key("platform", 0),
        key("platform", 1),
        None,
        None,
        "test",
    ));
    (moto, endpoint, setup, app, id)
}

/// Credentials filled in after the app started.
#[derive(Debug)]
struct Later(Arc<Mutex<Option<Credentials>>>);

impl aws_credential_types::provider::ProvideCredentials for Later {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let found = self.0.lock().unwrap().clone();
        aws_credential_types::provider::future::ProvideCredentials::ready(found.ok_or_else(|| {
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "moto not set up yet",
            )
        }))
    }
}

fn s3_role(name: &str, endpoint: &str, role: &Value, external_id: &str) -> Value {
    json!({"name": name, "region": "us-east-1", "bucket": "customer-data", "prefix": "data/",
           "roleArn": role, "externalId": external_id, "endpoint": endpoint})
}

#[tokio::test]
async fn a_bucket_is_read_as_the_customers_role_assumed_with_its_external_id() {
    let (_moto, endpoint, setup, app, id) = app_with_role().await;
    let role = &setup["roleArn"];

    let job = app
        .create_and_wait(&body("awss3", s3_role("as-role", &endpoint, role, &id)))
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

    // Another customer's role trusts onramp too, with that customer's External ID:
    // named by this organisation, it is refused by STS, and no other External ID
    // than this organisation's own is even accepted.
    let other = &setup["otherRoleArn"];
    let job = app
        .create_and_wait(&body("awss3", s3_role("not-ours", &endpoint, other, &id)))
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
    let r = app
        .post_datasource(&body(
            "awss3",
            s3_role(
                "borrowed-id",
                &endpoint,
                other,
                "onramp-another-organisation",
            ),
        ))
        .await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["field"],
        "credentials.externalId"
    );
    assert!(
        answer["error"]["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains(&id),
        "the problem names the External ID to use: {answer}"
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
    let (_moto, endpoint, setup, app, id) = app_with_role().await;
    let admin = [
        setup["admin"][0].as_str().unwrap(),
        setup["admin"][1].as_str().unwrap(),
    ];
    crate::athena::glue_fixture_as(&endpoint, "lake_db", "lake_wg", &admin).await;
    let credentials = json!({"name": "lake", "region": "us-east-1", "workgroup": "lake_wg",
        "database": "lake_db", "endpoint": endpoint, "roleArn": setup["roleArn"], "externalId": id});
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
async fn a_role_needs_the_organisations_external_id_a_role_arn_and_an_allowed_account() {
    let app =
        crate::helpers::spawn_with(|s| s.aws_denied_accounts = "111111111111, 123456789012".into())
            .await;
    let id = external_id(&app).await;
    assert_eq!(id, external_id(&app).await, "the same on every call");
    assert!(id.starts_with("onramp-") && id.len() == 39, "{id}");
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
    let denied = s3_role(
        "d",
        &endpoint,
        &json!("arn:aws:iam::123456789012:role/onramp"),
        &id,
    );
    for (credentials, field) in [
        (denied, "credentials.roleArn"),
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
