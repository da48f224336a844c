//! The OAuth2 client the account providers (Dropbox, Google Drive, OneDrive) share: the
//! authorization-code flow (authorize URL, code exchange) and an HTTP client that keeps a
//! connection's access token current.
//!
//! Tokens: the code gives an access token (an hour or a few) and a refresh token, both sealed in
//! `storage_connections.encrypted_credentials`. An access token about to expire, or answered with
//! 401, is refreshed (a 401 once per request); a refresh token the provider rotates is saved at
//! once (the old one may stop working). A refresh refused (the user revoked the app, or the grant
//! expired) marks the connection `expired` and notifies the org. Rate limits (429, 503, and what
//! else a provider signals so) wait `Retry-After`; network errors and 5xx are retried with
//! backoff where a blind resend is safe.
//!
//! What differs between providers is data, in [`OAuthApp`]: endpoints, the parameters that ask
//! for offline access, token lifetimes, how a rate limit is told.

use super::StorageError;
use crate::ids::{ConnectionId, OrgId};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Attempts of one request (network errors, 5xx, rate limits) before the destination is
/// unavailable.
pub(super) const ATTEMPTS: u32 = 5;

/// Sealed in `storage_connections.encrypted_credentials`.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthTokens { .. }")
    }
}

/// What keeps a connection's tokens current in the database.
#[derive(Clone)]
pub(super) struct TokenStore {
    pub pool: PgPool,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    pub key: orgbackup_archive::KeyEncryptionKey,
}

/// A provider's OAuth2 app, as this service registered it: what differs between providers.
#[derive(Clone)]
pub(super) struct OAuthApp {
    /// The provider, in messages: `Google Drive`.
    pub provider: &'static str,
    /// Which settings configure it, for the message when they are missing.
    pub settings_hint: &'static str,
    pub client_id: String,
    pub client_secret: Option<secrecy::SecretString>,
    pub redirect_uri: Option<String>,
    /// The provider refuses a flow without a redirect URI (it is then sent with every code).
    pub redirect_required: bool,
    pub authorize_url: String,
    pub token_url: String,
    /// Parameters of the authorize URL besides the standard ones (scope, offline access).
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Fields of every token request besides the grant and the client's (Microsoft: the scope).
    pub token_params: &'static [(&'static str, &'static str)],
    /// How the authorize URL asks for a refresh token, for the message when none was granted.
    pub offline: &'static str,
    /// Seconds an access token lives when the answer does not say.
    pub default_lifetime: i64,
    /// Whether an answer means "wait and ask again" (besides 429 and 503, which always do).
    pub rate_limited: fn(&reqwest::Response) -> bool,
}

impl OAuthApp {
    /// The authorize URL the user opens to connect an account; `state` comes back with the code.
    pub fn authorize_url(&self, state: &str) -> Result<String, StorageError> {
        if self.client_id.is_empty() || (self.redirect_required && self.redirect_uri.is_none()) {
            return Err(StorageError::Invalid(format!(
                "{} is not configured: set {}",
                self.provider, self.settings_hint
            )));
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", "code");
        if let Some(redirect) = &self.redirect_uri {
            query.append_pair("redirect_uri", redirect);
        }
        query.extend_pairs(self.authorize_params);
        query.append_pair("state", state);
        Ok(format!("{}?{}", self.authorize_url, query.finish()))
    }

    /// The form of a token request: the grant, then the client's credentials.
    fn token_form(&self, grant: &[(&str, &str)]) -> Vec<(String, String)> {
        use secrecy::ExposeSecret;
        let mut form: Vec<(String, String)> = grant
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        form.push(("client_id".into(), self.client_id.clone()));
        form.extend(
            self.token_params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret".into(), secret.expose_secret().to_string()));
        }
        form
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(&self, code: &str) -> Result<OAuthTokens, StorageError> {
        let mut grant = vec![("grant_type", "authorization_code"), ("code", code)];
        if self.redirect_required || self.redirect_uri.is_some() {
            grant.push(("redirect_uri", self.redirect_uri.as_deref().unwrap_or("")));
        }
        let response = reqwest::Client::new()
            .post(&self.token_url)
            .form(&self.token_form(&grant))
            .send()
            .await
            .map_err(|e| unavailable(self.provider, e))?;
        if !response.status().is_success() {
            return Err(StorageError::Refused {
                destination: self.provider.into(),
                detail: format!(
                    "the authorization code was not accepted (HTTP {}); connect again",
                    response.status()
                ),
            });
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| unavailable(self.provider, e))?;
        Ok(OAuthTokens {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token.ok_or_else(|| StorageError::Refused {
                destination: self.provider.into(),
                detail: format!("no refresh token was granted ({})", self.offline),
            })?,
            expires_at: now() + answer.expires_in.unwrap_or(self.default_lifetime),
        })
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(super) fn unavailable(destination: &str, error: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable {
        destination: destination.to_string(),
        detail: error.to_string(),
    }
}

/// 429 and 503: the provider asks to wait (`Retry-After`).
pub(super) fn is_throttled(response: &reqwest::Response) -> bool {
    response.status() == StatusCode::TOO_MANY_REQUESTS
        || response.status() == StatusCode::SERVICE_UNAVAILABLE
}

/// A reqwest client builder with the timeouts every provider uses.
pub(super) fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(10))
}

/// How [`OAuthClient::send`] sends a request.
#[derive(Clone, Copy)]
pub(super) struct Mode {
    /// With the access token; `false` for pre-authorized URLs (OneDrive's upload sessions).
    pub bearer: bool,
    /// Network errors and 5xx are retried; `false` for the chunks of an upload session, where
    /// a blind resend could duplicate bytes: the caller asks the session what arrived instead.
    pub retry_errors: bool,
}

impl Mode {
    /// An API call: with the access token, errors retried.
    pub const API: Mode = Mode {
        bearer: true,
        retry_errors: true,
    };
}

/// One connection's HTTP client: requests go out with a current access token.
#[derive(Clone)]
pub(super) struct OAuthClient {
    app: OAuthApp,
    /// The connection's name.
    name: String,
    http: reqwest::Client,
    tokens: Arc<Mutex<OAuthTokens>>,
    store: TokenStore,
}

impl OAuthClient {
    pub fn new(
        app: OAuthApp,
        name: &str,
        http: reqwest::Client,
        tokens: OAuthTokens,
        store: TokenStore,
    ) -> Self {
        Self {
            app,
            name: name.to_string(),
            http,
            tokens: Arc::new(Mutex::new(tokens)),
            store,
        }
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names the destination in messages: `Dropbox (storage connection `box`)`.
    pub fn describe(&self) -> String {
        format!("{} (storage connection `{}`)", self.app.provider, self.name)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The current access token, refreshed when it is about to expire (or `force`d after a 401).
    pub async fn access_token(&self, force: bool) -> Result<String, StorageError> {
        let mut tokens = self.tokens.lock().await;
        if !force && tokens.expires_at > now() + 60 {
            return Ok(tokens.access_token.clone());
        }
        let form = self.app.token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
        ]);
        let response = self
            .http
            .post(&self.app.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        let status = response.status();
        if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
            // invalid_grant: the user revoked the app, or the refresh token expired.
            drop(tokens);
            return Err(self.expire().await);
        }
        if !status.is_success() {
            return Err(unavailable(
                &self.describe(),
                format!("refreshing the access token failed with HTTP {status}"),
            ));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        tokens.access_token = answer.access_token;
        tokens.expires_at = now() + answer.expires_in.unwrap_or(self.app.default_lifetime);
        // Some providers rotate refresh tokens: the old one stops working, so the new one is kept.
        if let Some(rotated) = answer.refresh_token {
            tokens.refresh_token = rotated;
        }
        super::connections::save_tokens(&self.store, &tokens).await?;
        Ok(tokens.access_token.clone())
    }

    /// Marks the connection expired, tells the org, and says so.
    async fn expire(&self) -> StorageError {
        super::connections::mark_expired(&self.store, &self.name).await;
        StorageError::Inactive {
            name: self.name.clone(),
            status: crate::states::ConnectionStatus::Expired,
        }
    }

    /// Sends the request `build` makes (called again for every attempt): with the access token
    /// (refreshed once on 401) unless `mode` says otherwise; waits `Retry-After` on rate limits;
    /// with `mode.retry_errors`, retries network errors and 5xx with backoff. Other answers are
    /// returned as they are.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        mode: Mode,
    ) -> Result<reqwest::Response, StorageError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = build(&self.http);
            if mode.bearer {
                request = request.bearer_auth(self.access_token(false).await?);
            }
            let wait = match request.send().await {
                Ok(response) if mode.bearer && response.status() == StatusCode::UNAUTHORIZED => {
                    if refreshed {
                        return Err(self.expire().await);
                    }
                    refreshed = true;
                    self.access_token(true).await?;
                    continue;
                }
                Ok(response) if is_throttled(&response) || (self.app.rate_limited)(&response) => {
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(
                            &self.describe(),
                            format!("still rate limited after {ATTEMPTS} attempts"),
                        ));
                    }
                    let seconds = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1 << attempt);
                    Duration::from_secs(seconds.min(60))
                }
                Ok(response) if mode.retry_errors && response.status().is_server_error() => {
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(
                            &self.describe(),
                            format!("HTTP {} after {ATTEMPTS} attempts", response.status()),
                        ));
                    }
                    Duration::from_millis(200 << attempt)
                }
                Ok(response) => return Ok(response),
                Err(_) if mode.retry_errors && attempt < ATTEMPTS => {
                    Duration::from_millis(200 << attempt)
                }
                Err(error) => return Err(unavailable(&self.describe(), error)),
            };
            tokio::time::sleep(wait).await;
        }
    }
}
