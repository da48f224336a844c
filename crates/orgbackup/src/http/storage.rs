//! `/api/v1/storage/...`: the org's storage connections (where backups may go besides the local
//! disk) and its default destination. Managing them takes `backup.schedule`; listing takes
//! `backup.create` (choosing a destination is part of creating a backup). Credentials go in,
//! sealed, and never come out.

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::permissions::Permission;
use orgbackup_service::storage::connections::OAuthBinding;
use orgbackup_service::storage::{S3Credentials, S3Settings, StorageError, connections};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/storage/connections", get(list).post(add))
        .route("/storage/connections/{id}", delete(remove))
        .route("/storage/connections/{id}/test", post(test))
        .route("/storage/default", put(set_default))
        .route("/storage/oauth/start", post(oauth_start))
        .route("/storage/oauth/complete", post(oauth_complete))
}

impl From<StorageError> for AppError {
    fn from(error: StorageError) -> Self {
        let message = error.to_string();
        match error {
            StorageError::UnknownConnection(_) => AppError::Invalid {
                code: "unknown_destination",
                message,
            },
            StorageError::Invalid(_) => AppError::Invalid {
                code: "invalid_storage_settings",
                message,
            },
            StorageError::NoMasterKey => AppError::Invalid {
                code: "storage_connections_unavailable",
                message,
            },
            StorageError::Duplicate(_) | StorageError::InUse { .. } => AppError::Conflict(message),
            StorageError::Sql(e) => AppError::Internal(e.into()),
            StorageError::Key(e) => AppError::Internal(e.into()),
            StorageError::Io { .. } => AppError::Internal(anyhow::anyhow!(message)),
            StorageError::Unavailable { .. }
            | StorageError::Full { .. }
            | StorageError::Refused { .. }
            | StorageError::NotFound { .. }
            | StorageError::Mismatch { .. }
            | StorageError::Inactive { .. }
            | StorageError::Credentials(_) => AppError::StorageUnavailable(message),
        }
    }
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Create, "storage.list")
        .await?;
    let data = connections::list(&state.pool, caller.principal.org_id).await?;
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
enum AddBody {
    S3 {
        name: String,
        settings: S3Settings,
        credentials: S3Credentials,
        /// Write, read back and delete a small file before saving (default: yes).
        #[serde(default = "yes")]
        test: bool,
        /// Make it the org's default destination.
        #[serde(default)]
        default: bool,
    },
}

fn yes() -> bool {
    true
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<AddBody>,
) -> Result<(StatusCode, Json<Value>)> {
    caller
        .require(&state, Permission::Schedule, "storage.connect")
        .await?;
    let AppJson(AddBody::S3 {
        name,
        settings,
        credentials,
        test,
        default,
    }) = body?;
    super::extract::check_name("connection name", &name)?;
    let org = caller.principal.org_id;
    let added = connections::add_s3(
        &state.pool,
        &state.settings,
        org,
        &name,
        settings,
        &credentials,
        test,
    )
    .await;
    let mut connection = match added {
        Ok(connection) => connection,
        Err(error) => {
            audit::record(
                &state.pool,
                &Entry::new(&caller, "storage.connect", Outcome::Failure)
                    .detail("name", name.as_str())
                    .detail("error", error.to_string()),
            )
            .await;
            return Err(error.into());
        }
    };
    if default {
        connections::set_default(&state.pool, org, Some(&name)).await?;
        connection.is_default = true;
    }
    audit::record(
        &state.pool,
        &Entry::new(&caller, "storage.connect", Outcome::Success)
            .entity("storage_connection", connection.connection_id)
            .detail("provider", connection.provider.as_str()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(connection))))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "storage.disconnect")
        .await?;
    let removed = connections::remove(&state.pool, caller.principal.org_id, &id)
        .await
        .map_err(|e| match e {
            StorageError::UnknownConnection(_) => AppError::NotFound("storage connection"),
            other => other.into(),
        })?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "storage.disconnect", Outcome::Success)
            .entity("storage_connection", removed.connection_id),
    )
    .await;
    Ok(Json(
        json!({"connection_id": removed.connection_id, "status": "deleted"}),
    ))
}

/// Writes, reads back and deletes a small file at the connection: does it work right now?
async fn test(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "storage.test")
        .await?;
    let org = caller.principal.org_id;
    let connection = connections::find(&state.pool, org, &id)
        .await
        .map_err(|e| match e {
            StorageError::UnknownConnection(_) => AppError::NotFound("storage connection"),
            other => other.into(),
        })?;
    connections::open(&state.pool, &state.settings, org, connection.connection_id)
        .await?
        .test()
        .await?;
    Ok(Json(
        json!({"connection_id": connection.connection_id, "status": "ok"}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultBody {
    /// A connection's id or name; `local` or `null` for the service's local disk.
    destination: Option<String>,
}

async fn set_default(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<DefaultBody>,
) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "storage.default")
        .await?;
    let AppJson(body) = body?;
    let connection = connections::set_default(
        &state.pool,
        caller.principal.org_id,
        body.destination.as_deref(),
    )
    .await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "storage.default", Outcome::Success).detail(
            "destination",
            connection
                .as_ref()
                .map_or("local".to_string(), |c| c.name.clone()),
        ),
    )
    .await;
    Ok(Json(json!({
        "default_destination": connection.map_or(json!("local"), |c| json!(c)),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthStartBody {
    provider: orgbackup_service::storage::Provider,
    name: String,
    #[serde(default = "default_folder")]
    folder: String,
}

fn default_folder() -> String {
    "/orgbackup".into()
}

/// The provider's authorize URL to send the user to (the settings page opens it).
async fn oauth_start(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<OAuthStartBody>,
) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "storage.connect")
        .await?;
    let AppJson(body) = body?;
    super::extract::check_name("connection name", &body.name)?;
    let token = caller.principal.token_id.ok_or(AppError::Unauthorized)?;
    let url = connections::authorize_url(
        &state.pool,
        &state.settings,
        body.provider,
        caller.principal.org_id,
        &body.name,
        &body.folder,
        &OAuthBinding::Token(token),
    )
    .await?;
    Ok(Json(json!({ "authorize_url": url })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthCompleteBody {
    state: String,
    code: String,
}

/// Finishes a connect flow started through the API (`/storage/oauth/start`), with the code the
/// callback showed: only the token that started it can, once.
async fn oauth_complete(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<OAuthCompleteBody>,
) -> Result<(StatusCode, Json<Value>)> {
    caller
        .require(&state, Permission::Schedule, "storage.connect")
        .await?;
    let AppJson(body) = body?;
    let token = caller.principal.token_id.ok_or(AppError::Unauthorized)?;
    let connection = connections::complete_oauth(
        &state.pool,
        &state.settings,
        &body.state,
        &body.code,
        Some(caller.principal.org_id),
        Some(&OAuthBinding::Token(token)),
    )
    .await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "storage.connect", Outcome::Success)
            .entity("storage_connection", connection.connection_id)
            .detail("provider", connection.provider.clone()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(connection))))
}
