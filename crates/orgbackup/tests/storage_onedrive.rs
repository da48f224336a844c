//! Backups kept in OneDrive, against a local fake of Microsoft Graph's documented drive endpoints
//! and the identity platform's token endpoint (an axum server in the test): connect (code
//! exchange), an upload session whose chunk answer is lost (resumed from `nextExpectedRanges`), a
//! 429, an expired access token refreshed with refresh tokens rotating on every refresh; download
//! (through Graph's redirect), restore analysis, delete; a revoked grant expiring the connection.

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
const REDIRECT: &str = "https://backups.example.com/api/v1/storage/oauth/callback";

struct Fake {
    url: String,
    files: HashMap<String, Vec<u8>>,
    /// upload session → (item path, total, bytes received)
    sessions: HashMap<String, (String, usize, Vec<u8>)>,
    /// The identity platform's token endpoint: the scope goes with every request, and every
    /// grant answers a new refresh token (the old one stops working).
    tokens: TokenEndpoint,
    interrupt_next_chunk: bool,
    rate_limit_next_chunk: bool,
    status_queries: u32,
    rate_limited: u32,
    /// Requests to upload URLs that carried a bearer token (Graph says not to send one).
    authorized_uploads: u32,
}

impl Default for Fake {
    fn default() -> Self {
        let mut tokens =
            TokenEndpoint::new("client", "secret", "eyJ-", RefreshTokens::Rotated("M.R3-"));
        tokens.required = &[("scope", "offline_access Files.ReadWrite")];
        tokens.redirect_uri = Some(REDIRECT);
        Fake {
            url: String::new(),
            files: HashMap::new(),
            sessions: HashMap::new(),
            tokens,
            interrupt_next_chunk: false,
            rate_limit_next_chunk: false,
            status_queries: 0,
            rate_limited: 0,
            authorized_uploads: 0,
        }
    }
}

type Shared = Arc<Mutex<Fake>>;

fn decode(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            form_urlencoded::parse(format!("x={segment}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("/")
}

// One match over the fake's routes (long): the fake reads top to bottom like Graph's API
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
    if path == "/token" {
        return fake.tokens.answer(&body);
    }
    // Upload URLs and download URLs are pre-authorized.
    if let Some(id) = path.strip_prefix("/upload/") {
        let id = id.to_string();
        if !oauth_fakes::bearer(&headers).is_empty() {
            fake.authorized_uploads += 1;
        }
        if method == Method::GET {
            fake.status_queries += 1;
            let Some(session) = fake.sessions.get(&id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            return axum::Json(json!({"nextExpectedRanges": [format!("{}-", session.2.len())]}))
                .into_response();
        }
        if method == Method::DELETE {
            fake.sessions.remove(&id);
            return StatusCode::NO_CONTENT.into_response();
        }
        if fake.rate_limit_next_chunk {
            fake.rate_limit_next_chunk = false;
            fake.rate_limited += 1;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
        }
        let interrupt = std::mem::take(&mut fake.interrupt_next_chunk);
        let range = headers
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim_start_matches("bytes ")
            .to_string();
        let (span, total) = range.split_once('/').unwrap();
        let start: usize = span.split('-').next().unwrap().parse().unwrap();
        let total: usize = total.parse().unwrap();
        let Some(session) = fake.sessions.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if session.1 == 0 {
            session.1 = total;
        }
        if start != session.2.len() || total != session.1 {
            return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        }
        session.2.extend_from_slice(&body);
        if interrupt {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        if session.2.len() == total {
            let (item, _, data) = fake.sessions.remove(&id).unwrap();
            let size = data.len();
            fake.files.insert(item.clone(), data);
            return (
                StatusCode::CREATED,
                axum::Json(json!({"name": item, "size": size})),
            )
                .into_response();
        }
        let next = session.2.len();
        return (
            StatusCode::ACCEPTED,
            axum::Json(json!({"nextExpectedRanges": [format!("{next}-")]})),
        )
            .into_response();
    }
    if let Some(item) = path.strip_prefix("/download/") {
        return match fake.files.get(&decode(item)) {
            Some(data) => data.clone().into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if !fake.tokens.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        )
            .into_response();
    }
    if path == "/v1.0/me/drive" {
        return axum::Json(json!({"id": "drive", "driveType": "personal"})).into_response();
    }
    let Some(rest) = path.strip_prefix("/v1.0/me/drive/root:/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (item, action) = match rest.split_once(':') {
        Some((item, action)) => (decode(item), action.to_string()),
        None => (decode(rest), String::new()),
    };
    match (method, action.as_str()) {
        (Method::POST, "/createUploadSession") => {
            let id = format!("s{}", fake.sessions.len() + 1);
            // The total comes with the chunks' Content-Range: taken from the first one.
            fake.sessions.insert(id.clone(), (item, 0, Vec::new()));
            let upload_url = format!("{}/upload/{id}", fake.url);
            axum::Json(
                json!({"uploadUrl": upload_url, "expirationDateTime": "2030-01-01T00:00:00Z"}),
            )
            .into_response()
        }
        (Method::PUT, "/content") => {
            let size = body.len();
            fake.files.insert(item.clone(), body.to_vec());
            (
                StatusCode::CREATED,
                axum::Json(json!({"name": item, "size": size})),
            )
                .into_response()
        }
        (Method::GET, "/content") => {
            if !fake.files.contains_key(&item) {
                return StatusCode::NOT_FOUND.into_response();
            }
            let location = format!("{}/download/{item}", fake.url);
            (StatusCode::FOUND, [("location", location)]).into_response()
        }
        (Method::DELETE, "") => match fake.files.remove(&item) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ORGBACKUP__STORAGE__ONEDRIVE__CLIENT_ID", "client".into()),
        (
            "ORGBACKUP__STORAGE__ONEDRIVE__CLIENT_SECRET",
            "secret".into(),
        ),
        (
            "ORGBACKUP__STORAGE__ONEDRIVE__REDIRECT_URI",
            REDIRECT.into(),
        ),
        (
            "ORGBACKUP__STORAGE__ONEDRIVE__AUTHORIZE_URL",
            format!("{url}/authorize"),
        ),
        (
            "ORGBACKUP__STORAGE__ONEDRIVE__TOKEN_URL",
            format!("{url}/token"),
        ),
        ("ORGBACKUP__STORAGE__ONEDRIVE__GRAPH_URL", url.to_string()),
    ]
}

/// `orgbackup` with the fake's URLs and `stdin`; returns (success, stdout, stdout + stderr).
fn run(env: &Env, url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    oauth_fakes::run(env, &vars(url), args, stdin)
}

// One scenario (long): every step builds on what the previous one left (the connection, its
// tokens, the backup), as an operator would go through them.
#[tokio::test(flavor = "multi_thread")]
async fn a_onedrive_connection_is_authorized_then_backs_up_resumes_rotates_tokens_and_expires() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300000"]);
    let fake: Shared = Arc::default();
    let url = oauth_fakes::start(handle, fake.clone()).await;
    fake.lock().unwrap().url = url.clone();

    // Connect: the authorize URL asks for offline access to files; the code is exchanged.
    let (started, stdout, text) = run(
        &env,
        &url,
        &[
            "storage",
            "connect",
            "--provider",
            "onedrive",
            "--org",
            "Acme Global",
            "--name",
            "od",
        ],
        "",
    );
    assert!(started, "{text}");
    assert!(
        stdout.contains("scope=offline_access+Files.ReadWrite"),
        "{stdout}"
    );
    let state = oauth_fakes::state_in(&stdout);
    let (connected, _, text) = run(
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

    // A backup of three chunks or more: a lost chunk answer, a 429, an expired access token.
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
            "od",
            "--json",
        ],
        "",
    );
    assert!(created, "{text}");
    let backup: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let id = backup["backup_id"].as_str().unwrap().to_string();
    let item = format!("orgbackup/{ACME}/{id}.tar.zst");
    assert_eq!(backup["path"], format!("onedrive:/{item}"));
    {
        let fake = fake.lock().unwrap();
        let stored = &fake.files[&item];
        assert!(stored.len() > 20 << 20, "{} bytes", stored.len());
        assert_eq!(
            hex::encode(Sha256::digest(stored)),
            backup["sha256"].as_str().unwrap()
        );
        assert_eq!(
            String::from_utf8(fake.files[&format!("{item}.sha256")].clone()).unwrap(),
            format!("{}  {id}.tar.zst\n", backup["sha256"].as_str().unwrap())
        );
        assert!(fake.sessions.is_empty());
        assert_eq!(fake.rate_limited, 1);
        assert!(
            fake.status_queries >= 1,
            "the lost answer was followed by a status query"
        );
        assert_eq!(
            fake.authorized_uploads, 0,
            "no bearer token sent to upload URLs"
        );
        assert_eq!(fake.tokens.refresh_token, "M.R3-2");
    }
    let spool = env.dir.path().join("backups/.spool");
    assert_eq!(
        std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0),
        0,
        "the spool file is removed"
    );

    // The rotated refresh token was saved: an expired access token is refreshed with it.
    fake.lock().unwrap().tokens.expire_tokens = true;
    let (analyzed, _, text) = run(&env, &url, &["restore", "analyze", &id], "");
    assert!(analyzed, "{text}");
    assert_eq!(fake.lock().unwrap().tokens.refresh_token, "M.R3-3");

    // Download through the API (following Graph's redirect), then delete there.
    let owned = vars(&url);
    let server = serve_with(&env, &oauth_fakes::pairs(&owned));
    let all = token(&env, "Acme Global", "all");
    oauth_fakes::download_then_delete(&server.url, &all, &id, backup["sha256"].as_str().unwrap())
        .await;
    assert!(fake.lock().unwrap().files.is_empty());
    drop(server);

    // Revoked: expired, notified, a clear error without tokens.
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
            "od",
        ],
        "",
    );
    assert!(!failed);
    assert!(
        text.contains("storage connection `od` is expired"),
        "{text}"
    );
    assert!(!text.contains("M.R3") && !text.contains("eyJ-"), "{text}");
    oauth_fakes::assert_expired_and_notified(&env);
}
