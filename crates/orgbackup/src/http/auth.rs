//! The bearer-token extractor: every API request acts as one principal of one organization.

use super::AppState;
use super::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use orgbackup_service::accounts;
use orgbackup_service::audit::{self, Requester};
use orgbackup_service::permissions::Permission;

/// The caller of an API request: the service's requester (principal, client address, user
/// agent), taken from the bearer token.
#[derive(Clone)]
pub struct Caller(pub Requester);

impl std::ops::Deref for Caller {
    type Target = Requester;

    fn deref(&self) -> &Requester {
        &self.0
    }
}

impl Caller {
    /// Fails with 403, and records the denial, unless the caller has `permission`.
    pub async fn require(
        &self,
        state: &AppState,
        permission: Permission,
        action: &str,
    ) -> Result<(), AppError> {
        audit::require(&state.pool, self, permission, action)
            .await
            .map_err(AppError::from)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::Unauthorized)?;
        let principal = accounts::authenticate_token(&state.pool, secret.trim())
            .await
            .map_err(|e| AppError::Internal(e.into()))?
            .ok_or(AppError::Unauthorized)?;
        let (ip, user_agent) = client_of(parts, state.settings.http.trust_forwarded_for);
        // The request's span (`server::request_id`) gets the org, for every later log event.
        tracing::Span::current().record("org_id", tracing::field::display(principal.org_id));
        Ok(Caller(Requester {
            principal,
            ip,
            user_agent,
        }))
    }
}

/// The client's IP address and user agent, as the audit log records them. `X-Forwarded-For` is
/// believed only when configured (`http.trust_forwarded_for`, behind a proxy that sets it).
pub fn client_of(parts: &Parts, trust_forwarded_for: bool) -> (Option<String>, Option<String>) {
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let forwarded = header_text(header::HeaderName::from_static("x-forwarded-for"))
        .filter(|_| trust_forwarded_for);
    let ip = forwarded
        .and_then(|v| v.split(',').next().map(|s| s.trim().to_string()))
        .or_else(|| {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        });
    (ip, header_text(header::USER_AGENT))
}
