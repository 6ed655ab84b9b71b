//! mongodb against nx-27017 (MongoDB's wire protocol over SQLite) that
//! scripts/test-servers.sh starts on 17017, by host and port and by connection
//! string. nx-27017 has no users: a login is refused there as by a server whose
//! SCRAM exchange fails.

use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use crate::helpers::proxy::{closed_port, silent_server};
use crate::helpers::{body, spawn_app, table, unique};

const PORT: u16 = 17017;

/// A database of its own: `people` with nested, mixed and sometimes-missing fields.
pub async fn fixture() -> String {
    let database = unique("mg");
    let client =
        mongodb::Client::with_uri_str(format!("mongodb://127.0.0.1:{PORT}/?directConnection=true"))
            .await
            .unwrap();
    let people = client.database(&database).collection::<Document>("people");
    people
        .insert_many(vec![
            doc! {"_id": 1, "name": "ada", "age": 36, "address": {"city": "London", "zip": "N1"}, "tags": ["math"]},
            doc! {"_id": 2, "name": "grace", "age": "unknown", "address": {"city": "Arlington"}},
            doc! {"_id": 3, "name": "edsger", "age": 72, "address": {"city": "Austin"}, "tags": []},
            doc! {"_id": 4, "name": "barbara", "age": 81.5},
        ])
        .await
        .expect("nx-27017 runs (scripts/test-servers.sh starts it)");
    client
        .database(&database)
        .collection::<Document>("events")
        .insert_one(doc! {"kind": "signup", "at": mongodb::bson::DateTime::now()})
        .await
        .unwrap();
    database
}

fn credentials(name: &str, database: &str) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": PORT, "database": database})
}

fn check_people(snapshot: &Value) {
    assert_eq!(snapshot["datasourceType"], "mongodb");
    let people = table(snapshot, "people");
    assert_eq!(people["kind"], "collection");
    assert_eq!(people["primaryKey"], json!(["_id"]));
    let column = |name: &str| {
        people["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {people}"))
            .clone()
    };
    assert_eq!(column("name")["type"], "string");
    assert_eq!(column("name")["nullable"], false);
    // Seen as int, double and string: reported as all three, of no one family.
    assert_eq!(column("age")["nativeType"], "double|int|string");
    assert_eq!(column("age")["type"], "other");
    assert_eq!(column("address.city")["type"], "string");
    assert_eq!(
        column("address.zip")["comment"],
        "present in 1 of 4 sampled documents (25%)"
    );
    assert_eq!(column("address")["nullable"], true);
    assert_eq!(column("tags")["type"], "array");
    assert_eq!(table(snapshot, "events")["columns"][2]["type"], "timestamp");
}

#[tokio::test]
async fn collections_are_discovered_with_fields_inferred_from_a_sample() {
    let app = spawn_app().await;
    let database = fixture().await;
    let snapshot = app.onboard("mongodb", credentials("mg", &database)).await;
    assert_eq!(snapshot["databases"][0]["name"], database.as_str());
    check_people(&snapshot);
    // The same through a connection string.
    let by_uri = json!({"name": "mg-uri", "uri": format!("mongodb://127.0.0.1:{PORT}/?directConnection=true"), "database": database});
    let snapshot = app.onboard("mongodb", by_uri).await;
    check_people(&snapshot);
    app.stop().await;
}

/// `schemaFilters` on databases and collections: the names are listed, and only
/// the collections kept are sampled.
#[tokio::test]
async fn schema_filters_keep_only_the_databases_and_collections_they_name() {
    let app = spawn_app().await;
    let database = fixture().await;
    let mut filtered = json!({"name": "mg-filtered", "host": "127.0.0.1", "port": PORT});
    filtered["schemaFilters"] = json!({
        "databases": {"include": [format!("{}*", &database[..database.len() - 2])]},
        "tables": {"exclude": ["events"]}
    });
    let snapshot = app.onboard("mongodb", filtered).await;
    let databases = snapshot["databases"].as_array().unwrap();
    assert!(
        databases.iter().all(|d| d["name"]
            .as_str()
            .unwrap()
            .starts_with(&database[..database.len() - 2])),
        "{snapshot}"
    );
    let ours = databases
        .iter()
        .find(|d| d["name"] == database.as_str())
        .unwrap();
    let names: Vec<&str> = ours["schemas"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["people"], "{snapshot}");
    assert_eq!(snapshot["filters"]["tables"]["exclude"], json!(["events"]));
    app.stop().await;
}

#[tokio::test]
async fn mongodb_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_app().await;
    let mut login = credentials("login", "any");
    login["username"] = json!("reader");
    login["password"] = json!("wrong");
    let job = app
        .fails_with(
            &body("mongodb", login),
            "connect: mongodb refused the login…",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    let mut refused = credentials("refused", "any");
    refused["port"] = json!(closed_port().await);
    app.fails_with(
        &body("mongodb", refused),
        "connect: could not reach 127.0.0.1…",
    )
    .await;
    let (port, _server) = silent_server().await;
    let mut silent = credentials("silent", "any");
    silent["port"] = json!(port);
    app.fails_with(&body("mongodb", silent), "connect timed out after 2000 ms")
        .await;
    // Host and uri together, a uri that is no connection string: refused at the API,
    // without echoing the string (it may hold a password).
    let mut both = credentials("both", "any");
    both["uri"] = json!("mongodb://127.0.0.1/");
    let bad_uri = json!({"name": "bad-uri", "uri": "mongodb://user:hunter2@/nohost"});
    for (bad, field) in [(both, "credentials.uri"), (bad_uri, "credentials.uri")] {
        let answer = app.post_datasource(&body("mongodb", bad)).await;
        assert_eq!(answer.status(), 400);
        let problem = answer.text().await.unwrap();
        assert!(problem.contains(field), "{problem}");
        assert!(!problem.contains("hunter2"), "{problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn tls_to_mongodb_verifies_with_its_own_ca_and_sends_a_client_certificate() {
    let app = spawn_app().await;
    let database = fixture().await;
    let pem = |name: &str| std::fs::read_to_string(format!("/var/lib/onramp-tls/{name}")).unwrap();
    let (port, _front) = crate::helpers::tls_front::tls_front("127.0.0.1:17017", false).await;
    let over_tls = |name: &str, host: &str, port: u16, tls: Value| {
        let mut c = json!({"name": name, "host": host, "port": port, "database": database});
        for (k, v) in tls.as_object().unwrap() {
            c[k] = v.clone();
        }
        body("mongodb", c)
    };
    let ca = pem("ca.pem");
    let snapshot = app
        .onboard(
            "mongodb",
            over_tls(
                "tls",
                "localhost",
                port,
                json!({"sslMode": "verify-full", "caCertificate": ca}),
            )["credentials"]
                .clone(),
        )
        .await;
    check_people(&snapshot);
    // The old switch verifies against public authorities, which did not issue it.
    let job = app
        .fails_with(
            &over_tls("switch", "localhost", port, json!({"tls": true})),
            "tls handshake with localhost failed: the certificate is not trusted",
        )
        .await;
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CN=localhost, SHA-256 fingerprint"),
        "{job}"
    );
    let job = app
        .create_and_wait(&over_tls(
            "require",
            "127.0.0.1",
            port,
            json!({"sslMode": "require"}),
        ))
        .await;
    assert_eq!(
        job["status"], "succeeded",
        "require encrypts without checking: {job}"
    );

    let (mutual, _front) = crate::helpers::tls_front::tls_front("127.0.0.1:17017", true).await;
    let job = app
        .create_and_wait(&over_tls(
            "no-cert",
            "localhost",
            mutual,
            json!({"sslMode": "verify-full", "caCertificate": ca}),
        ))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the server refused the client certificate"),
        "{job}"
    );
    let job = app
        .create_and_wait(&over_tls(
            "cert",
            "localhost",
            mutual,
            json!({"sslMode": "verify-full", "caCertificate": ca,
                   "clientCertificate": pem("client.pem"), "clientKey": pem("client.key")}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let r = app
        .post_datasource(&over_tls(
            "prefer",
            "localhost",
            port,
            json!({"sslMode": "prefer"}),
        ))
        .await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["field"], "credentials.sslMode",
        "{answer}"
    );
    app.stop().await;
}
