//! Backups kept in Dropbox, against a local fake of Dropbox's documented HTTP API v2 (an axum
//! server in the test): the OAuth2 code exchange and refresh (with rotated refresh tokens), upload
//! sessions (start, append_v2 with `incorrect_offset`, finish), download, delete; an interrupted
//! part resumed, a 429 waited out, an expired access token refreshed, a revoked app marking the
//! connection expired and notifying the org.

mod support;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::oauth_fakes::{self, RefreshTokens, TokenEndpoint};
use support::{Env, serve_with, token};

const ACME: &str = "00000000-0000-4000-8000-0000000000a1";

struct Fake {
    files: HashMap<String, Vec<u8>>,
    sessions: HashMap<String, Vec<u8>>,
    /// Dropbox's token endpoint: refresh tokens rotate, the previous one stops working.
    tokens: TokenEndpoint,
    /// Store the next appended part, then answer 500 (the answer is lost, the data is not).
    interrupt_next_append: bool,
    /// Answer the next append with 429 and `Retry-After: 1`.
    rate_limit_next_append: bool,
    /// `incorrect_offset` answers given (a client resuming from Dropbox's offset).
    offsets_corrected: u32,
    rate_limited: u32,
    log: Vec<String>,
}

impl Default for Fake {
    fn default() -> Self {
        let mut tokens =
            TokenEndpoint::new("appkey", "appsecret", "at-", RefreshTokens::Rotated("rt-"));
        tokens.token_type = "bearer";
        tokens.expires_in = 14400;
        Fake {
            files: HashMap::new(),
            sessions: HashMap::new(),
            tokens,
            interrupt_next_append: false,
            rate_limit_next_append: false,
            offsets_corrected: 0,
            rate_limited: 0,
            log: Vec::new(),
        }
    }
}

type Shared = Arc<Mutex<Fake>>;

fn content_hash(data: &[u8]) -> String {
    let mut overall = Sha256::new();
    for block in data.chunks(4 << 20) {
        overall.update(Sha256::digest(block));
    }
    hex::encode(overall.finalize())
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn conflict(summary: &str, error: Value) -> Response {
    answer(
        StatusCode::CONFLICT,
        json!({"error_summary": summary, "error": error}),
    )
}

fn metadata(path: &str, data: &[u8]) -> Value {
    json!({"path_display": path, "size": data.len(), "content_hash": content_hash(data)})
}

// One match over the fake's routes (long): the fake reads top to bottom like Dropbox's API
// reference, each endpoint next to the others it shares state with.
async fn handle(
    axum::extract::State(fake): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let path = uri.path().to_string();
    fake.log.push(path.clone());
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if path == "/oauth2/token" {
        let issued = fake.tokens.issued;
        let response = fake.tokens.answer(&body);
        if fake.tokens.issued > issued {
            let log = format!("issued {}", fake.tokens.refresh_token);
            fake.log.push(log);
        }
        return response;
    }
    if !fake.tokens.authorized(&headers) {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error_summary": "expired_access_token/", "error": {".tag": "expired_access_token"}}),
        );
    }
    let arg: Value = headers
        .get("dropbox-api-arg")
        .and_then(|v| serde_json::from_slice(v.as_bytes()).ok())
        .unwrap_or(Value::Null);
    match path.as_str() {
        "/2/users/get_current_account" => answer(StatusCode::OK, json!({"account_id": "dbid:1"})),
        "/2/files/upload_session/start" => {
            let id = format!("session-{}", fake.sessions.len() + 1);
            fake.sessions.insert(id.clone(), body.to_vec());
            answer(StatusCode::OK, json!({"session_id": id}))
        }
        "/2/files/upload_session/append_v2" | "/2/files/upload_session/finish" => {
            if path.ends_with("append_v2") && fake.rate_limit_next_append {
                fake.rate_limit_next_append = false;
                fake.rate_limited += 1;
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    axum::Json(json!({"error_summary": "too_many_write_operations/"})),
                )
                    .into_response();
            }
            let id = arg["cursor"]["session_id"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let offset = arg["cursor"]["offset"].as_u64().unwrap_or(u64::MAX);
            let interrupt = path.ends_with("append_v2") && fake.interrupt_next_append;
            let Some(session) = fake.sessions.get_mut(&id) else {
                return conflict("lookup_failed/not_found/", json!({".tag": "not_found"}));
            };
            if offset != session.len() as u64 {
                let correct = session.len();
                fake.offsets_corrected += 1;
                return conflict(
                    "lookup_failed/incorrect_offset/",
                    json!({".tag": "incorrect_offset", "correct_offset": correct}),
                );
            }
            session.extend_from_slice(&body);
            if interrupt {
                fake.interrupt_next_append = false;
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            if path.ends_with("finish") {
                let data = fake.sessions.remove(&id).unwrap();
                let target = arg["commit"]["path"].as_str().unwrap().to_string();
                let meta = metadata(&target, &data);
                fake.files.insert(target, data);
                return answer(StatusCode::OK, meta);
            }
            answer(StatusCode::OK, Value::Null)
        }
        "/2/files/upload" => {
            let target = arg["path"].as_str().unwrap().to_string();
            let meta = metadata(&target, &body);
            fake.files.insert(target, body.to_vec());
            answer(StatusCode::OK, meta)
        }
        "/2/files/download" => {
            let target = arg["path"].as_str().unwrap_or("");
            match fake.files.get(target) {
                Some(data) => (
                    StatusCode::OK,
                    [(
                        "dropbox-api-result",
                        json!({"size": data.len(), "path_display": target}).to_string(),
                    )],
                    data.clone(),
                )
                    .into_response(),
                None => conflict("path/not_found/", json!({".tag": "path"})),
            }
        }
        "/2/files/delete_v2" => {
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let target = request["path"].as_str().unwrap_or("");
            match fake.files.remove(target) {
                Some(_) => answer(
                    StatusCode::OK,
                    json!({"metadata": {"path_display": target}}),
                ),
                None => conflict("path_lookup/not_found/", json!({".tag": "path_lookup"})),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_fake() -> (Shared, String) {
    let fake: Shared = Arc::default();
    // Parts are 8 MiB, as with Dropbox (which takes up to 150 MB per request).
    let url = oauth_fakes::start(handle, fake.clone()).await;
    (fake, url)
}

fn vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ORGBACKUP__STORAGE__DROPBOX__APP_KEY", "appkey".into()),
        (
            "ORGBACKUP__STORAGE__DROPBOX__APP_SECRET",
            "appsecret".into(),
        ),
        (
            "ORGBACKUP__STORAGE__DROPBOX__AUTHORIZE_URL",
            format!("{url}/oauth2/authorize"),
        ),
        ("ORGBACKUP__STORAGE__DROPBOX__API_URL", url.to_string()),
        ("ORGBACKUP__STORAGE__DROPBOX__CONTENT_URL", url.to_string()),
    ]
}

/// Runs `orgbackup` with the fake's URLs (and `stdin`); returns (success, stdout + stderr).
fn run(env: &Env, url: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let (success, _, text) = run_split(env, url, args, stdin);
    (success, text)
}

/// [`run`], with stdout apart too.
fn run_split(env: &Env, url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    oauth_fakes::run(env, &vars(url), args, stdin)
}

/// Runs and expects success; returns stdout.
fn ok(env: &Env, url: &str, args: &[&str]) -> String {
    let (success, stdout, text) = run_split(env, url, args, "");
    assert!(success, "orgbackup {args:?} failed:\n{text}");
    stdout
}

// One scenario (long): every step builds on what the previous one left (the connection, its
// tokens, the backup), as an operator would go through them.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropbox_connection_is_authorized_then_backs_up_resumes_refreshes_and_expires() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300000"]);
    let (fake, url) = start_fake().await;

    // Connect: the authorize URL asks for offline access; the code is exchanged for tokens.
    let started = ok(
        &env,
        &url,
        &[
            "storage",
            "connect",
            "--provider",
            "dropbox",
            "--org",
            "Acme Global",
            "--name",
            "box",
        ],
    );
    assert!(
        started.contains(&format!("{url}/oauth2/authorize?client_id=appkey&response_type=code&token_access_type=offline&state=")),
        "{started}"
    );
    let state = oauth_fakes::state_in(&started);
    let (refused, text) = run(
        &env,
        &url,
        &[
            "storage",
            "connect-finish",
            "--org",
            "Acme Global",
            "--state",
            &state,
            "--code-stdin",
        ],
        "bad-code\n",
    );
    assert!(!refused && text.contains("not accepted"), "{text}");
    let (connected, text) = run(
        &env,
        &url,
        &[
            "storage",
            "connect-finish",
            "--org",
            "Acme Global",
            "--state",
            &state,
            "--code-stdin",
        ],
        "good-code\n",
    );
    assert!(connected, "{text}");
    // Tokens are sealed: neither shows in the row.
    assert_eq!(
        env.psql(
            "SELECT count(*) FROM orgbackup.storage_connections WHERE provider = 'dropbox'
                AND position(convert_to('at-1', 'UTF8') in encrypted_credentials) = 0
                AND position(convert_to('rt-1', 'UTF8') in encrypted_credentials) = 0"
        ),
        "1"
    );
    let sealed_before =
        env.psql("SELECT encode(encrypted_credentials, 'hex') FROM orgbackup.storage_connections");

    // A backup of several parts, while one part's answer is lost, one append is rate limited,
    // and the access token expires.
    {
        let mut fake = fake.lock().unwrap();
        fake.interrupt_next_append = true;
        fake.rate_limit_next_append = true;
        fake.tokens.expire_tokens = true;
        fake.log.clear();
    }
    let created = ok(
        &env,
        &url,
        &[
            "backup",
            "create",
            "--org",
            "Acme Global",
            "--destination",
            "box",
            "--json",
        ],
    );
    let backup: Value = serde_json::from_str(created.lines().last().unwrap()).unwrap();
    let id = backup["backup_id"].as_str().unwrap().to_string();
    let key = format!("/orgbackup/{ACME}/{id}.tar.zst");
    assert_eq!(backup["path"], format!("dropbox:{key}"));
    {
        let fake = fake.lock().unwrap();
        let stored = &fake.files[&key];
        assert!(
            stored.len() > 16 << 20,
            "three parts or more: {} bytes",
            stored.len()
        );
        assert_eq!(stored.len() as u64, backup["size"].as_u64().unwrap());
        assert_eq!(
            hex::encode(Sha256::digest(stored)),
            backup["sha256"].as_str().unwrap()
        );
        assert_eq!(
            String::from_utf8(fake.files[&format!("{key}.sha256")].clone()).unwrap(),
            format!("{}  {id}.tar.zst\n", backup["sha256"].as_str().unwrap())
        );
        assert!(fake.sessions.is_empty(), "the session was finished");
        assert_eq!(fake.rate_limited, 1);
        // The part whose answer was lost was not sent twice: the client asked where to resume.
        assert_eq!(fake.offsets_corrected, 1);
        assert!(
            fake.log.iter().any(|l| l == "issued rt-2"),
            "{:?}",
            fake.log
        );
    }
    // The rotated refresh token was saved (sealed): the next refresh uses it, not the old one.
    assert_ne!(
        env.psql("SELECT encode(encrypted_credentials, 'hex') FROM orgbackup.storage_connections"),
        sealed_before
    );
    fake.lock().unwrap().tokens.expire_tokens = true;
    let analyzed = ok(&env, &url, &["restore", "analyze", &id]);
    assert!(!analyzed.is_empty());

    // Download through the API streams it from Dropbox; delete removes it there.
    let vars = vars(&url);
    let server = serve_with(&env, &oauth_fakes::pairs(&vars));
    let all = token(&env, "Acme Global", "all");
    oauth_fakes::download_then_delete(&server.url, &all, &id, backup["sha256"].as_str().unwrap())
        .await;
    assert!(fake.lock().unwrap().files.is_empty());
    drop(server);

    // The user revokes the app: the refresh is refused, the connection is marked expired, the
    // org is notified, and backups to it fail with a clear message.
    {
        let mut fake = fake.lock().unwrap();
        fake.tokens.revoked = true;
        fake.tokens.expire_tokens = true;
    }
    let (failed, text) = run(
        &env,
        &url,
        &[
            "backup",
            "create",
            "--org",
            "Acme Global",
            "--destination",
            "box",
        ],
        "",
    );
    assert!(!failed, "{text}");
    assert!(
        text.contains("storage connection `box` is expired: reconnect it"),
        "{text}"
    );
    assert!(!text.contains("rt-") && !text.contains("at-"), "{text}");
    oauth_fakes::assert_expired_and_notified(&env);
    assert!(fake.lock().unwrap().files.is_empty());
}
