//! MongoDB connection strings written by a hostile tenant: options that would make
//! the driver read the worker's files or send its workload-identity token are
//! refused at the API, and every connection the driver makes goes to an address
//! the egress guard checked (seeds, SRV targets), through onramp's relay.

use onramp::egress::Egress;
use onramp::startup::Roles;
use serde_json::{Value, json};

use crate::helpers::{body, spawn_app, spawn_with_egress, test_settings, unique};
use crate::mongodb::fixture;
use crate::support_egress::{RecordingConnector, ScriptedResolver, shared};

#[tokio::test]
async fn connection_strings_that_reach_the_workers_credentials_or_files_are_refused_at_the_api() {
    let app = spawn_app().await;
    for (uri, named) in [
        (
            "mongodb://127.0.0.1:17017/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
            "authmechanismproperties",
        ),
        (
            "mongodb://127.0.0.1:17017/?authMechanism=MONGODB-OIDC",
            "MONGODB-OIDC",
        ),
        (
            "mongodb://127.0.0.1:17017/?authMechanism=MONGODB-AWS",
            "MONGODB-AWS",
        ),
        (
            "mongodb://127.0.0.1:17017/?tls=true&tlsCertificateKeyFile=/var/run/secrets/tls.pem",
            "tlscertificatekeyfile",
        ),
        (
            "mongodb://127.0.0.1:17017/?tlsCAFile=/etc/shadow",
            "tlscafile",
        ),
        (
            "mongodb://127.0.0.1:17017/?proxyHost=127.0.0.2",
            "proxyhost",
        ),
        (
            "mongodb://127.0.0.1:17017/?loadBalanced=true",
            "loadbalanced",
        ),
        ("mongodb://%2Ftmp%2Fmongodb-27017.sock/", "Unix socket"),
    ] {
        let answer = app
            .post_datasource(&body("mongodb", json!({"name": "m", "uri": uri})))
            .await;
        assert_eq!(answer.status(), 400, "{uri}");
        let answer: Value = answer.json().await.unwrap();
        let detail = &answer["error"]["details"][0];
        assert_eq!(detail["field"], "credentials.uri", "{answer}");
        assert!(
            detail["problem"].as_str().unwrap().contains(named),
            "{uri}: {answer}"
        );
    }
    assert_eq!(app.count("datasources").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_connection_string_reaches_the_server_only_at_addresses_the_guard_checked() {
    let resolver = shared::<ScriptedResolver>();
    let connector = shared::<RecordingConnector>();
    // Names only the test's resolver knows: a driver that looked them up itself
    // (a second lookup, around the guard) would not find them.
    resolver.answer("mongo.test", &[&["127.0.0.1"]]);
    resolver.answer("metadata.test", &[&["169.254.169.254"]]);
    resolver.answer_srv("_mongodb._tcp.cluster.test", &[("mongo.test", 17017)]);
    resolver.answer_srv(
        "_mongodb._tcp.evil.test",
        &[("metadata.test", 27017), ("mongo.test", 17017)],
    );
    let id = unique("t");
    let settings = test_settings(&id);
    let egress = Egress::with(
        settings.egress_policy().unwrap(),
        resolver.clone(),
        connector.clone(),
    );
    let app = spawn_with_egress(
        id,
        settings,
        Roles {
            api: true,
            worker: true,
        },
        egress,
    )
    .await;
    let database = fixture().await;

    for (name, uri) in [
        ("seeds", "mongodb://mongo.test:17017/".to_string()),
        ("srv", "mongodb+srv://cluster.test/?tls=false".to_string()),
    ] {
        let snapshot = app
            .onboard(
                "mongodb",
                json!({"name": name, "uri": uri, "database": database}),
            )
            .await;
        assert!(
            snapshot["stats"]["tables"].as_u64() >= Some(2),
            "{snapshot}"
        );
    }
    // Every connection of the driver went to the one address the guard checked.
    let attempts = connector.attempts();
    assert!(!attempts.is_empty());
    assert!(
        attempts.iter().all(|a| a.to_string() == "127.0.0.1:17017"),
        "{attempts:?}"
    );

    // A seed list or an SRV record that names a refused address is refused whole,
    // before anything is connected.
    let before = connector.attempts().len();
    for (name, uri) in [
        ("list", "mongodb://metadata.test:27017,mongo.test:17017/"),
        ("evil-srv", "mongodb+srv://evil.test/?tls=false"),
    ] {
        let job = app
            .create_and_wait(&body(
                "mongodb",
                json!({"name": name, "uri": uri, "database": database}),
            ))
            .await;
        assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");
        assert!(
            job["error"]["message"]
                .as_str()
                .unwrap()
                .contains("link-local"),
            "{job}"
        );
    }
    assert_eq!(connector.attempts().len(), before, "nothing was connected");
    app.stop().await;
}
