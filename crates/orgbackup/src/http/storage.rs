//! `/api/v1/storage/...`: the org's storage connections (where backups may go besides the local
//! disk) and its default destination. Managing them takes `backup.schedule`; listing takes
//! `backup.create` (choosing a destination is part of creating a backup). Credentials go in,
//! sealed, and never come out.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::ids::ConnectionId;
use orgbackup_service::permissions::Permission;
use orgbackup_service::storage::connections::{Connection, OAuthBinding};
use orgbackup_service::storage::{S3Credentials, S3Settings, StorageError, connections};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(remove))
        .routes(routes!(test))
        .routes(routes!(set_default))
        .routes(routes!(oauth_start))
        .routes(routes!(oauth_complete))
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

/// The organization's storage connections.
#[derive(Serialize, ToSchema)]
struct ConnectionList {
    data: Vec<Connection>,
}

/// List the organization's storage connections (never their credentials). Needs `backup.create`.
#[utoipa::path(get, path = "/storage/connections", tag = "storage",
    responses((status = 200, body = ConnectionList), (status = 403, response = problems::Forbidden)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<ConnectionList>> {
    caller
        .require(&state, Permission::Create, "storage.list")
        .await?;
    let data = connections::list(&state.pool, caller.principal.org_id).await?;
    Ok(Json(ConnectionList { data }))
}

/// A storage connection to add (cloud drives connect through `/storage/oauth/start`).
#[derive(Deserialize, ToSchema)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = StorageConnectionInput)]
enum AddBody {
    /// S3 or an S3-compatible service.
    S3 {
        /// Unique in the organization.
        #[schema(min_length = 1, max_length = 200)]
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

/// Add an S3 connection (tested first unless `test` is false). Needs `backup.schedule`.
#[utoipa::path(post, path = "/storage/connections", tag = "storage", request_body = AddBody,
    responses(
        (status = 201, body = Connection),
        (status = 403, response = problems::Forbidden),
        (status = 409, response = problems::Conflict),
        (status = 413, response = problems::TooLarge),
        (status = 503, response = problems::StorageUnavailable),
    ))]
async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<AddBody>,
) -> Result<(StatusCode, Json<Connection>)> {
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
    Ok((StatusCode::CREATED, Json(connection)))
}

/// A storage connection, removed or tested.
#[derive(Serialize, ToSchema)]
struct ConnectionDone {
    connection_id: ConnectionId,
    /// `deleted` (removed) or `ok` (tested).
    #[schema(value_type = String)]
    status: &'static str,
}

/// Remove a storage connection (refused while backups or schedules use it). Needs `backup.schedule`.
#[utoipa::path(delete, path = "/storage/connections/{id}", tag = "storage", params(("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 200, body = ConnectionDone),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 409, response = problems::Conflict),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConnectionDone>> {
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
    Ok(Json(ConnectionDone {
        connection_id: removed.connection_id,
        status: "deleted",
    }))
}

/// Test a storage connection: does it work right now?
///
/// Writes, reads back and deletes a small file at the connection. Needs `backup.schedule`.
#[utoipa::path(post, path = "/storage/connections/{id}/test", tag = "storage", params(("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 200, body = ConnectionDone),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 503, response = problems::StorageUnavailable),
    ))]
async fn test(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConnectionDone>> {
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
    Ok(Json(ConnectionDone {
        connection_id: connection.connection_id,
        status: "ok",
    }))
}

/// The new default destination.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StorageDefaultChange)]
struct DefaultBody {
    /// A connection's id or name; `local` or `null` for the service's local disk.
    destination: Option<String>,
}

/// The service's local disk, as a destination.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum LocalDisk {
    Local,
}

/// A destination: the local disk (`"local"`) or a storage connection.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Destination {
    Local(LocalDisk),
    Connection(Connection),
}

/// The organization's default destination.
#[derive(Serialize, ToSchema)]
struct StorageDefault {
    default_destination: Destination,
}

/// Set where the organization's backups go by default. Needs `backup.schedule`.
#[utoipa::path(put, path = "/storage/default", tag = "storage", request_body = DefaultBody,
    responses(
        (status = 200, body = StorageDefault),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
    ))]
async fn set_default(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<DefaultBody>,
) -> Result<Json<StorageDefault>> {
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
    Ok(Json(StorageDefault {
        default_destination: connection.map_or(Destination::Local(LocalDisk::Local), |c| {
            Destination::Connection(c)
        }),
    }))
}

/// A cloud drive to connect.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StorageOAuthStart)]
struct OAuthStartBody {
    /// `dropbox`, `google_drive` or `onedrive`.
    provider: orgbackup_service::storage::Provider,
    /// The connection's name, unique in the organization.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Where archives go in the drive (default `/orgbackup`).
    #[serde(default = "default_folder")]
    folder: String,
}

fn default_folder() -> String {
    "/orgbackup".into()
}

/// Where to send the user to grant access.
#[derive(Serialize, ToSchema)]
struct AuthorizeUrl {
    authorize_url: String,
}

/// Start connecting a cloud drive: the provider's authorize URL to send the user to.
///
/// The provider sends the user back to `GET /storage/oauth/callback`, which shows the code to
/// finish with `POST /storage/oauth/complete`. Needs `backup.schedule`.
#[utoipa::path(post, path = "/storage/oauth/start", tag = "storage", request_body = OAuthStartBody,
    responses(
        (status = 200, body = AuthorizeUrl),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
    ))]
async fn oauth_start(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<OAuthStartBody>,
) -> Result<Json<AuthorizeUrl>> {
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
    Ok(Json(AuthorizeUrl { authorize_url: url }))
}

/// What the callback showed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StorageOAuthComplete)]
struct OAuthCompleteBody {
    state: String,
    code: String,
}

/// Finish connecting a cloud drive.
///
/// Finishes a connect flow started through the API (`/storage/oauth/start`), with the code the
/// callback showed: only the token that started it can, once. Needs `backup.schedule`.
#[utoipa::path(post, path = "/storage/oauth/complete", tag = "storage", request_body = OAuthCompleteBody,
    responses(
        (status = 201, body = Connection),
        (status = 403, response = problems::Forbidden),
        (status = 409, response = problems::Conflict),
        (status = 413, response = problems::TooLarge),
        (status = 503, response = problems::StorageUnavailable),
    ))]
async fn oauth_complete(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<OAuthCompleteBody>,
) -> Result<(StatusCode, Json<Connection>)> {
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
    Ok((StatusCode::CREATED, Json(connection)))
}
