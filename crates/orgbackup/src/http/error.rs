//! The one error type of the HTTP edge, rendered as `application/problem+json` (RFC 9457) with a
//! stable `code`. Internal errors are logged and answered with a generic message.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgbackup_service::permissions::Permission;
use serde_json::json;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 401: no valid bearer token.
    #[error("a valid API token is required: send `Authorization: Bearer obr_…`")]
    Unauthorized,
    /// 403: the token lacks a permission.
    #[error("this token lacks the permission {0}")]
    Forbidden(Permission),
    /// 404: does not exist, or belongs to another organization (indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: the request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// 422: the request is well formed but not acceptable.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// 503: a storage destination cannot be used now (down, full, refusing, or its connection
    /// expired); the detail says which and why.
    #[error("{0}")]
    StorageUnavailable(String),
    /// 500: logged; the client gets a generic message.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AppError::StorageUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Internal(error.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AppError::Internal(error) = &self {
            tracing::error!(error = %crate::terminal::error_chain(error), "request failed");
        }
        let body = json!({
            "type": format!("https://orgbackup.dev/problems/{code}"),
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "code": code,
            "detail": self.to_string(),
        });
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/problem+json".parse().expect("valid header"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("valid header"),
            );
        }
        response
    }
}
