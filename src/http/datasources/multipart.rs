//! A create's body: JSON, or multipart with the JSON and a file.

use axum::body::Bytes;
use axum::http::{StatusCode, header};

use crate::connectors::{FieldProblem, Registered};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::request::body_bytes;

/// A create body: JSON, or multipart with a `request` part (the JSON) and a `file`
/// part (a csv datasource's file).
pub(super) async fn read_create_body(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<(Bytes, Option<(String, Bytes)>), ApiError> {
    use axum::extract::FromRequest;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = body_bytes(
            Bytes::from_request(request, state).await,
            state.settings.body_limit_bytes,
        )?;
        return Ok((body, None));
    }
    let mut form = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::invalid(format!("malformed multipart body: {e}"), vec![]))?;
    let (mut json, mut file) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::http::request::too_large()
        } else {
            ApiError::invalid(format!("malformed multipart body: {e}"), vec![])
        }
    })? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().unwrap_or("upload.csv").to_string();
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                crate::http::request::too_large()
            } else {
                ApiError::invalid(format!("malformed multipart part {name}: {e}"), vec![])
            }
        })?;
        match name.as_str() {
            "request" if bytes.len() > state.settings.body_limit_bytes => {
                return Err(crate::http::request::too_large());
            }
            "request" => json = Some(bytes),
            "file" if bytes.len() > state.settings.upload_limit_bytes => {
                return Err(crate::http::request::too_large());
            }
            "file" => file = Some((file_name, bytes)),
            other => {
                return Err(ApiError::invalid(
                    "unknown multipart part",
                    vec![FieldProblem::new(
                        other,
                        "unknown part: send `request` (JSON) and `file`",
                    )],
                ));
            }
        }
    }
    let json = json.ok_or_else(|| {
        ApiError::invalid(
            "the multipart body has no request part",
            vec![FieldProblem::new("request", "is required")],
        )
    })?;
    Ok((json, file))
}

/// A file goes only with a type that takes one (csv) and names no location of its
/// own; such a type needs one or the other.
pub(super) fn check_upload(
    request: &crate::http::request::DatasourceRequest,
    upload: Option<&(String, Bytes)>,
) -> Result<(), ApiError> {
    let replaces = request.datasource_type.connector().upload_replaces();
    let has_location = replaces.is_some_and(|field| request.credentials.get(field).is_some());
    let problem = match (replaces, has_location, upload.is_some()) {
        (None, _, true) => {
            let takers: Vec<&str> = crate::connectors::DatasourceType::ALL
                .iter()
                .filter(|t| t.connector().upload_replaces().is_some())
                .map(|t| t.as_str())
                .collect();
            Some((
                "file".to_string(),
                format!(
                    "only a {} datasource takes an uploaded file",
                    takers.join(" or ")
                ),
            ))
        }
        (Some(field), true, true) => Some((
            "file".to_string(),
            format!("give a {field} or upload a file, not both"),
        )),
        (Some(field), false, false) => Some((
            format!("credentials.{field}"),
            "is required unless the file is uploaded (multipart part `file`)".to_string(),
        )),
        _ => None,
    };
    match problem {
        Some((field, why)) => Err(ApiError::invalid(
            format!("invalid request: check {field}"),
            vec![FieldProblem::new(field, why)],
        )),
        None => Ok(()),
    }
}
