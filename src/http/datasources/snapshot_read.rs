//! `GET /datasource/{name}/schema`: the cached snapshot, whole or one schema or table
//! of it, compressed as stored when the client takes zstd (the bytes Redis holds go
//! out as they are), gzip'd when it takes only gzip, inflated otherwise.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Write;

use super::super::AppState;
use super::super::answers::ErrorBody;
use super::super::auth::Org;
use super::super::error::ApiError;
use super::super::request::{ApiPath, ApiQuery};
use super::{could_exist, not_found};
use crate::domain::ErrorCode;
use crate::storage::datasources;
use crate::storage::snapshots::{Body, Part, Read};

/// Longer than any schema or table name of the types onramp reads.
const NAME_MAX_CHARS: usize = 1024;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchemaQuery {
    /// Only the schemas of this database.
    #[param(min_length = 1, max_length = 1024)]
    database: Option<String>,
    /// Only the schemas of this name (read from their own frames, not the whole).
    #[param(min_length = 1, max_length = 1024)]
    schema: Option<String>,
    /// Only the tables of this name (one frame read per schema that has one).
    #[param(min_length = 1, max_length = 1024)]
    table: Option<String>,
}

impl SchemaQuery {
    fn part(self) -> Result<Part, ApiError> {
        for (field, value) in [
            ("database", &self.database),
            ("schema", &self.schema),
            ("table", &self.table),
        ] {
            if let Some(v) = value
                && (v.is_empty() || v.chars().count() > NAME_MAX_CHARS)
            {
                return Err(ApiError::invalid(
                    format!("{field} must be a name of 1 to {NAME_MAX_CHARS} characters"),
                    vec![],
                ));
            }
        }
        Ok(Part {
            database: self.database,
            schema: self.schema,
            table: self.table,
        })
    }
}

#[utoipa::path(
    get, path = "/api/v2/datasource/{name}/schema", operation_id = "getSchema",
    summary = "the cached schema snapshot, or one schema or table of it",
    params(
        ("name" = String, Path, min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"),
        SchemaQuery,
    ),
    responses(
        (status = 200, description = "the snapshot (or the part asked for), with an ETag; `Content-Encoding: zstd` or `gzip` when the client accepts it", content_type = "application/json"),
        (status = 304, description = "unchanged since If-None-Match"),
        (status = 400, description = "an empty or overlong name in the query", body = ErrorBody),
        (status = 404, description = "unknown datasource, nothing cached yet, or no such schema or table in the snapshot", body = ErrorBody),
    )
)]
pub async fn schema(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(name): ApiPath,
    ApiQuery(query): ApiQuery<SchemaQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let part = query.part()?;
    let Some(named) = could_exist(&name) else {
        return Err(not_found(&name));
    };
    let Some(record) = datasources::get(&state.pool, org, &named).await? else {
        return Err(not_found(&name));
    };
    let nothing_yet = || {
        ApiError::new(
            ErrorCode::DatasourceNotFound,
            format!("datasource {name:?} has no cached schema yet"),
        )
        .with_hint("wait for its job to succeed, or run a sync")
    };
    let read = if part.is_whole() {
        state
            .store
            .get(org, record.id)
            .await?
            .ok_or_else(nothing_yet)?
    } else {
        match state.store.get_part(org, record.id, &part).await? {
            None => return Err(nothing_yet()),
            Some(None) => return Err(part_not_found(&name, &part)),
            Some(Some(read)) => read,
        }
    };
    let tag = entity_tag(&read.meta.hash, &part);
    let coding = Coding::chosen(&headers, &read.body);
    let etag = format!("\"{tag}{}\"", coding.tag_suffix());
    let version = read.meta.version;
    let mut response = if not_modified(&headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = encode(read, coding).await?;
        let mut r = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(value) = coding.header() {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
        }
        r
    };
    let h = response.headers_mut();
    h.insert("x-schema-version", HeaderValue::from(version));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(response)
}

fn part_not_found(name: &str, part: &Part) -> ApiError {
    let mut wanted = Vec::new();
    for (what, value) in [
        ("database", &part.database),
        ("schema", &part.schema),
        ("table", &part.table),
    ] {
        if let Some(v) = value {
            let shown: String = v.chars().take(128).collect();
            wanted.push(format!("{what} {shown:?}"));
        }
    }
    ApiError::new(
        ErrorCode::DatasourceNotFound,
        format!(
            "the snapshot of datasource {:?} has no {}",
            super::shown(name),
            wanted.join(" with ")
        ),
    )
    .with_hint("names compare exactly; GET the whole schema to see what is there")
}

/// The snapshot's hash names the whole; a part's tag adds a digest of what was asked
/// for, so a cached part and the whole never answer for each other.
fn entity_tag(hash: &str, part: &Part) -> String {
    if part.is_whole() {
        return hash.to_string();
    }
    let mut d = Sha256::new();
    for v in [&part.database, &part.schema, &part.table] {
        // A present name and an absent one must not digest alike.
        match v {
            Some(v) => {
                d.update([1]);
                d.update((v.len() as u64).to_be_bytes());
                d.update(v.as_bytes());
            }
            None => d.update([0]),
        }
    }
    format!("{hash}-{}", &hex::encode(d.finalize())[..16])
}

/// If-None-Match names this representation in any of its codings (or `*`).
fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    v.split(',').any(|t| {
        let t = t.trim();
        if t == "*" {
            return true;
        }
        let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
        [Coding::Identity, Coding::Zstd, Coding::Gzip]
            .iter()
            .any(|c| t.strip_suffix(c.tag_suffix()) == Some(tag))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Zstd,
    Gzip,
}

impl Coding {
    /// Of zstd and gzip, the one the client prefers (by q-value; zstd, which costs
    /// nothing, on a tie), when the body is stored as zstd; identity otherwise.
    fn chosen(headers: &HeaderMap, body: &Body) -> Coding {
        if !matches!(body, Body::Zstd(_)) {
            return Coding::Identity;
        }
        let accepted: Vec<(String, f32)> = headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|item| {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let q = parts
                    .filter_map(|p| {
                        let (name, value) = p.split_once('=')?;
                        name.trim().eq_ignore_ascii_case("q").then_some(value)
                    })
                    .filter_map(|q| q.trim().parse::<f32>().ok())
                    .next()
                    .unwrap_or(1.0);
                (coding, q)
            })
            .collect();
        let q = |name: &str| {
            let named = accepted.iter().find(|(c, _)| c == name);
            let any = accepted.iter().find(|(c, _)| c == "*");
            named.or(any).map(|(_, q)| *q).unwrap_or(0.0)
        };
        let (zstd, gzip) = (q("zstd"), q("gzip"));
        if zstd > 0.0 && zstd >= gzip {
            Coding::Zstd
        } else if gzip > 0.0 {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }

    fn header(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Zstd => Some("zstd"),
            Coding::Gzip => Some("gzip"),
        }
    }

    fn tag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Zstd => ".zstd",
            Coding::Gzip => ".gzip",
        }
    }
}

/// The body in the chosen coding; inflating (and gzip) run off the async threads.
async fn encode(read: Read, coding: Coding) -> Result<Vec<u8>, ApiError> {
    let limit = read.limit();
    let body = match (coding, read.body) {
        // As stored: zstd to a client that takes it, plain JSON (an old snapshot) to any.
        (Coding::Zstd, Body::Zstd(z)) | (_, Body::Json(z)) => return Ok(z),
        (_, body) => body,
    };
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let json = body.into_json(limit)?;
        if coding != Coding::Gzip {
            return Ok(json);
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 8),
            flate2::Compression::fast(),
        );
        gz.write_all(&json)
            .and_then(|_| gz.finish())
            .map_err(|e| ApiError::internal(format!("gzip: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal(format!("encoding the snapshot stopped: {e}")))?
}
