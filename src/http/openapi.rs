//! The OpenAPI 3.1 document, built from the same schemas the API validates with.
//! Every status a route can answer is listed with its content type: schemathesis
//! checks the running service against it in `.ci/run`.

use serde_json::{Map, Value, json};

use crate::connectors::DatasourceType;
use crate::schemas;

fn error_codes() -> Value {
    json!(crate::domain::ErrorCode::ALL)
}

fn err(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The answers every authenticated route may give besides its own.
fn with_common(mut responses: Value, query_or_path: bool) -> Value {
    let r = responses.as_object_mut().expect("responses are an object");
    r.entry("401")
        .or_insert_with(|| err("no token, an unknown token or a revoked one"));
    r.entry("500")
        .or_insert_with(|| err("internal error (the log has the cause under the error id)"));
    r.entry("503").or_insert_with(|| {
        err("PostgreSQL, RabbitMQ or Redis is unavailable; nothing was recorded")
    });
    if query_or_path {
        r.entry("400")
            .or_insert_with(|| err("a malformed query string or path"));
    }
    responses
}

fn accepted() -> Value {
    json!({"type": "object", "required": ["name", "datasourceId", "jobId", "status", "links"], "properties": {
        "name": {"type": "string"}, "datasourceId": {"type": "string", "format": "uuid"},
        "jobId": {"type": "string", "format": "uuid"}, "status": {"const": "queued"},
        "links": {"type": "object", "properties": {"job": {"type": "string"}, "events": {"type": "string"}}}}})
}

pub fn document() -> Value {
    let requests: Vec<Value> = DatasourceType::ALL
        .iter()
        .map(|t| json!({"$ref": format!("#/components/schemas/request.{}", t.as_str())}))
        .collect();
    let mut components = Map::new();
    for t in DatasourceType::ALL {
        let mut s = schemas::request_schema(*t);
        if let Some(o) = s.as_object_mut() {
            o.remove("$schema");
            o.remove("$id");
        }
        components.insert(format!("request.{}", t.as_str()), s);
    }
    components.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"enum": error_codes()},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "required": ["field", "problem"],
                    "properties": {"field": {"type": "string"}, "problem": {"type": "string"}}}},
                "hint": {"type": "string"}}}}}),
    );
    let mut snapshot = schemas::snapshot_schema();
    if let Some(o) = snapshot.as_object_mut() {
        o.remove("$schema");
        o.remove("$id");
    }
    components.insert("Snapshot".into(), snapshot);
    components.insert("Accepted".into(), accepted());
    let accepted_ref = json!({"$ref": "#/components/schemas/Accepted"});
    let object = json!({"type": "object"});
    let body = json!({"required": true, "content": {
        "application/json": {"schema": {"oneOf": requests}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["request"], "properties": {
            "request": {"type": "string", "description": "the create body as JSON"},
            "file": {"type": "string", "format": "binary", "description": "a csv datasource's file"}}}}}});
    let put_body =
        json!({"required": true, "content": {"application/json": {"schema": {"oneOf": requests}}}});
    let wait = json!({"name": "wait", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 60}});
    // A datasource's name as create accepts it: no control characters, 1 to 128.
    let name_schema = json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"});
    let name =
        json!({"name": "name", "in": "path", "required": true, "schema": name_schema.clone()});
    let job_id =
        json!({"name": "jobId", "in": "path", "required": true, "schema": {"type": "string"}});
    // What an accepted answer leads to, for clients and for stateful testing.
    let links = json!({
        "GetJob": {"operationId": "getJob", "parameters": {"jobId": "$response.body#/jobId"}},
        "JobEvents": {"operationId": "jobEvents", "parameters": {"jobId": "$response.body#/jobId"}},
        "GetDatasource": {"operationId": "getDatasource", "parameters": {"name": "$response.body#/name"}},
        "GetSchema": {"operationId": "getSchema", "parameters": {"name": "$response.body#/name"}},
        "DeleteDatasource": {"operationId": "deleteDatasource", "parameters": {"datasourceName": "$response.body#/name"}}});
    let accepted_with_links = |accepted: &Value| {
        let mut answer = ok("accepted: the job is recorded and queued", accepted.clone());
        answer["links"] = links.clone();
        answer
    };
    let writes = |accepted: &Value| {
        json!({"202": accepted_with_links(accepted),
               "200": ok("with ?wait: the job succeeded", object.clone()),
               "400": err("an invalid request or name, or (with ?wait) the job failed on the target"),
               "413": err("the body is over body_limit_bytes (a file over upload_limit_bytes)"),
               "429": err("with ?wait: the organisation holds its limit of open streams"),
               "500": err("internal error, or (with ?wait) discovery failed")})
    };
    json!({
        "openapi": "3.1.0",
        "info": {"title": "onramp", "version": env!("CARGO_PKG_VERSION"),
                 "description": "onboards databases and warehouses: accepts a datasource, tests and discovers it asynchronously"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v2/datasource": {
                "post": {"summary": "create a datasource and queue its test and discovery", "operationId": "createDatasource", "parameters": [wait.clone(),
                          {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
                         "requestBody": body, "responses": with_common(writes(&accepted_ref), true)},
                "put": {"summary": "replace a datasource's settings; re-tests and re-caches", "operationId": "updateDatasource", "parameters": [wait],
                        "requestBody": put_body, "responses": with_common(writes(&accepted_ref), true)},
                "get": {"summary": "list datasources", "operationId": "listDatasources", "parameters": [
                            {"name": "isPagination", "in": "query", "schema": {"type": "boolean"}},
                            {"name": "pageNumber", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000}},
                            {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
                        "responses": with_common(json!({"200": ok("datasources without secrets", object.clone()),
                                                        "400": err("a page number or size out of range, or a malformed query")}), true)},
                "delete": {"summary": "delete a datasource and its cached schema",
                           "operationId": "deleteDatasource",
                           "parameters": [{"name": "datasourceName", "in": "query", "required": true, "schema": name_schema.clone()}],
                           "responses": with_common(json!({"200": ok("{id, message}", object.clone()), "400": err("no name, or an unknown name")}), true)}
            },
            "/api/v2/datasource/sync": {"post": {"summary": "re-discover a datasource",
                "operationId": "syncDatasource",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "anyOf": [{"required": ["datasourceName"]}, {"required": ["input"]}],
                    "properties": {
                    "datasourceName": name_schema.clone(),
                    "input": {"type": "object", "required": ["datasourceId"], "properties": {"datasourceId": {"type": "string", "format": "uuid"}}}}}}}},
                "responses": with_common(json!({"202": accepted_with_links(&accepted_ref), "400": err("neither a name nor an id, or malformed json"),
                                                "404": err("unknown datasource"), "413": err("the body is over body_limit_bytes")}), false)}},
            "/api/v2/datasource/{name}": {"get": {"summary": "one datasource, without secrets", "operationId": "getDatasource", "parameters": [name.clone()],
                "responses": with_common(json!({"200": ok("the datasource", object.clone()), "404": err("unknown datasource")}), true)}},
            "/api/v2/datasource/{name}/schema": {"get": {"summary": "the cached schema snapshot", "operationId": "getSchema", "parameters": [name],
                "responses": with_common(json!({"200": {"description": "the snapshot, with an ETag", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Snapshot"}}}},
                              "304": {"description": "unchanged since If-None-Match"}, "404": err("unknown datasource or nothing cached yet")}), true)}},
            "/api/v2/jobs/{jobId}": {"get": {"summary": "a job's state and steps", "operationId": "getJob", "parameters": [job_id.clone()],
                "responses": with_common(json!({"200": ok("the job", object.clone()), "404": err("unknown job")}), true)}},
            "/api/v2/jobs/{jobId}/events": {"get": {"operationId": "jobEvents", "summary": "Server-Sent Events of a job, closing after its final state (or after stream_max_seconds, or when the token is revoked)", "parameters": [job_id],
                "responses": with_common(json!({"200": {"description": "event stream: each event `job` carries the job as JSON in its data", "content": {"text/event-stream": {"schema": {
                                  "type": "object", "required": ["data"], "properties": {"event": {"const": "job"}, "id": {"type": "string"}, "data": {"type": "string"}}}}}},
                              "404": err("unknown job"), "429": err("the organisation holds its limit of open streams")}), true)}},
            "/healthz": {"get": {"security": [], "summary": "liveness", "responses": {"200": ok("alive", object.clone())}}},
            "/readyz": {"get": {"security": [], "summary": "readiness of PostgreSQL, RabbitMQ and Redis",
                "responses": {"200": ok("ready", object.clone()), "503": ok("not ready", object.clone())}}},
            "/metrics": {"get": {"security": [], "summary": "Prometheus metrics", "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"security": [], "summary": "this document", "responses": {"200": ok("OpenAPI 3.1", object)}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_of_the_contract_is_in_the_document() {
        use crate::domain::ErrorCode;
        let codes = error_codes();
        assert_eq!(codes.as_array().unwrap().len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            // Every code has its status, and every status is one of the document's.
            assert!((400..600).contains(&code.http_status()), "{code:?}");
        }
        let doc = document();
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
}
