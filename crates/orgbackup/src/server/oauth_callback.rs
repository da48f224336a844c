//! `GET /api/v1/storage/oauth/callback`: where a storage provider sends the browser (or an API
//! client's user) back with the authorization code. It answers both: JSON for an API client, a
//! redirect or a page for a browser that started the connection from the web UI. It belongs to
//! neither edge, so it lives here, above both.

use crate::http::AppState;
use crate::http::error::{AppError, problems};
use crate::http::extract::AppQuery;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orgbackup_service::storage::connections::Connection;
use orgbackup_service::storage::connections::{self, OAuthBinding};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The sealed state `/storage/oauth/start` put in the authorize URL.
    state: Option<String>,
    /// The provider's reason, when it did not grant access.
    error: Option<String>,
}

/// A flow started through the API: what the API client sends to `POST /storage/oauth/complete`.
#[derive(Serialize, ToSchema)]
struct CodeForTheClient {
    code: String,
    state: String,
    /// How to finish.
    complete_with: &'static str,
}

/// Where the provider sends the browser back: no token, the sealed `state` names the org and
/// the connection (and expires after an hour). A flow started in the web UI is finished here,
/// only in the browser session that started it, once; the browser is sent on to the storage
/// settings page (or shown the error as a page; other clients get JSON). A flow started through
/// the API is not finished here (the browser has no token): the code is shown for the API client
/// to send to `POST /storage/oauth/complete`.
#[utoipa::path(get, path = "/storage/oauth/callback", tag = "storage", params(CallbackQuery),
    security(()),
    responses(
        (status = 200, description = "A flow started through the API: the code, for the API client", body = CodeForTheClient),
        (status = 201, description = "A flow started in the web UI, finished (a browser, `Accept: text/html`, is redirected to the storage settings page instead)", body = Connection),
        (status = 409, response = problems::Conflict),
        (status = 503, response = problems::StorageUnavailable),
    ))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    AppQuery(query): AppQuery<CallbackQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let browser = parts
        .headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let result = async {
        let (Some(code), Some(oauth_state)) = (query.code, query.state) else {
            return Err(AppError::Invalid {
                code: "invalid_storage_settings",
                message: format!(
                    "the provider did not grant access ({})",
                    query.error.unwrap_or_else(|| "no code".into())
                ),
            });
        };
        if connections::started_through_api(&state.settings, &oauth_state)? {
            return Ok(Err(CodeForTheClient {
                code,
                state: oauth_state,
                complete_with: "POST /api/v1/storage/oauth/complete {\"state\": ..., \"code\": ...} with the token that started it",
            }));
        }
        let session = crate::web::session::session_hash_of(&parts).map(OAuthBinding::Session);
        Ok(Ok(connections::complete_oauth(
            &state.pool,
            &state.settings,
            &oauth_state,
            &code,
            None,
            session.as_ref(),
        )
        .await?))
    }
    .await;
    match (result, browser) {
        (Ok(Ok(connection)), true) => {
            let name: String =
                form_urlencoded::byte_serialize(connection.name.as_bytes()).collect();
            axum::response::Redirect::to(&format!("/settings/storage?connected={name}"))
                .into_response()
        }
        (Ok(Ok(connection)), false) => (StatusCode::CREATED, Json(connection)).into_response(),
        (Ok(Err(for_the_client)), _) => (StatusCode::OK, Json(for_the_client)).into_response(),
        (Err(error), true) => crate::web::WebError::App(error).into_response(),
        (Err(error), false) => error.into_response(),
    }
}
