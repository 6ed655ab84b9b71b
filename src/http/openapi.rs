//! The OpenAPI 3.1 document. Paths, parameters, statuses and answer bodies are
//! derived (utoipa) from the handlers' annotations and the answer structs they
//! serialise, so the document cannot drift from the code; the request bodies are
//! the JSON Schemas generated from the same field tables the API validates with.
//! schemathesis checks the running service against it in `.ci/run`.

use serde_json::{Value, json};
use utoipa::OpenApi;

use super::{datasources, health, jobs};
use crate::connectors::DatasourceType;
use crate::schemas;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "onramp",
        description = "onboards databases and warehouses: accepts a datasource, tests and discovers it asynchronously"
    ),
    paths(
        datasources::create,
        datasources::update,
        datasources::list,
        datasources::delete,
        datasources::sync,
        datasources::test_run::test,
        datasources::schema_changes::list,
        datasources::get,
        datasources::snapshot_read::schema,
        jobs::get,
        jobs::events,
        super::events::stream,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::test,
        super::webhooks::deliveries,
        super::webhooks::retry,
        super::aws::external_id,
        health::healthz,
        health::readyz,
        health::metrics,
        serve,
    ),
    // Answers named only through an IntoResponses type are not collected by themselves.
    components(schemas(super::answers::Waited)),
    security(("bearer" = []))
)]
struct ApiDoc;

#[utoipa::path(get, path = "/openapi.json", summary = "this document", security(()),
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}

fn error(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

/// A generated JSON Schema as a component: without its own `$schema` and `$id`.
fn component(mut schema: Value) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
        o.remove("$id");
    }
    schema
}

/// What an accepted answer leads to at once, for clients and for stateful testing. Not to the schema: it exists only once
/// the job has succeeded (the job's own links say when).
fn accepted_links() -> Value {
    json!({
        "GetJob": {"operationId": "getJob", "parameters": {"jobId": "$response.body#/jobId"}},
        "JobEvents": {"operationId": "jobEvents", "parameters": {"jobId": "$response.body#/jobId"}},
        "GetDatasource": {"operationId": "getDatasource", "parameters": {"name": "$response.body#/name"}},
        "DeleteDatasource": {"operationId": "deleteDatasource", "parameters": {"datasourceName": "$response.body#/name"}}})
}

/// The answers every authenticated route may give besides its own: they come from
/// the token check and the storage layer, not from any one handler.
fn add_common(operation: &mut Value) {
    let public = operation["security"].as_array().is_some_and(|s| {
        s.iter()
            .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
    });
    if public {
        operation["security"] = json!([]);
        return;
    }
    // A test's answer names a job, never a datasource.
    let test = operation["operationId"] == "testDatasource";
    // Webhook answers name no job or datasource.
    let webhook = operation["operationId"]
        .as_str()
        .is_some_and(|id| id.contains("Webhook"));
    let takes_parameters = operation["parameters"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    let Some(responses) = operation["responses"].as_object_mut() else {
        return;
    };
    responses
        .entry("401")
        .or_insert_with(|| error("no token, an unknown token or a revoked one"));
    responses
        .entry("500")
        .or_insert_with(|| error("internal error (the log has the cause under the error id)"));
    responses.entry("503").or_insert_with(|| {
        error("PostgreSQL, RabbitMQ or Redis is unavailable; nothing was recorded")
    });
    if takes_parameters {
        responses
            .entry("400")
            .or_insert_with(|| error("a malformed query string or path"));
    }
    if let Some(accepted) = responses.get_mut("202").filter(|_| !webhook) {
        let mut links = accepted_links();
        if test && let Some(l) = links.as_object_mut() {
            l.retain(|name, _| name.starts_with("Job") || name == "GetJob");
        }
        accepted["links"] = links;
    }
}

pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    doc["servers"] = json!([{"url": "/"}]);
    let schemas = &mut doc["components"]["schemas"];
    for t in DatasourceType::ALL {
        schemas[format!("request.{}", t.as_str())] = component(schemas::request_schema(*t));
    }
    schemas["Snapshot"] = component(schemas::snapshot_schema());
    doc["components"]["securitySchemes"] = json!({"bearer": {"type": "http", "scheme": "bearer"}});

    // The request bodies are the per-type schemas the API validates with.
    let requests: Vec<Value> = DatasourceType::ALL
        .iter()
        .map(|t| json!({"$ref": format!("#/components/schemas/request.{}", t.as_str())}))
        .collect();
    let paths = &mut doc["paths"];
    paths["/api/v2/datasource"]["post"]["requestBody"] = json!({"required": true, "content": {
        "application/json": {"schema": {"oneOf": requests}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["request"], "properties": {
            "request": {"type": "string", "description": "the create body as JSON"},
            "file": {"type": "string", "format": "binary", "description": "a csv datasource's file"}}}}}});
    paths["/api/v2/datasource"]["put"]["requestBody"] =
        json!({"required": true, "content": {"application/json": {"schema": {"oneOf": requests}}}});
    let name = &doc["paths"]["/api/v2/datasource"]["delete"]["parameters"][0]["schema"].clone();
    let paths = &mut doc["paths"];
    paths["/api/v2/datasource/sync"]["post"]["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object",
            "anyOf": [{"required": ["datasourceName"]}, {"required": ["input"]}],
            "properties": {
                "datasourceName": name,
                "input": {"type": "object", "required": ["datasourceId"],
                          "properties": {"datasourceId": {"type": "string", "format": "uuid"}}}}}}}});
    // `/datasource/sync` and `/datasource/test` are matched before `{name}` is (as
    // OpenAPI says concrete paths are), so a datasource of either name is read there.
    let get_named = paths["/api/v2/datasource/{name}"]["get"].clone();
    for (literal, operation_id) in [
        ("sync", "getDatasourceNamedSync"),
        ("test", "getDatasourceNamedTest"),
    ] {
        let mut op = get_named.clone();
        op["operationId"] = json!(operation_id);
        op["summary"] = json!(format!("the datasource named `{literal}`, without secrets"));
        if let Some(o) = op.as_object_mut() {
            o.remove("parameters");
        }
        paths[format!("/api/v2/datasource/{literal}")]["get"] = op;
    }
    // What a created webhook leads to, for clients and for stateful testing.
    let by_id = json!({"webhookId": "$response.body#/id"});
    paths["/api/v2/webhooks"]["post"]["responses"]["201"]["links"] = json!({
        "GetWebhook": {"operationId": "getWebhook", "parameters": by_id},
        "UpdateWebhook": {"operationId": "updateWebhook", "parameters": by_id},
        "TestWebhook": {"operationId": "testWebhook", "parameters": by_id},
        "WebhookDeliveries": {"operationId": "listWebhookDeliveries", "parameters": by_id},
        "DeleteWebhook": {"operationId": "deleteWebhook", "parameters": by_id}});
    paths["/api/v2/datasource/{name}/schema"]["get"]["responses"]["200"]["content"] =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/Snapshot"}}});

    if let Some(paths) = paths.as_object_mut() {
        for item in paths.values_mut() {
            if let Some(item) = item.as_object_mut() {
                item.values_mut().for_each(add_common);
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_of_the_contract_is_in_the_document() {
        use crate::domain::ErrorCode;
        let doc = document();
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert_eq!(*codes, json!(ErrorCode::ALL), "{codes}");
        for code in ErrorCode::ALL {
            // Every code has its status, and every status is one of the document's.
            assert!((400..600).contains(&code.http_status()), "{code:?}");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op["security"] == json!([]) {
                    continue;
                }
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path} lacks 401"
                );
            }
        }
    }

    /// Every `$ref` in the document names a schema it holds.
    #[test]
    fn every_reference_in_the_document_resolves() {
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r);
                    }
                    o.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "{}", found.len());
        for r in found {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    /// The derived schemas say what the structs serialise: what is always sent is
    /// required, what is skipped when empty is not.
    #[test]
    fn the_answer_schemas_follow_the_structs_serde_attributes() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let required = |name: &str| -> Vec<String> {
            let mut r: Vec<String> =
                serde_json::from_value(schemas[name]["required"].clone()).unwrap_or_default();
            r.sort();
            r
        };
        // A test job's answer names no datasource.
        assert_eq!(required("Accepted"), ["jobId", "links", "name", "status"]);
        assert_eq!(required("ErrorDetail"), ["code", "message"]);
        assert_eq!(required("DatasourceList"), ["data"]);
        let accepted = serde_json::to_value(super::super::answers::Accepted::new(
            "n",
            crate::domain::DatasourceId::nil(),
            crate::domain::JobId::nil(),
        ))
        .unwrap();
        for key in accepted.as_object().unwrap().keys() {
            assert!(
                schemas["Accepted"]["properties"].get(key).is_some(),
                "{key}"
            );
        }
        assert_eq!(accepted["status"], "queued");
        let create = &doc["paths"]["/api/v2/datasource"]["post"];
        assert!(create["responses"]["202"]["links"]["GetJob"].is_object());
        assert!(create["requestBody"]["content"]["multipart/form-data"].is_object());
    }
}
