use serde_json::{Value, json};

use crate::helpers::targets::pg_credentials;
use crate::helpers::{TestApp, body, spawn_app, spawn_with};

async fn post_raw(app: &TestApp, raw: &str) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(raw.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn assert_nothing_recorded(app: &TestApp) {
    for table in ["datasources", "jobs", "outbox"] {
        assert_eq!(
            app.count(table).await,
            0,
            "{table} has rows after a refused request"
        );
    }
}

fn fields(answer: &Value) -> Vec<String> {
    answer["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|p| p["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_kind_of_bad_body_is_refused_with_its_fields_named_and_nothing_recorded() {
    let app = spawn_app().await;
    let good = pg_credentials("ok", "public");
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        body("postgres", c).to_string()
    };
    let without = |key: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(key);
        body("postgres", c).to_string()
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("malformed json", "{\"datasourceType\":".into(), vec![]),
        ("not an object", "[1,2]".into(), vec![]),
        ("unknown type", json!({"datasourceType": "oracle", "credentials": good}).to_string(), vec!["datasourceType"]),
        ("missing type", json!({"credentials": good}).to_string(), vec!["datasourceType"]),
        ("missing credentials", json!({"datasourceType": "postgres"}).to_string(), vec!["credentials"]),
        ("missing host", without("host"), vec!["credentials.host"]),
        ("mistyped port", with("port", json!(true)), vec!["credentials.port"]),
        ("port zero", with("port", json!(0)), vec!["credentials.port"]),
        ("port too big", with("port", json!(65536)), vec!["credentials.port"]),
        ("empty name", with("name", json!("")), vec!["credentials.name"]),
        ("long name", with("name", json!("x".repeat(129))), vec!["credentials.name"]),
        ("unknown credential", with("hostname", json!("a")), vec!["credentials.hostname"]),
        ("unknown top field", json!({"datasourceType": "postgres", "credentials": good, "extra": 1}).to_string(), vec!["extra"]),
        (
            "table tenancy without columns",
            json!({"datasourceType": "postgres", "credentials": good, "tenancySettings": {"tenancyLevel": "TABLE", "clientColumnType": "DATE"}}).to_string(),
            vec!["tenancySettings.schemaName", "tenancySettings.tableName", "tenancySettings.tableClientNameColumn", "tenancySettings.tablePrimaryKeyColumn", "tenancySettings.clientColumnType"],
        ),
        ("two bad fields at once", json!({"datasourceType": "mysql", "credentials": {"name": "a", "port": -1}}).to_string(), vec!["credentials.host", "credentials.port", "credentials.username", "credentials.database"]),
    ];
    for (case, raw, expected) in cases {
        let (status, answer) = post_raw(&app, &raw).await;
        assert_eq!(status, 400, "{case}: {answer}");
        assert_eq!(
            answer["error"]["code"], "INVALID_REQUEST_BODY",
            "{case}: {answer}"
        );
        let named = fields(&answer);
        for field in expected {
            assert!(
                named.iter().any(|f| f == field),
                "{case}: {field} not named in {answer}"
            );
        }
    }
    let (_, unknown) = post_raw(
        &app,
        &json!({"datasourceType": "oracle", "credentials": {}}).to_string(),
    )
    .await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("postgres, mysql"),
        "{unknown}"
    );
    assert_nothing_recorded(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let app = spawn_with(|s| s.body_limit_bytes = 2048).await;
    let mut c = pg_credentials("big", "public");
    c["password"] = json!("p".repeat(4000));
    let (status, answer) = post_raw(&app, &body("postgres", c).to_string()).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert_nothing_recorded(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn missing_wrong_and_revoked_tokens_get_401() {
    let app = spawn_app().await;
    let url = app.url("/api/v2/datasource");
    let payload = body("postgres", pg_credentials("a", "public"));
    let none = app.client.post(&url).json(&payload).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("onr_nope")
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let answer: Value = wrong.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "AUTHENTICATION_ERROR");
    assert!(
        onramp::storage::tokens::revoke(&app.pool, &app.token)
            .await
            .unwrap()
    );
    let revoked = app
        .client
        .get(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
    assert_nothing_recorded(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_name_is_refused_and_records_nothing_more() {
    let app = spawn_app().await;
    let payload = body("postgres", pg_credentials("twice", "public"));
    assert_eq!(app.post_datasource(&payload).await.status(), 202);
    let second = app.post_datasource(&payload).await;
    assert_eq!(second.status(), 400);
    let answer: Value = second.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "DATASOURCE_NAME_ERROR");
    assert_eq!(
        answer["error"]["message"],
        "a datasource named \"twice\" already exists"
    );
    assert_eq!(app.count("datasources").await, 1);
    assert_eq!(app.count("jobs").await, 1);
    app.stop().await;
}

/// A sync body is read whole: a field of the wrong kind is refused with its name even
/// when another field would have named a datasource (schemathesis found a valid name
/// beside an id that is no UUID accepted).
#[tokio::test]
async fn a_sync_with_a_field_of_the_wrong_kind_is_refused_naming_it() {
    let app = spawn_app().await;
    for (sync, code, field, problem) in [
        // A malformed id is DataBrain's DATASOURCE_ID_ERROR.
        (
            json!({"datasourceName": "0", "input": {"datasourceId": ""}}),
            "DATASOURCE_ID_ERROR",
            "input.datasourceId",
            "must be a UUID",
        ),
        (
            json!({"input": {"datasourceId": "your-datasource-id"}}),
            "DATASOURCE_ID_ERROR",
            "input.datasourceId",
            "must be a UUID",
        ),
        (
            json!({"datasourceName": 7}),
            "INVALID_REQUEST_BODY",
            "datasourceName",
            "must be a string",
        ),
        (
            json!({"datasourceName": "", "input": {"datasourceId": uuid::Uuid::nil()}}),
            "INVALID_REQUEST_BODY",
            "datasourceName",
            "must not be empty",
        ),
        (
            json!({"datasourceName": "0", "input": []}),
            "INVALID_REQUEST_BODY",
            "input",
            "must be an object",
        ),
        (
            json!({"input": {}}),
            "INVALID_REQUEST_BODY",
            "input.datasourceId",
            "is required in input",
        ),
    ] {
        let r = app
            .client
            .post(app.url("/api/v2/datasource/sync"))
            .bearer_auth(&app.token)
            .json(&sync)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{sync}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
        assert_eq!(
            answer["error"]["details"][0]["problem"], problem,
            "{answer}"
        );
    }
    assert_nothing_recorded(&app).await;
    app.stop().await;
}
