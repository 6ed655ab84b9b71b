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
