//! Backups kept in Google Drive, against a local fake of the documented Drive API v3 and Google's
//! OAuth2 token endpoint (an axum server in the test): connected through the API's OAuth start and
//! callback; a resumable upload whose chunk answer is lost (resumed after asking the session's
//! status), a 429 waited out, an expired access token refreshed; download, restore analysis and
//! delete; a revoked grant marking the connection expired.

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

const REDIRECT: &str = "https://backups.example.com/api/v1/storage/oauth/callback";

#[derive(Clone)]
struct File {
    id: String,
    name: String,
    parent: Option<String>,
    folder: bool,
    content: Vec<u8>,
}

struct Fake {
    url: String,
    files: Vec<File>,
    /// session id → (name, parent, bytes received)
    sessions: HashMap<String, (String, String, Vec<u8>)>,
    next_id: u32,
    /// Google's token endpoint: the refresh token comes with the code and is not rotated.
    tokens: TokenEndpoint,
    interrupt_next_chunk: bool,
    rate_limit_next_chunk: bool,
    status_queries: u32,
    rate_limited: u32,
}

impl Default for Fake {
    fn default() -> Self {
        let mut tokens = TokenEndpoint::new(
            "client",
            "secret",
            "ya29-",
            RefreshTokens::Fixed("1//refresh"),
        );
        tokens.redirect_uri = Some(REDIRECT);
        tokens.expires_in = 3599;
        Fake {
            url: String::new(),
            files: Vec::new(),
            sessions: HashMap::new(),
            next_id: 0,
            tokens,
            interrupt_next_chunk: false,
            rate_limit_next_chunk: false,
            status_queries: 0,
            rate_limited: 0,
        }
    }
}

type Shared = Arc<Mutex<Fake>>;

fn metadata(file: &File) -> Value {
    json!({"id": file.id, "name": file.name, "size": file.content.len().to_string(),
           "sha256Checksum": hex::encode(Sha256::digest(&file.content))})
}

/// `name = 'x'`, `'p' in parents`, `mimeType = '...folder'` of a Drive query.
fn matches(q: &str, file: &File) -> bool {
    let quoted = |after: &str| {
        q.split(after)
            .nth(1)
            .and_then(|rest| rest.strip_prefix('\''))
            .and_then(|rest| rest.split('\'').next())
            .map(str::to_string)
    };
    let name_ok = quoted("name = ").is_none_or(|n| n == file.name);
    let parent_ok = match q
        .split(" in parents")
        .next()
        .and_then(|s| s.rsplit('\'').nth(1))
    {
        Some(parent) if q.contains(" in parents") => file.parent.as_deref() == Some(parent),
        _ => true,
    };
    let folder_ok = !q.contains("mimeType") || file.folder;
    name_ok && parent_ok && folder_ok
}

// One match over the fake's routes (long): the fake reads top to bottom like Drive's API
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
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if path == "/token" {
        return fake.tokens.answer(&body);
    }
    if !fake.tokens.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": 401}})),
        )
            .into_response();
    }
    let new_id = |fake: &mut Fake| {
        fake.next_id += 1;
        format!("id{}", fake.next_id)
    };
    match (method.clone(), path.as_str()) {
        (Method::GET, "/drive/v3/files") => {
            let q = query.get("q").cloned().unwrap_or_default();
            let files: Vec<Value> = fake
                .files
                .iter()
                .filter(|f| matches(&q, f))
                .map(metadata)
                .collect();
            axum::Json(json!({"files": files})).into_response()
        }
        (Method::POST, "/drive/v3/files") => {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let id = new_id(&mut fake);
            fake.files.push(File {
                id: id.clone(),
                name: request["name"].as_str().unwrap().into(),
                parent: None,
                folder: request["mimeType"] == "application/vnd.google-apps.folder",
                content: Vec::new(),
            });
            axum::Json(json!({"id": id})).into_response()
        }
        (Method::POST, "/upload/drive/v3/files")
            if query.get("uploadType").map(String::as_str) == Some("resumable") =>
        {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let id = format!("s{}", fake.sessions.len() + 1);
            fake.sessions.insert(
                id.clone(),
                (
                    request["name"].as_str().unwrap().into(),
                    request["parents"][0].as_str().unwrap().into(),
                    Vec::new(),
                ),
            );
            let location = format!("{}/upload/session/{id}", fake.url);
            (StatusCode::OK, [("location", location)]).into_response()
        }
        (Method::POST, "/upload/drive/v3/files") => {
            // uploadType=multipart: JSON metadata, then the content.
            let text = String::from_utf8_lossy(&body).to_string();
            let parts: Vec<&str> = text.split("\r\n\r\n").collect();
            let meta: Value =
                serde_json::from_str(parts[1].split("\r\n--").next().unwrap()).unwrap();
            let content = parts[2].split("\r\n--").next().unwrap().as_bytes().to_vec();
            let id = new_id(&mut fake);
            let file = File {
                id,
                name: meta["name"].as_str().unwrap().into(),
                parent: meta["parents"][0].as_str().map(str::to_string),
                folder: false,
                content,
            };
            let answer = metadata(&file);
            fake.files.push(file);
            axum::Json(answer).into_response()
        }
        (Method::PUT, p) if p.starts_with("/upload/session/") => {
            let id = p.rsplit('/').next().unwrap().to_string();
            let range = headers
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim_start_matches("bytes ")
                .to_string();
            let (span, total) = range.split_once('/').unwrap();
            let total: Option<usize> = total.parse().ok();
            if span != "*" && fake.rate_limit_next_chunk {
                fake.rate_limit_next_chunk = false;
                fake.rate_limited += 1;
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
            }
            let interrupt = span != "*" && fake.interrupt_next_chunk;
            if span == "*" {
                fake.status_queries += 1;
            }
            let Some(session) = fake.sessions.get_mut(&id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            if span != "*" {
                let start: usize = span.split('-').next().unwrap().parse().unwrap();
                if start == session.2.len() {
                    session.2.extend_from_slice(&body);
                }
            }
            let received = session.2.len();
            if interrupt {
                fake.interrupt_next_chunk = false;
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            if total == Some(received) {
                let (name, parent, content) = fake.sessions.remove(&id).unwrap();
                let id = new_id(&mut fake);
                let file = File {
                    id,
                    name,
                    parent: Some(parent),
                    folder: false,
                    content,
                };
                let answer = metadata(&file);
                fake.files.push(file);
                return axum::Json(answer).into_response();
            }
            let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
            if received > 0 {
                response.headers_mut().insert(
                    "range",
                    format!("bytes=0-{}", received - 1).parse().unwrap(),
                );
            }
            response
        }
        (Method::GET, p) if p.starts_with("/drive/v3/files/") => {
            let id = p.rsplit('/').next().unwrap();
            match fake.files.iter().find(|f| f.id == id) {
                Some(file) => file.content.clone().into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
        (Method::DELETE, p) if p.starts_with("/drive/v3/files/") => {
            let id = p.rsplit('/').next().unwrap().to_string();
            let before = fake.files.len();
            fake.files.retain(|f| f.id != id);
            if fake.files.len() < before {
                StatusCode::NO_CONTENT.into_response()
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "ORGBACKUP__STORAGE__GOOGLE_DRIVE__CLIENT_ID",
            "client".into(),
        ),
        (
            "ORGBACKUP__STORAGE__GOOGLE_DRIVE__CLIENT_SECRET",
            "secret".into(),
        ),
        (
            "ORGBACKUP__STORAGE__GOOGLE_DRIVE__REDIRECT_URI",
            REDIRECT.into(),
        ),
        (
            "ORGBACKUP__STORAGE__GOOGLE_DRIVE__AUTHORIZE_URL",
            format!("{url}/auth"),
        ),
        (
            "ORGBACKUP__STORAGE__GOOGLE_DRIVE__TOKEN_URL",
            format!("{url}/token"),
        ),
        ("ORGBACKUP__STORAGE__GOOGLE_DRIVE__API_URL", url.to_string()),
    ]
}

/// `orgbackup` with the fake's URLs; returns (success, stdout, stdout + stderr).
fn run(env: &Env, url: &str, args: &[&str]) -> (bool, String, String) {
    oauth_fakes::run(env, &vars(url), args, "")
}

// One scenario (long): every step builds on what the previous one left (the connection, its
// tokens, the backup), as an operator would go through them.
#[tokio::test(flavor = "multi_thread")]
async fn a_google_drive_connection_is_authorized_then_backs_up_resumes_refreshes_and_expires() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300000"]);
    let fake: Shared = Arc::default();
    let url = oauth_fakes::start(handle, fake.clone()).await;
    fake.lock().unwrap().url = url.clone();

    // Connect through the API: start (the authorize URL), then Google's redirect to the callback.
    let owned = vars(&url);
    let server = serve_with(&env, &oauth_fakes::pairs(&owned));
    let all = token(&env, "Acme Global", "all");
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1", server.url);
    let started: Value = http
        .post(format!("{api}/storage/oauth/start"))
        .bearer_auth(&all)
        .json(&json!({"provider": "google_drive", "name": "drive"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize = started["authorize_url"].as_str().expect("an authorize URL");
    assert!(
        authorize.starts_with(&format!("{url}/auth?client_id=client")),
        "{authorize}"
    );
    assert!(authorize.contains("access_type=offline"), "{authorize}");
    let state = authorize.split("state=").nth(1).unwrap();
    let forged = http
        .get(format!(
            "{api}/storage/oauth/callback?code=good-code&state=AAAA"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 422);
    // Started through the API: the browser's callback shows the code for the API client, which
    // finishes with the token that started the flow, once.
    let shown: Value = http
        .get(format!(
            "{api}/storage/oauth/callback?code=good-code&state={state}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["code"], "good-code", "{shown}");
    let finish = |secret: String| {
        http.post(format!("{api}/storage/oauth/complete"))
            .bearer_auth(secret)
            .json(&json!({"state": shown["state"], "code": shown["code"]}))
            .send()
    };
    let other_token = finish(token(&env, "Acme Global", "all")).await.unwrap();
    assert_eq!(other_token.status(), 422, "another client cannot finish it");
    let connected = finish(all.clone()).await.unwrap();
    assert_eq!(connected.status(), 201, "{:?}", connected.text().await);
    let replayed = finish(all.clone()).await.unwrap();
    assert_eq!(replayed.status(), 422, "a state is used once");
    assert_eq!(
        env.psql(
            "SELECT provider || ' ' || status FROM orgbackup.storage_connections
              WHERE position(convert_to('1//refresh', 'UTF8') in encrypted_credentials) = 0"
        ),
        "google_drive active"
    );

    // A backup of three chunks or more: one chunk's answer is lost, one is rate limited, and the
    // access token expires.
    {
        let mut fake = fake.lock().unwrap();
        fake.interrupt_next_chunk = true;
        fake.rate_limit_next_chunk = true;
        fake.tokens.expire_tokens = true;
    }
    let (created, stdout, text) = run(
        &env,
        &url,
        &[
            "backup",
            "create",
            "--org",
            "Acme Global",
            "--destination",
            "drive",
            "--json",
        ],
    );
    assert!(created, "{text}");
    let backup: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let id = backup["backup_id"].as_str().unwrap().to_string();
    assert_eq!(backup["path"], format!("gdrive:orgbackup/{id}.tar.zst"));
    {
        let fake = fake.lock().unwrap();
        let folders: Vec<&File> = fake.files.iter().filter(|f| f.folder).collect();
        assert_eq!(folders.len(), 1, "one folder, made once");
        let archive = fake
            .files
            .iter()
            .find(|f| f.name == format!("{id}.tar.zst"))
            .unwrap();
        assert_eq!(archive.parent.as_deref(), Some(folders[0].id.as_str()));
        assert!(
            archive.content.len() > 16 << 20,
            "{} bytes",
            archive.content.len()
        );
        assert_eq!(
            hex::encode(Sha256::digest(&archive.content)),
            backup["sha256"].as_str().unwrap()
        );
        let companion = fake
            .files
            .iter()
            .find(|f| f.name == format!("{id}.tar.zst.sha256"))
            .unwrap();
        assert_eq!(
            String::from_utf8(companion.content.clone()).unwrap(),
            format!("{}  {id}.tar.zst\n", backup["sha256"].as_str().unwrap())
        );
        assert!(fake.sessions.is_empty());
        assert_eq!(fake.rate_limited, 1);
        assert!(
            fake.status_queries >= 1,
            "the lost answer was followed by a status query"
        );
        assert_eq!(fake.tokens.issued, 2, "the code, then one refresh");
    }

    // Read back: restore analysis (CLI) and download (API); then delete there.
    let (analyzed, _, text) = run(&env, &url, &["restore", "analyze", &id]);
    assert!(analyzed, "{text}");
    oauth_fakes::download_then_delete(&server.url, &all, &id, backup["sha256"].as_str().unwrap())
        .await;
    assert!(fake.lock().unwrap().files.iter().all(|f| f.folder));

    // The grant is revoked: the connection is marked expired and the org notified.
    {
        let mut fake = fake.lock().unwrap();
        fake.tokens.revoked = true;
        fake.tokens.expire_tokens = true;
    }
    let (failed, _, text) = run(
        &env,
        &url,
        &[
            "backup",
            "create",
            "--org",
            "Acme Global",
            "--destination",
            "drive",
        ],
    );
    assert!(!failed);
    assert!(
        text.contains("storage connection `drive` is expired"),
        "{text}"
    );
    assert!(
        !text.contains("1//refresh") && !text.contains("ya29"),
        "{text}"
    );
    oauth_fakes::assert_expired_and_notified(&env);
}
