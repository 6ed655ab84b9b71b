//! The OpenAPI 3.1 document, built from the same schemas the API validates with.

use serde_json::{Value, json};

use crate::connectors::DatasourceType;
use crate::schemas;

pub fn document() -> Value {
    let requests: Vec<Value> = DatasourceType::ALL
        .iter()
        .map(|t| json!({"$ref": format!("#/components/schemas/request.{}", t.as_str())}))
        .collect();
    let mut components = serde_json::Map::new();
    for t in DatasourceType::ALL {
        let mut s = schemas::request_schema(*t);
        s.as_object_mut().map(|o| {
            o.remove("$schema");
            o.remove("$id")
        });
        components.insert(format!("request.{}", t.as_str()), s);
    }
    let error = json!({"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"enum": ["INVALID_REQUEST_BODY", "DATASOURCE_NAME_ERROR", "AUTHENTICATION_ERROR", "DATASOURCE_NOT_FOUND",
                              "JOB_NOT_FOUND", "PAYLOAD_TOO_LARGE", "CREDENTIAL_TEST_FAILED", "SCHEMA_CACHE_FAILED",
                              "EGRESS_DENIED", "SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"]},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "problem": {"type": "string"}}}},
            "hint": {"type": "string"}}}}});
    components.insert("Error".into(), error);
    let mut snapshot = schemas::snapshot_schema();
    snapshot.as_object_mut().map(|o| {
        o.remove("$schema");
        o.remove("$id")
    });
    components.insert("Snapshot".into(), snapshot);
    let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"type": "object"}}}});
    let body =
        json!({"required": true, "content": {"application/json": {"schema": {"oneOf": requests}}}});
    let wait = json!({"name": "wait", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 60}});
    let name =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let job_id = json!({"name": "jobId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "onramp", "version": env!("CARGO_PKG_VERSION"),
                 "description": "onboards databases and warehouses: accepts a datasource, tests and discovers it asynchronously"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v2/datasource": {
                "post": {"summary": "create a datasource and queue its test and discovery", "parameters": [wait,
                          {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}],
                         "requestBody": body,
                         "responses": {"202": ok("accepted: the job is recorded and queued"), "200": ok("with ?wait: the job succeeded"),
                                       "400": err("invalid request, duplicate name, or the job failed (with ?wait)"), "401": err("no valid token"),
                                       "413": err("body too large"), "500": err("internal error, or discovery failed (with ?wait)"), "503": err("a dependency is down; nothing was recorded")}},
                "put": {"summary": "replace a datasource's settings; re-tests and re-caches", "parameters": [wait], "requestBody": body,
                        "responses": {"202": ok("accepted"), "400": err("invalid request or unknown name"), "401": err("no valid token")}},
                "get": {"summary": "list datasources", "parameters": [
                            {"name": "isPagination", "in": "query", "schema": {"type": "boolean"}},
                            {"name": "pageNumber", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                            {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
                        "responses": {"200": ok("datasources without secrets"), "401": err("no valid token")}},
                "delete": {"summary": "delete a datasource and its cached schema",
                           "parameters": [{"name": "datasourceName", "in": "query", "required": true, "schema": {"type": "string"}}],
                           "responses": {"200": ok("{id, message}"), "400": err("unknown name"), "401": err("no valid token")}}
            },
            "/api/v2/datasource/sync": {"post": {"summary": "re-discover a datasource",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "datasourceName": {"type": "string"}, "input": {"type": "object", "properties": {"datasourceId": {"type": "string", "format": "uuid"}}}}}}}},
                "responses": {"202": ok("accepted"), "404": err("unknown datasource"), "401": err("no valid token")}}},
            "/api/v2/datasource/{name}": {"get": {"summary": "one datasource, without secrets", "parameters": [name.clone()],
                "responses": {"200": ok("the datasource"), "404": err("unknown datasource")}}},
            "/api/v2/datasource/{name}/schema": {"get": {"summary": "the cached schema snapshot", "parameters": [name],
                "responses": {"200": {"description": "the snapshot, with an ETag", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Snapshot"}}}},
                              "304": {"description": "unchanged since If-None-Match"}, "404": err("unknown datasource or nothing cached yet")}}},
            "/api/v2/jobs/{jobId}": {"get": {"summary": "a job's state and steps", "parameters": [job_id.clone()],
                "responses": {"200": ok("the job"), "404": err("unknown job")}}},
            "/api/v2/jobs/{jobId}/events": {"get": {"summary": "Server-Sent Events of a job, closing after its final state", "parameters": [job_id],
                "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}, "404": err("unknown job")}}},
            "/healthz": {"get": {"security": [], "summary": "liveness", "responses": {"200": ok("alive")}}},
            "/readyz": {"get": {"security": [], "summary": "readiness of PostgreSQL, RabbitMQ and Redis", "responses": {"200": ok("ready"), "503": ok("not ready")}}},
            "/metrics": {"get": {"security": [], "summary": "Prometheus metrics", "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"security": [], "summary": "this document", "responses": {"200": ok("OpenAPI 3.1")}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components
        }
    })
}
