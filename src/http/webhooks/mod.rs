//! `/api/v2/webhooks`: an organisation's webhooks, their test event, and their
//! delivery logs. Deliveries themselves are made by workers (`crate::webhooks`).

pub mod body;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::answers::{ErrorBody, Pagination};
use super::auth::Org;
use super::error::ApiError;
use super::request::{ApiPath, ApiQuery, body_bytes, parse_json_object};
use crate::domain::events::CloudEvent;
use crate::domain::webhooks::{SigningSecret, WEBHOOK_TEST};
use crate::domain::{DeliveryId, ErrorCode, WebhookId};
use crate::storage::webhooks::{self as store, DeliveryRecord, WebhookRecord};

/// Webhooks one organisation may have: each event is matched against all of them.
pub const MAX_WEBHOOKS_PER_ORG: i64 = 100;

/// A webhook, without its signing secret except in the answer that made it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why onramp disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    /// After a rotation: until when the previous secret signs too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// The signing secret (`whsec_…`): only in the answers of a create and of a
    /// rotation; it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookView {
    fn of(r: WebhookRecord, secret: Option<SigningSecret>) -> WebhookView {
        WebhookView {
            id: r.id,
            url: r.url,
            events: r.events,
            description: r.description,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            consecutive_failures: r.consecutive_failures,
            previous_secret_until: r.old_secret_until.filter(|t| *t > Utc::now()),
            secret: secret.map(|s| s.to_text()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookView>,
    pub pagination: Pagination,
}

/// One event's delivery to one webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    /// The CloudEvent's id, sent as `webhook-id`.
    pub event_id: String,
    pub event_type: String,
    /// pending (to be sent, or sent again), delivered, or failed (given up).
    pub status: String,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status of the last attempt, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_duration_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(r: DeliveryRecord) -> DeliveryView {
        DeliveryView {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            event_type: r.event_type,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status_code: r.last_status_code,
            last_duration_ms: r.last_duration_ms,
            last_error: r.last_error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryView>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestQueued {
    pub delivery_id: DeliveryId,
    pub event_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeleted {
    pub id: WebhookId,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 1_000_000)]
    page_number: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::WebhookNotFound, "no such webhook")
}

fn webhook_id(text: &str) -> Result<WebhookId, ApiError> {
    text.parse().map_err(|_| not_found())
}

fn url_checker(state: &AppState) -> impl Fn(&str) -> Result<String, String> + '_ {
    |u| crate::webhooks::check_url(&state.settings, &state.egress, u).map(|u| u.to_string())
}

fn json_body(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    parse_json_object(&body_bytes(body, state.settings.body_limit_bytes)?)
}

#[utoipa::path(
    post, path = "/api/v2/webhooks", operation_id = "createWebhook",
    summary = "a webhook; its signing secret is in this answer only",
    request_body(content = body::CreateWebhookBody, content_type = "application/json"),
    responses(
        (status = 201, description = "the webhook, with its secret", body = WebhookView),
        (status = 400, description = "a problem with the body (each field's in details)", body = ErrorBody),
        (status = 413, description = "the body is over the size limit", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Org(org): Org,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&state, body)?;
    let (url, events, description) = body::create(&body, url_checker(&state))
        .map_err(|problems| ApiError::invalid("invalid webhook", problems))?;
    let new = store::NewWebhook {
        url: &url,
        events: &events,
        description: description.as_deref(),
    };
    let Some((record, secret)) =
        store::create(&state.pool, &state.key, org, new, MAX_WEBHOOKS_PER_ORG).await?
    else {
        return Err(ApiError::invalid(
            format!("this organisation has {MAX_WEBHOOKS_PER_ORG} webhooks, the most it may"),
            vec![],
        )
        .with_hint("delete a webhook, or subscribe one webhook to more event types"));
    };
    Ok((
        StatusCode::CREATED,
        Json(WebhookView::of(record, Some(secret))),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v2/webhooks", operation_id = "listWebhooks",
    summary = "the organisation's webhooks, oldest first",
    params(PageQuery),
    responses((status = 200, description = "a page of webhooks", body = WebhookList))
)]
pub async fn list(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<WebhookList>, ApiError> {
    let (page, size) = super::datasources::checked_page(q.page_number, q.page_size, 100)?;
    let (rows, total) = store::list(&state.pool, org, size, (page - 1) * size).await?;
    Ok(Json(WebhookList {
        data: rows.into_iter().map(|r| WebhookView::of(r, None)).collect(),
        pagination: Pagination {
            page_number: page,
            page_size: size,
            total,
        },
    }))
}

#[utoipa::path(
    get, path = "/api/v2/webhooks/{webhookId}", operation_id = "getWebhook",
    summary = "a webhook, without its secret",
    params(("webhookId" = String, Path, description = "the webhook's id")),
    responses(
        (status = 200, description = "the webhook", body = WebhookView),
        (status = 404, description = "unknown webhook", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(id): ApiPath,
) -> Result<Json<WebhookView>, ApiError> {
    let record = store::get(&state.pool, org, webhook_id(&id)?)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(WebhookView::of(record, None)))
}

#[utoipa::path(
    patch, path = "/api/v2/webhooks/{webhookId}", operation_id = "updateWebhook",
    summary = "change a webhook's URL, events, description or state, or rotate its secret",
    params(("webhookId" = String, Path, description = "the webhook's id")),
    request_body(content = body::UpdateWebhookBody, content_type = "application/json"),
    responses(
        (status = 200, description = "the webhook; with `secret` after a rotation", body = WebhookView),
        (status = 400, description = "a problem with the body", body = ErrorBody),
        (status = 404, description = "unknown webhook", body = ErrorBody),
        (status = 413, description = "the body is over the size limit", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(id): ApiPath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookView>, ApiError> {
    let id = webhook_id(&id)?;
    let body = json_body(&state, body)?;
    let changes = body::update(&body, url_checker(&state))
        .map_err(|problems| ApiError::invalid("invalid change", problems))?;
    let (record, secret) = store::update(
        &state.pool,
        &state.key,
        org,
        id,
        changes,
        state.settings.webhook_secret_grace,
    )
    .await?
    .ok_or_else(not_found)?;
    Ok(Json(WebhookView::of(record, secret)))
}

#[utoipa::path(
    delete, path = "/api/v2/webhooks/{webhookId}", operation_id = "deleteWebhook",
    summary = "delete a webhook and its delivery log; nothing more is sent to it",
    params(("webhookId" = String, Path, description = "the webhook's id")),
    responses(
        (status = 200, description = "deleted", body = WebhookDeleted),
        (status = 404, description = "unknown webhook", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(id): ApiPath,
) -> Result<Json<WebhookDeleted>, ApiError> {
    let id = webhook_id(&id)?;
    if !store::delete(&state.pool, org, id).await? {
        return Err(not_found());
    }
    Ok(Json(WebhookDeleted { id }))
}

#[utoipa::path(
    post, path = "/api/v2/webhooks/{webhookId}/test", operation_id = "testWebhook",
    summary = "send a webhook.test event to this webhook only",
    params(("webhookId" = String, Path, description = "the webhook's id")),
    responses(
        (status = 202, description = "queued; its delivery appears in the log", body = TestQueued),
        (status = 400, description = "the webhook is disabled", body = ErrorBody),
        (status = 404, description = "unknown webhook", body = ErrorBody),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    let id = webhook_id(&id)?;
    let record = store::get(&state.pool, org, id)
        .await?
        .ok_or_else(not_found)?;
    if !record.enabled {
        return Err(
            ApiError::invalid("the webhook is disabled; nothing is sent to it", vec![])
                .with_hint("enable it with PATCH {\"enabled\": true}"),
        );
    }
    let event = CloudEvent::new(
        WEBHOOK_TEST,
        org,
        &id.to_string(),
        serde_json::json!({"webhookId": id, "message": "a test event from onramp"}),
    );
    let delivery_id = store::enqueue(&state.pool, org, id, &event).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            delivery_id,
            event_id: event.id,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v2/webhooks/{webhookId}/deliveries", operation_id = "listWebhookDeliveries",
    summary = "a webhook's deliveries, newest first",
    params(("webhookId" = String, Path, description = "the webhook's id"), PageQuery),
    responses(
        (status = 200, description = "a page of deliveries", body = DeliveryList),
        (status = 404, description = "unknown webhook", body = ErrorBody),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(id): ApiPath,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let id = webhook_id(&id)?;
    let (page, size) = super::datasources::checked_page(q.page_number, q.page_size, 100)?;
    store::get(&state.pool, org, id)
        .await?
        .ok_or_else(not_found)?;
    let (rows, total) = store::deliveries(&state.pool, org, id, size, (page - 1) * size).await?;
    Ok(Json(DeliveryList {
        data: rows.into_iter().map(DeliveryView::from).collect(),
        pagination: Pagination {
            page_number: page,
            page_size: size,
            total,
        },
    }))
}

#[utoipa::path(
    post, path = "/api/v2/webhooks/deliveries/{deliveryId}/retry", operation_id = "retryWebhookDelivery",
    summary = "send a delivery again now, with a new retry window",
    params(("deliveryId" = String, Path, description = "the delivery's id, from a delivery log")),
    responses(
        (status = 202, description = "queued again", body = DeliveryView),
        (status = 400, description = "its webhook is disabled, or an attempt is being made now", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    let missing = || ApiError::new(ErrorCode::WebhookNotFound, "no such delivery");
    let id: DeliveryId = id.parse().map_err(|_| missing())?;
    let row = match store::retry(&state.pool, org, id).await? {
        store::Retried::Queued(row) => row,
        store::Retried::Missing => return Err(missing()),
        store::Retried::Disabled => {
            return Err(ApiError::invalid(
                "the delivery's webhook is disabled; nothing is sent to it",
                vec![],
            )
            .with_hint(
                "enable it with PATCH {\"enabled\": true}: its pending deliveries are then sent",
            ));
        }
        store::Retried::InFlight => {
            return Err(
                ApiError::invalid("an attempt of this delivery is being made now", vec![])
                    .with_hint("look at the delivery log again in a few seconds"),
            );
        }
    };
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(row))).into_response())
}
