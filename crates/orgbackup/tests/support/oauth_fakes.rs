//! What the fakes of the OAuth storage providers (Dropbox, Google Drive, OneDrive) share: an
//! OAuth2 token endpoint as the providers document it (code and refresh grants, the client's
//! credentials checked, refresh tokens rotated or not, a grant that can be revoked), the bearer
//! check of their APIs, serving a fake, and running `orgbackup` pointed at it.

use super::Env;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::Stdio;

/// How a provider hands out refresh tokens.
pub enum RefreshTokens {
    /// A new one with every grant (`<prefix><grants so far>`); the previous one stops working.
    Rotated(&'static str),
    /// One, with the authorization code; refreshes do not change it.
    Fixed(&'static str),
}

/// A provider's token endpoint, and the tokens it issued.
pub struct TokenEndpoint {
    pub client_id: &'static str,
    pub client_secret: &'static str,
    /// Fields every token request must carry besides the client's (Microsoft: the scope).
    pub required: &'static [(&'static str, &'static str)],
    /// The code the user's consent gives.
    pub code: &'static str,
    /// The redirect URI a code must come with (`None`: not checked).
    pub redirect_uri: Option<&'static str>,
    /// Access tokens are `<prefix><grants so far>`.
    pub access_prefix: &'static str,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_tokens: RefreshTokens,
    pub access_tokens: HashSet<String>,
    /// The refresh token that works now.
    pub refresh_token: String,
    /// Grants given (code and refreshes).
    pub issued: u32,
    /// The user revoked the app: refreshes are refused.
    pub revoked: bool,
    /// Expire every access token now: the next request gets 401.
    pub expire_tokens: bool,
}

impl TokenEndpoint {
    pub fn new(
        client_id: &'static str,
        client_secret: &'static str,
        access_prefix: &'static str,
        refresh_tokens: RefreshTokens,
    ) -> Self {
        Self {
            client_id,
            client_secret,
            required: &[],
            code: "good-code",
            redirect_uri: None,
            access_prefix,
            token_type: "Bearer",
            expires_in: 3600,
            refresh_tokens,
            access_tokens: HashSet::new(),
            refresh_token: String::new(),
            issued: 0,
            revoked: false,
            expire_tokens: false,
        }
    }

    /// Answers a token request (its form in `body`).
    pub fn answer(&mut self, body: &[u8]) -> Response {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| form.get(name).map(String::as_str);
        if field("client_id") != Some(self.client_id)
            || field("client_secret") != Some(self.client_secret)
            || self.required.iter().any(|(k, v)| field(k) != Some(*v))
        {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_client"})),
            )
                .into_response();
        }
        let by_code = field("grant_type") == Some("authorization_code");
        let granted = match field("grant_type") {
            Some("authorization_code") => {
                field("code") == Some(self.code)
                    && self
                        .redirect_uri
                        .is_none_or(|r| field("redirect_uri") == Some(r))
            }
            Some("refresh_token") => {
                !self.revoked && field("refresh_token") == Some(self.refresh_token.as_str())
            }
            _ => false,
        };
        if !granted {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        self.issued += 1;
        let access = format!("{}{}", self.access_prefix, self.issued);
        self.access_tokens.insert(access.clone());
        let mut answer = json!({"access_token": access, "token_type": self.token_type,
                                "expires_in": self.expires_in});
        let refresh = match self.refresh_tokens {
            RefreshTokens::Rotated(prefix) => Some(format!("{prefix}{}", self.issued)),
            RefreshTokens::Fixed(token) => by_code.then(|| token.to_string()),
        };
        if let Some(refresh) = refresh {
            self.refresh_token = refresh;
            answer["refresh_token"] = self.refresh_token.clone().into();
        }
        axum::Json(answer).into_response()
    }

    /// Whether the request carries an access token that works now (after `expire_tokens`, none
    /// does).
    pub fn authorized(&mut self, headers: &HeaderMap) -> bool {
        if self.expire_tokens {
            self.expire_tokens = false;
            self.access_tokens.clear();
        }
        self.access_tokens.contains(&bearer(headers))
    }
}

/// The request's bearer token (empty without one).
pub fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string()
}

/// Serves `handler` (for every path) with `state` on a free port of 127.0.0.1, without a body
/// limit (upload parts are MiBs); returns its URL.
pub async fn start<H, T, S>(handler: H, state: S) -> String
where
    H: axum::handler::Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    let app = axum::Router::new()
        .fallback(handler)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Runs `orgbackup` with `vars` (the fake's URLs) and `stdin`; returns (success, stdout,
/// stdout + stderr).
pub fn run(
    env: &Env,
    vars: &[(&'static str, String)],
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let mut command = env.command(args);
    for (key, value) in vars {
        command.env(key, value);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout, text)
}

/// `vars` as [`super::serve_with`] takes them.
pub fn pairs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The `--state=` that `orgbackup storage connect` printed.
pub fn state_in(stdout: &str) -> String {
    stdout
        .split("--state=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Downloads backup `id` through the API of the server at `server_url` (it must be the archive
/// that was backed up, SHA-256 `sha256`), then deletes it through the API.
pub async fn download_then_delete(server_url: &str, token: &str, id: &str, sha256: &str) {
    let http = reqwest::Client::new();
    let downloaded = http
        .get(format!("{server_url}/api/v1/backup/{id}/download"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.status(), 200);
    let downloaded = downloaded.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&downloaded)), sha256);
    let deleted = http
        .delete(format!("{server_url}/api/v1/backup/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
}

/// The (only) connection is marked expired, and the org was told so, once.
pub fn assert_expired_and_notified(env: &Env) {
    assert_eq!(
        env.psql("SELECT status FROM orgbackup.storage_connections"),
        "expired"
    );
    assert_eq!(
        env.psql(
            "SELECT count(*) FROM orgbackup.notifications WHERE event = 'storage_connection_expired'"
        ),
        "1"
    );
}
