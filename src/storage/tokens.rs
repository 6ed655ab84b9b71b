//! Organisations and their service tokens (stored only as hashes).

use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use super::crypto::{new_token, token_hash};
use crate::domain::OrgId;

pub async fn ensure_org(pool: &PgPool, name: &str) -> Result<OrgId, StoreError> {
    let id: OrgId = sqlx::query_scalar(
        "INSERT INTO organisations (id, name) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(OrgId::generate())
    .bind(name)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Creates a token for `org` (creating the organisation when new); returns its id and
/// the token, which exists nowhere else afterwards.
pub async fn create(
    pool: &PgPool,
    org: &str,
    label: Option<&str>,
) -> Result<(OrgId, Uuid, String), StoreError> {
    let org_id = ensure_org(pool, org).await?;
    let token = new_token();
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO service_tokens (id, org_id, token_hash, label) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(org_id)
    .bind(token_hash(&token))
    .bind(label)
    .execute(pool)
    .await?;
    Ok((org_id, id, token))
}

/// Revokes by token id or by the token itself; true when something was revoked.
pub async fn revoke(pool: &PgPool, id_or_token: &str) -> Result<bool, StoreError> {
    let result = match Uuid::parse_str(id_or_token) {
        Ok(id) => {
            sqlx::query("UPDATE service_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .execute(pool)
                .await?
        }
        Err(_) => {
            sqlx::query("UPDATE service_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash(id_or_token))
                .execute(pool)
                .await?
        }
    };
    Ok(result.rows_affected() > 0)
}

/// The organisation a live token belongs to.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Option<OrgId>, StoreError> {
    let org: Option<OrgId> = sqlx::query_scalar(
        "SELECT org_id FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(org)
}

#[derive(sqlx::FromRow)]
pub struct TokenInfo {
    pub id: Uuid,
    pub org: String,
    pub label: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn list(pool: &PgPool, org: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
    let rows: Vec<TokenInfo> = sqlx::query_as(
            "SELECT t.id, o.name AS org, t.label, t.created_at, t.revoked_at FROM service_tokens t
             JOIN organisations o ON o.id = t.org_id WHERE $1::text IS NULL OR o.name = $1 ORDER BY t.created_at",
        )
        .bind(org)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// Which of these token hashes belong to revoked tokens.
pub async fn revoked_among(pool: &PgPool, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT token_hash FROM service_tokens WHERE token_hash = ANY($1) AND revoked_at IS NOT NULL",
    )
    .bind(hashes)
    .fetch_all(pool)
    .await?)
}
