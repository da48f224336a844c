//! The one error type of the HTTP edge, rendered as `application/problem+json` (RFC 9457) with a
//! stable `code`. Internal errors are logged and answered with a generic message.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgbackup_service::permissions::Permission;
use serde::Serialize;
use utoipa::ToSchema;

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

impl From<orgbackup_service::audit::Denied> for AppError {
    fn from(denied: orgbackup_service::audit::Denied) -> Self {
        AppError::Forbidden(denied.0)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Internal(error.into())
    }
}

/// An error, as every route of the API answers it (`application/problem+json`, RFC 9457).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `https://orgbackup.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase, e.g. `Not Found`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable and machine-readable, e.g. `not_found`, `invalid_body`, `plan_backup_limit`.
    pub code: String,
    /// The specifics, in English (for logs and support).
    pub detail: String,
    /// A human message in the request's language (`Accept-Language`: English, or `ar`).
    pub message: String,
}

/// The problem answers of the OpenAPI document, one reusable response per status, referenced by
/// the routes that can give it (`responses((status = 404, response = problems::NotFound))`).
pub mod problems {
    use utoipa::openapi::{ComponentsBuilder, ContentBuilder, Ref, RefOr, ResponseBuilder};

    macro_rules! problem_responses {
        ($( $name:ident => $description:literal, )+) => {
            $(
                #[doc = $description]
                pub struct $name;

                impl<'r> utoipa::ToResponse<'r> for $name {
                    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                        (stringify!($name), problem($description))
                    }
                }
            )+

            /// Adds every problem response (and the `Problem` schema) to `components`.
            pub fn register(components: ComponentsBuilder) -> ComponentsBuilder {
                components
                    .schema_from::<super::Problem>()
                    $( .response_from::<$name>() )+
            }
        };
    }

    fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
            .into()
    }

    problem_responses! {
        Unauthorized => "No valid bearer token (`unauthorized`).",
        Forbidden => "The token lacks the permission the route needs (`forbidden`).",
        NotFound => "Does not exist, or belongs to another organization (`not_found`).",
        Conflict => "The request conflicts with the resource's state (`conflict`).",
        TooLarge => "The body is larger than allowed (`too_large`).",
        Invalid => "Well formed but not acceptable: a bad body, query or path (`invalid_body`, `invalid_query`, `invalid_path`, `nul_byte`, ...), or refused by a rule the `code` names.",
        StorageUnavailable => "A storage destination cannot be used now (`storage_unavailable`).",
        Internal => "An internal error, logged (`internal`).",
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AppError::Internal(error) = &self {
            tracing::error!(error = %crate::terminal::error_chain(error), "request failed");
        }
        let body = Problem {
            kind: format!("https://orgbackup.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            code: code.into(),
            detail: self.to_string(),
            // In English here; `localize` puts the request's language in.
            message: super::localize::message(code, orgbackup_service::i18n::Locale::En),
        };
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
