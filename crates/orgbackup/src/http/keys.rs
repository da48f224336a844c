//! `/api/v1/keys`: an org's custom encryption keys (Enterprise). Listing and rotating need
//! `backup.schedule`; revoking destroys backups for good, so it also needs `backup.restore_full`
//! and the key's fingerprint as confirmation.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::keys::{self, KeyError, RevokedKey};
use orgbackup_service::permissions::Permission;
use orgbackup_service::states::KeyStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, rotate))
        .routes(routes!(revoke))
}

impl From<KeyError> for AppError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::NotOnPlan { .. } => AppError::Invalid {
                code: "plan_feature_unavailable",
                message: error.to_string(),
            },
            KeyError::NoMasterKey => AppError::Invalid {
                code: "encryption_unavailable",
                message: error.to_string(),
            },
            KeyError::KeyNotFound(_) => AppError::NotFound("key"),
            KeyError::AlreadyRevoked(_) => AppError::Conflict(error.to_string()),
            other => AppError::Internal(other.into()),
        }
    }
}

/// One of the organization's custom keys (never its bytes).
#[derive(Serialize, ToSchema)]
#[schema(as = Key)]
struct KeyView {
    key_id: Uuid,
    name: String,
    version: i32,
    fingerprint: String,
    status: KeyStatus,
    created_at: chrono::DateTime<chrono::Utc>,
    /// Completed backups sealed with it.
    backups: i64,
}

impl From<&keys::OrgKeyInfo> for KeyView {
    fn from(key: &keys::OrgKeyInfo) -> Self {
        KeyView {
            key_id: key.key_id,
            name: key.name.clone(),
            version: key.version,
            fingerprint: key.fingerprint.clone(),
            status: key.status,
            created_at: key.created_at,
            backups: key.backups,
        }
    }
}

/// The organization's keys.
#[derive(Serialize, ToSchema)]
struct KeyList {
    data: Vec<KeyView>,
}

/// List the organization's custom keys. Needs `backup.schedule`.
#[utoipa::path(get, path = "/keys", tag = "keys",
    responses((status = 200, body = KeyList), (status = 403, response = problems::Forbidden)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyList>> {
    caller
        .require(&state, Permission::Schedule, "keys.list")
        .await?;
    let listed = keys::list_org_keys(&state.pool, caller.principal.org_id).await?;
    Ok(Json(KeyList {
        data: listed.iter().map(KeyView::from).collect(),
    }))
}

/// The new key (the body is optional).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyRotate)]
struct RotateBody {
    /// Default: `custom key`.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
}

/// Rotate: create a new active key.
///
/// Creates a new active key; the previous active key is retired and still opens its backups.
/// Needs `backup.schedule`, and a plan with custom keys.
#[utoipa::path(post, path = "/keys", tag = "keys",
    request_body(content = Option<RotateBody>, description = "Optional: an empty body takes the default name"),
    responses(
        (status = 201, body = KeyView),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
    ))]
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<KeyView>)> {
    caller
        .require(&state, Permission::Schedule, "keys.rotate")
        .await?;
    // The body is optional: an empty one takes the default name.
    let body: RotateBody = if body.is_empty() {
        RotateBody::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let name = body.name.unwrap_or_else(|| "custom key".into());
    super::extract::check_name("key name", &name)?;
    let org = caller.principal.org_id;
    let created = match keys::create_org_key(&state.pool, &state.settings, org, &name).await {
        Ok(created) => created,
        Err(error) => {
            audit::record(
                &state.pool,
                &Entry::new(&caller, "keys.rotate", Outcome::Denied)
                    .detail("reason", error.to_string()),
            )
            .await;
            return Err(error.into());
        }
    };
    audit::record(
        &state.pool,
        &Entry::new(&caller, "keys.rotate", Outcome::Success)
            .entity("key", created.key_id)
            .detail("version", created.version)
            .detail("fingerprint", created.fingerprint.clone()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(KeyView::from(&created))))
}

/// The confirmation of a revocation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyRevoke)]
struct RevokeBody {
    /// The key's fingerprint, typed back: revocation cannot be undone.
    confirm: Option<String>,
}

/// Revoke a key: destroy it, and the backups it sealed with it, for good.
///
/// Needs `backup.schedule` and `backup.restore_full`, and the key's fingerprint as `confirm`
/// (422 `confirmation_required` without it).
#[utoipa::path(post, path = "/keys/{id}/revoke", tag = "keys", params(("id" = Uuid, Path, description = "The key's id")),
    request_body = RevokeBody,
    responses(
        (status = 200, body = RevokedKey),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 409, response = problems::Conflict),
        (status = 413, response = problems::TooLarge),
    ))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    body: Body<RevokeBody>,
) -> Result<Json<RevokedKey>> {
    caller
        .require(&state, Permission::Schedule, "keys.revoke")
        .await?;
    caller
        .require(&state, Permission::RestoreFull, "keys.revoke")
        .await?;
    let AppJson(body) = body?;
    let org = caller.principal.org_id;
    let listed = keys::list_org_keys(&state.pool, org).await?;
    let key = listed
        .iter()
        .find(|k| k.key_id == id)
        .ok_or(AppError::NotFound("key"))?;
    if body.confirm.as_deref() != Some(key.fingerprint.as_str()) {
        return Err(AppError::Invalid {
            code: "confirmation_required",
            message: format!(
                "revoking key v{} destroys it and makes its {} backups unreadable for good; send {{\"confirm\": \"{}\"}} (its fingerprint) to do it",
                key.version, key.backups, key.fingerprint
            ),
        });
    }
    let revoked = keys::revoke_org_key(&state.pool, org, id).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "keys.revoke", Outcome::Success)
            .entity("key", id)
            .detail("backups_unreadable", revoked.backups_unreadable),
    )
    .await;
    Ok(Json(revoked))
}
