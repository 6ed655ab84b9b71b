//! What a customer needs to grant onramp a role in its AWS account: the External ID
//! the role's trust policy must require. onramp makes it, one per organisation,
//! so that no tenant can name another's role and have onramp assume it (AWS's
//! advice: the third party, not the customer, chooses the External ID).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Org;
use crate::domain::OrgId;
use crate::storage::crypto::SecretKey;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccess {
    /// Give it as `credentials.externalId`, and require it in the role's trust
    /// policy (`"Condition": {"StringEquals": {"sts:ExternalId": "…"}}`).
    pub external_id: String,
}

/// This organisation's External ID: a keyed hash of its id, the same on every call
/// and every API process, and nobody else's.
pub fn external_id_for(key: &SecretKey, org: OrgId) -> String {
    let digest = key.fingerprint("aws-external-id", &[org.as_uuid().as_bytes()]);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("onramp-{hex}")
}

#[utoipa::path(
    get, path = "/api/v2/aws/external-id", operation_id = "awsExternalId",
    summary = "the External ID this organisation's AWS roles must require (sts:ExternalId)",
    responses((status = 200, description = "the External ID", body = AwsAccess))
)]
pub async fn external_id(State(state): State<AppState>, Org(org): Org) -> Json<AwsAccess> {
    Json(AwsAccess {
        external_id: external_id_for(&state.key, org),
    })
}
