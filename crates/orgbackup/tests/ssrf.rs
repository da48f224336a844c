//! No SSRF: webhook URLs and S3 endpoints are organizations' input, and the service refuses to
//! connect for them to loopback, link-local, private and other non-public addresses unless the
//! operator allows them (`network.allow_private`, `network.allow_hosts`). Real local HTTP
//! receivers stand in for the internal services an attacker would aim at; each one counts the
//! requests that reach it.

mod support;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{Env, serve, serve_with, token};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

/// An HTTP server on `ip` that answers every request with `answer` and counts them.
struct Receiver {
    hits: Arc<AtomicUsize>,
    /// `http://ip:port`
    url: String,
}

#[derive(Clone)]
enum Answer {
    Ok,
    /// Status and body.
    Fail(StatusCode, &'static str),
    /// See Other, to this URL (a redirect any client follows, even for a PUT).
    Redirect(String),
}

async fn receiver(ip: &str, answer: Answer) -> Receiver {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let answer = answer.clone();
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match answer {
                Answer::Ok => StatusCode::OK.into_response(),
                Answer::Fail(status, body) => {
                    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
                }
                Answer::Redirect(to) => {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::LOCATION, to.parse().unwrap());
                    (StatusCode::SEE_OTHER, headers).into_response()
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { hits, url }
}

impl Receiver {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or_default())
}

fn s3_connection(endpoint: &str, test: bool) -> serde_json::Value {
    serde_json::json!({
        "provider": "s3", "name": "offsite",
        "settings": {"bucket": "backups", "region": "us-east-1", "endpoint": endpoint},
        "credentials": {"access_key_id": "AKIDTEST", "secret_access_key": "secret-key-test"},
        "test": test,
    })
}

#[tokio::test]
async fn webhook_urls_and_s3_endpoints_on_non_public_addresses_are_refused_when_saved() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "50"]);
    let server = serve(&env);
    let secret = token(&env, "Solo Shop", "all");
    let client = reqwest::Client::new();
    let target = receiver("127.0.0.1", Answer::Ok).await;
    let port = target.url.rsplit(':').next().unwrap().to_string();

    for url in [
        format!("{}/hook", target.url),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.5/hook".to_string(),
        "http://172.16.0.1/hook".to_string(),
        "http://192.168.1.1/hook".to_string(),
        "http://100.64.0.1/hook".to_string(),
        "http://0.0.0.0/hook".to_string(),
        "http://[fe80::1]/hook".to_string(),
        "http://[fd00::1]/hook".to_string(),
    ] {
        let (status, problem) = send(
            client
                .put(format!("{}/api/v1/notifications/settings", server.url))
                .bearer_auth(&secret)
                .json(&serde_json::json!({"webhook_url": url})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
        assert_eq!(problem["code"], "invalid_notification_settings", "{url}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("network.allow_private"), "{url}: {detail}");
    }
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.backup_settings WHERE org_id = '{SOLO}' AND webhook_url IS NOT NULL"
        )),
        "0"
    );

    for endpoint in [
        target.url.clone(),
        format!("http://localhost:{port}"),
        "http://169.254.169.254".to_string(),
        "http://[::ffff:10.1.2.3]:9000".to_string(),
    ] {
        // Not even tested first: nothing is sent to the endpoint.
        let (status, problem) = send(
            client
                .post(format!("{}/api/v1/storage/connections", server.url))
                .bearer_auth(&secret)
                .json(&s3_connection(&endpoint, false)),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint}: {problem}"
        );
        assert_eq!(problem["code"], "invalid_storage_settings", "{endpoint}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("network.allow_private"),
            "{problem}"
        );
    }
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.storage_connections WHERE provider = 's3'"),
        "0"
    );
    assert_eq!(target.hits(), 0, "nothing reached the internal service");
}

// Multi-threaded: the receivers answer while the test waits for a CLI command.
#[tokio::test(flavor = "multi_thread")]
async fn a_stored_webhook_that_resolves_or_points_to_loopback_is_not_delivered() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "50"]);
    let target = receiver("127.0.0.1", Answer::Ok).await;
    let port = target.url.rsplit(':').next().unwrap().to_string();
    // Saved while it was allowed (or before it resolved to loopback: DNS rebinding).
    let saved = env
        .command(&[
            "notifications",
            "settings",
            "--org",
            "Solo Shop",
            "--webhook",
            &format!("http://localhost:{port}/hook"),
        ])
        .env("ORGBACKUP__NETWORK__ALLOW_HOSTS", "localhost")
        .output()
        .unwrap();
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );

    // A name that resolves to loopback: the resolver keeps no address, nothing is sent.
    env.ok(&["notifications", "test", "--org", "Solo Shop"]);
    env.ok(&["notifications", "deliver"]);
    let row = env.psql(
        "SELECT status || ' ' || last_error FROM orgbackup.notification_deliveries WHERE channel = 'webhook'",
    );
    assert!(row.starts_with("failed "), "refused is not retried: {row}");
    assert!(
        row.contains("loopback") && row.contains("network.allow_private"),
        "{row}"
    );

    // An IP literal, which no resolver sees.
    env.psql(&format!(
        "UPDATE orgbackup.backup_settings SET webhook_url = 'http://127.0.0.1:{port}/hook' WHERE org_id = '{SOLO}'"
    ));
    env.psql("DELETE FROM orgbackup.notification_deliveries");
    env.ok(&["notifications", "test", "--org", "Solo Shop"]);
    env.ok(&["notifications", "deliver"]);
    let row = env.psql(
        "SELECT status || ' ' || last_error FROM orgbackup.notification_deliveries WHERE channel = 'webhook'",
    );
    assert!(
        row.starts_with("failed ") && row.contains("loopback"),
        "{row}"
    );
    assert_eq!(target.hits(), 0);

    // The operator allows it: delivered (`test` sends at once).
    env.psql("DELETE FROM orgbackup.notification_deliveries");
    let delivered = env
        .command(&["notifications", "test", "--org", "Solo Shop"])
        .env("ORGBACKUP__NETWORK__ALLOW_PRIVATE", "127.0.0.0/8")
        .output()
        .unwrap();
    assert!(delivered.status.success());
    assert_eq!(
        target.hits(),
        1,
        "allowed in configuration, the webhook is delivered: {}",
        env.psql("SELECT status || ' ' || coalesce(last_error, '') FROM orgbackup.notification_deliveries")
    );
}

// Multi-threaded: the receivers answer while the test waits for a CLI command.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_redirect_to_a_forbidden_address_is_not_followed() {
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "50"]);
    let forbidden = receiver("127.0.0.2", Answer::Ok).await;
    let allowed = receiver(
        "127.0.0.1",
        Answer::Redirect(format!("{}/x", forbidden.url)),
    )
    .await;
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--webhook",
        &format!("{}/hook", allowed.url),
    ]);
    env.ok(&["notifications", "test", "--org", "Solo Shop"]);
    env.ok(&["notifications", "deliver"]);
    assert_eq!(allowed.hits(), 1);
    assert_eq!(forbidden.hits(), 0, "the redirect is not followed");
    let error = env
        .psql("SELECT last_error FROM orgbackup.notification_deliveries WHERE channel = 'webhook'");
    assert!(error.contains("303"), "{error}");
}

#[tokio::test]
async fn an_s3_redirect_to_a_forbidden_address_is_not_followed() {
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "50"]);
    let server = serve(&env);
    let secret = token(&env, "Solo Shop", "all");
    let forbidden = receiver("127.0.0.2", Answer::Ok).await;
    let allowed = receiver(
        "127.0.0.1",
        Answer::Redirect(format!("{}/x", forbidden.url)),
    )
    .await;
    let (status, problem) = send(
        reqwest::Client::new()
            .post(format!("{}/api/v1/storage/connections", server.url))
            .bearer_auth(&secret)
            .json(&s3_connection(&allowed.url, true)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(allowed.hits() >= 1);
    assert_eq!(forbidden.hits(), 0, "the redirect is not followed");
    assert!(
        problem["detail"].as_str().unwrap().contains("127.0.0.2"),
        "the refusal says where the redirect went: {problem}"
    );
}

#[tokio::test]
async fn an_error_answer_of_an_s3_endpoint_is_never_echoed_to_the_api() {
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "50"]);
    let server = serve_with(&env, &[]);
    let secret = token(&env, "Solo Shop", "all");
    for body in [
        "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>TOP-SECRET-aws-session-token</Message></Error>",
        "<Error><Code>TOP-SECRET-code</Code></Error>",
        "root:x:0:0:TOP-SECRET:/root:/bin/bash",
    ] {
        let endpoint = receiver("127.0.0.1", Answer::Fail(StatusCode::FORBIDDEN, body)).await;
        let (status, problem) = send(
            reqwest::Client::new()
                .post(format!("{}/api/v1/storage/connections", server.url))
                .bearer_auth(&secret)
                .json(&s3_connection(&endpoint.url, true)),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
        assert!(endpoint.hits() >= 1);
        let shown = problem.to_string();
        assert!(
            !shown.contains("TOP-SECRET"),
            "the remote body leaked: {shown}"
        );
        assert!(
            shown.contains("HTTP 403"),
            "the status line is shown: {shown}"
        );
    }
}
