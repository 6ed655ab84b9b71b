//! mssql without a SQL Server: no TDS server runs on this machine, so these tests
//! cover what needs none (the API's validation, unreachable and silent servers,
//! a server that does not speak TDS); the catalog queries, their assembly and the
//! error mapping are unit-tested in src/connectors/mssql.

use serde_json::{Value, json};

use crate::helpers::proxy::{closed_port, silent_server};
use crate::helpers::{body, spawn_app};

fn credentials(name: &str, port: u16) -> Value {
    json!({"name": name, "server": "127.0.0.1", "port": port, "user": "reader", "password": "pw", "database": "Sales"})
}

#[tokio::test]
async fn mssql_faults_without_a_server_each_end_the_job_with_their_own_message() {
    let app = spawn_app().await;
    let job = app
        .fails_with(
            &body("mssql", credentials("refused", closed_port().await)),
            "connect: could not reach 127.0.0.1…",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    let (port, _server) = silent_server().await;
    app.fails_with(
        &body("mssql", credentials("silent", port)),
        "connect timed out after 2000 ms",
    )
    .await;
    // PostgreSQL answers the TDS pre-login with something that is not TDS.
    let not_tds = app
        .fails_with(
            &body("mssql", credentials("not-tds", 5432)),
            "connect: the connection to 127.0.0.1:5432 broke…",
        )
        .await;
    assert!(
        not_tds["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("SQL Server")
    );
    app.stop().await;
}

#[tokio::test]
async fn mssql_credentials_are_checked_at_the_api() {
    let app = spawn_app().await;
    let accepted = app.accept(&body("mssql", credentials("ok", 1433))).await;
    assert!(accepted["jobId"].is_string(), "{accepted}");
    let mut encrypt = credentials("encrypt", 1433);
    encrypt["encrypt"] = json!("sometimes");
    let mut missing = credentials("missing", 1433);
    missing.as_object_mut().unwrap().remove("password");
    let mut server = credentials("server", 1433);
    server["server"] = json!("db.example.com;Encrypt=false");
    for (bad, field) in [
        (encrypt, "credentials.encrypt"),
        (missing, "credentials.password"),
        (server, "credentials.server"),
    ] {
        let answer = app.post_datasource(&body("mssql", bad)).await;
        assert_eq!(answer.status(), 400);
        let problem = answer.text().await.unwrap();
        assert!(problem.contains(field), "{problem}");
    }
    app.stop().await;
}
