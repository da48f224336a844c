//! `/api/v1/keys`: an org's custom encryption keys (Enterprise). Listing and rotating need
//! `backup.schedule`; revoking destroys backups for good, so it also needs `backup.restore_full`
//! and the key's fingerprint as confirmation.

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::keys::{self, KeyError};
use orgbackup_service::permissions::Permission;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list).post(rotate))
        .route("/keys/{id}/revoke", post(revoke))
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

fn key_json(key: &keys::OrgKeyInfo) -> Value {
    json!({
        "key_id": key.key_id,
        "name": key.name,
        "version": key.version,
        "fingerprint": key.fingerprint,
        "status": key.status,
        "created_at": key.created_at,
        "backups": key.backups,
    })
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "keys.list")
        .await?;
    let listed = keys::list_org_keys(&state.pool, caller.principal.org_id).await?;
    Ok(Json(
        json!({"data": listed.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    name: Option<String>,
}

/// Creates a new active key; the previous active key is retired and still opens its backups.
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>)> {
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
    Ok((StatusCode::CREATED, Json(key_json(&created))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    /// The key's fingerprint, typed back: revocation cannot be undone.
    confirm: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    body: Body<RevokeBody>,
) -> Result<Json<Value>> {
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
    Ok(Json(
        serde_json::to_value(&revoked).map_err(|e| AppError::Internal(e.into()))?,
    ))
}
