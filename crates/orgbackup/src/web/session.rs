//! Browser sessions: password login, the session cookie, the org a user works in, the language,
//! and CSRF protection of every form.
//!
//! The cookie holds a 256-bit random secret (only its SHA-256 is stored), is `HttpOnly` and
//! `SameSite=Lax`. Every POST carries the session's CSRF token (hidden field `_csrf`, or the
//! `X-CSRF-Token` header that htmx sends), compared in constant time. The login form is protected
//! the same way by a short-lived cookie of its own (double submit), since there is no session yet.

use super::{WebError, WebResult};
use crate::http::AppState;
use crate::http::auth::Caller;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orgbackup_service::accounts::Principal;
use orgbackup_service::audit::Requester;
use orgbackup_service::i18n::Locale;
use orgbackup_service::ids::OrgId;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub const SESSION_COOKIE: &str = "obr_session";
pub const LOGIN_CSRF_COOKIE: &str = "obr_login_csrf";
const SESSION_HOURS: i64 = 12;

pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets without leaking where they differ through timing.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// The SHA-256 of the request's session cookie secret, if it carries one: what an OAuth2 flow
/// started in that session is bound to (checked when the provider sends the browser back).
pub fn session_hash_of(parts: &Parts) -> Option<String> {
    cookie(parts, SESSION_COOKIE).map(|secret| hash(&secret))
}

/// `Set-Cookie` value for a cookie only this site's requests carry, never scripts.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}")
}

/// A signed-in user, in the org they work in: the same `Caller` the API uses, so permission
/// checks and audit entries are shared.
pub struct WebUser {
    pub caller: Caller,
    pub email: String,
    pub csrf: String,
    pub locale: Locale,
    session_hash: String,
}

impl WebUser {
    pub fn org_id(&self) -> OrgId {
        self.caller.principal.org_id
    }

    /// The SHA-256 of this session's cookie secret (what identifies the session in the database).
    pub fn session_hash(&self) -> &str {
        &self.session_hash
    }

    pub fn can(&self, permission: orgbackup_service::permissions::Permission) -> bool {
        self.caller.principal.can(permission)
    }

    /// Refuses a form post whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> WebResult<()> {
        match sent {
            Some(sent) if same_secret(sent, &self.csrf) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }

    async fn update(&self, pool: &PgPool, column: &str, value: String) -> WebResult<()> {
        let mut tx = orgbackup_service::db::system_transaction(pool).await?;
        let sql = match column {
            "org_id" => "UPDATE web_sessions SET org_id = $2::uuid WHERE session_hash = $1",
            _ => "UPDATE web_sessions SET locale = $2 WHERE session_hash = $1",
        };
        sqlx::query(sql)
            .bind(&self.session_hash)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn switch_org(&self, pool: &PgPool, org_id: OrgId) -> WebResult<()> {
        let user_id = self.caller.principal.user_id.expect("web users are users");
        if orgbackup_service::accounts::member_permissions(pool, org_id, user_id)
            .await?
            .is_empty()
        {
            return Err(WebError::NotFound);
        }
        self.update(pool, "org_id", org_id.to_string()).await
    }

    pub async fn switch_locale(&self, pool: &PgPool, locale: Locale) -> WebResult<()> {
        self.update(pool, "locale", locale.as_str().to_string())
            .await
    }

    pub async fn sign_out(&self, pool: &PgPool) -> WebResult<()> {
        let mut tx = orgbackup_service::db::system_transaction(pool).await?;
        sqlx::query("DELETE FROM web_sessions WHERE session_hash = $1")
            .bind(&self.session_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: Uuid,
    email: String,
    org_id: OrgId,
    csrf_token: String,
    locale: String,
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> WebResult<Self> {
        let secret = cookie(parts, SESSION_COOKIE).ok_or(WebError::SignIn)?;
        let session_hash = hash(&secret);
        // The session names the org: the lookup by hash is the one query that spans orgs.
        let mut tx = orgbackup_service::db::system_transaction(&state.pool).await?;
        let row: Option<SessionRow> = sqlx::query_as(
            "UPDATE web_sessions s SET last_seen_at = now() FROM users u
              WHERE s.session_hash = $1 AND s.expires_at > now() AND u.user_id = s.user_id
             RETURNING s.user_id, u.email, s.org_id, s.csrf_token, s.locale",
        )
        .bind(&session_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let row = row.ok_or(WebError::SignIn)?;
        let permissions =
            orgbackup_service::accounts::member_permissions(&state.pool, row.org_id, row.user_id)
                .await?;
        let (ip, user_agent) =
            crate::http::auth::client_of(parts, state.settings.http.trust_forwarded_for);
        Ok(WebUser {
            caller: Caller(Requester {
                principal: Principal {
                    org_id: row.org_id,
                    user_id: Some(row.user_id),
                    token_id: None,
                    label: format!("user:{}", row.email),
                    permissions,
                },
                ip,
                user_agent,
            }),
            email: row.email,
            csrf: row.csrf_token,
            locale: Locale::parse(&row.locale).unwrap_or_default(),
            session_hash,
        })
    }
}

/// The orgs a user is a member of, by name: the org switcher's choices.
pub async fn user_orgs(
    state: &AppState,
    user_id: Uuid,
) -> WebResult<Vec<orgbackup_service::orgs::Org>> {
    let mut tx = orgbackup_service::db::system_transaction(&state.pool).await?;
    let member_of: Vec<OrgId> =
        sqlx::query_scalar("SELECT org_id FROM memberships WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let mut orgs: Vec<_> = orgbackup_service::orgs::list(&state.pool, &state.settings.tenancy)
        .await
        .map_err(|e| WebError::Internal(e.into()))?
        .into_iter()
        .filter(|org| member_of.contains(&org.org_id))
        .collect();
    orgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(orgs)
}

/// Checks a password; on success opens a session in the user's first org (by name) and returns
/// the cookie secret. Unknown emails cost the same argon2 work as wrong passwords.
pub async fn sign_in(state: &AppState, email: &str, password: &str) -> WebResult<Option<String>> {
    let mut tx = orgbackup_service::db::system_transaction(&state.pool).await?;
    let user: Option<(Uuid, Option<String>, String)> = sqlx::query_as(
        "SELECT user_id, password_hash, locale FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let verified = verify(
        user.as_ref().and_then(|(_, hash, _)| hash.clone()),
        password,
    )
    .await?;
    let Some((user_id, _, locale)) = user.filter(|_| verified) else {
        return Ok(None);
    };
    let Some(org) = user_orgs(state, user_id).await?.into_iter().next() else {
        return Err(WebError::NoOrganization);
    };
    let secret = random_secret();
    let mut tx = orgbackup_service::db::system_transaction(&state.pool).await?;
    sqlx::query(
        "INSERT INTO web_sessions (session_hash, user_id, org_id, csrf_token, locale, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6))",
    )
    .bind(hash(&secret))
    .bind(user_id)
    .bind(org.org_id)
    .bind(random_secret())
    .bind(Locale::parse(&locale).unwrap_or_default().as_str())
    .bind(SESSION_HOURS as i32)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < now()")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(secret))
}

/// Checks `password` against a stored argon2 hash, off the async threads. A missing hash (unknown
/// user, or one without a password) costs the same work and fails.
async fn verify(stored: Option<String>, password: &str) -> WebResult<bool> {
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|e| WebError::Internal(e.into()))
}

/// Whether `password` is the signed-in user's (asked again before a full restore).
pub async fn password_matches(state: &AppState, user_id: Uuid, password: &str) -> WebResult<bool> {
    let mut tx = orgbackup_service::db::system_transaction(&state.pool).await?;
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    verify(stored.flatten(), password).await
}

pub fn session_max_age() -> i64 {
    SESSION_HOURS * 3600
}

/// An argon2 hash of a random password, verified against when the email is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0B8OVq0a1a3TRmKQqL6u5MNrCRh2vQ6eHn6B2y6fF4M";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn the_dummy_hash_parses_so_unknown_emails_cost_a_full_verification() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
