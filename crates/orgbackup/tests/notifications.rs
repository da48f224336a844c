//! Notifications, black box: the `orgbackup` binary against real PostgreSQL, a real SMTP server
//! (Python's aiosmtpd) and a real HTTP receiver that checks webhook signatures.

mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Env, free_port, serve, serve_with, token};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

/// aiosmtpd with a handler that writes each received message, decoded, as one JSON file.
const SMTP_SERVER: &str = r#"
import email, email.policy, json, os, sys, threading, uuid
from aiosmtpd.controller import Controller

class Handler:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "content_type": message.get_content_type(),
            "body": message.get_body(("plain",)).get_content(),
        }
        path = os.path.join(sys.argv[2], uuid.uuid4().hex + ".json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(path + ".tmp", path)
        return "250 OK"

controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

struct SmtpServer {
    child: Child,
    port: u16,
    mailbox: PathBuf,
}

impl SmtpServer {
    fn start(dir: &Path) -> SmtpServer {
        let mailbox = dir.join("mailbox");
        std::fs::create_dir_all(&mailbox).unwrap();
        let script = dir.join("smtp_server.py");
        std::fs::write(&script, SMTP_SERVER).unwrap();
        let port = free_port();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&mailbox)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (and has aiosmtpd: pip install aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        SmtpServer {
            child,
            port,
            mailbox,
        }
    }

    /// The messages received so far (to, subject, body, ...).
    fn messages(&self) -> Vec<serde_json::Value> {
        let mut messages: Vec<serde_json::Value> = std::fs::read_dir(&self.mailbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect();
        messages.sort_by_key(|m| m["to"][0].as_str().unwrap_or_default().to_string());
        messages
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ORGBACKUP__NOTIFICATIONS__SMTP_HOST", "127.0.0.1".into()),
            ("ORGBACKUP__NOTIFICATIONS__SMTP_PORT", self.port.to_string()),
            ("ORGBACKUP__NOTIFICATIONS__SMTP_TLS", "none".into()),
            (
                "ORGBACKUP__NOTIFICATIONS__FROM",
                "Backups <backups@orgbackup.test>".into(),
            ),
        ]
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `orgbackup` with extra environment variables; expects success and returns stdout.
fn ok_with(env: &Env, vars: &[(&str, String)], args: &[&str]) -> String {
    let mut command = env.command(args);
    for (key, value) in vars {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "orgbackup {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn count(env: &Env, sql: &str) -> i64 {
    env.psql(sql).parse().unwrap()
}

#[test]
fn emails_arrive_in_english_and_for_an_arabic_org_in_arabic() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let smtp = SmtpServer::start(env.dir.path());
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--email",
        "ops@solo.test,owner@solo.test",
    ]);
    let shown = env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Delta Studio",
        "--email",
        "ops@delta.test",
        "--locale",
        "ar",
    ]);
    assert!(shown.contains("locale: ar"), "{shown}");

    let out = ok_with(
        &env,
        &smtp.vars(),
        &["notifications", "test", "--org", "Solo Shop"],
    );
    assert!(out.contains("2 deliveries sent"), "{out}");
    ok_with(
        &env,
        &smtp.vars(),
        &["notifications", "test", "--org", "Delta Studio"],
    );

    let messages = smtp.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");
    let to = |address: &str| {
        messages
            .iter()
            .find(|m| m["to"][0] == address)
            .unwrap_or_else(|| panic!("no email to {address}: {messages:?}"))
    };
    let english = to("ops@solo.test");
    assert_eq!(
        english["subject"],
        "[Test] Solo Shop: Backup completed (test notification)"
    );
    assert_eq!(english["from"], "backups@orgbackup.test");
    assert_eq!(english["content_type"], "text/plain");
    let body = english["body"].as_str().unwrap();
    assert!(body.contains("Size: 1.2 MB"), "{body}");
    assert!(body.contains("Rows: 12,345"), "{body}");
    assert_eq!(to("owner@solo.test")["subject"], english["subject"]);

    let arabic = to("ops@delta.test");
    assert_eq!(
        arabic["subject"],
        "[اختبار] Delta Studio: اكتمل النسخ الاحتياطي (test notification)"
    );
    assert!(
        arabic["body"]
            .as_str()
            .unwrap()
            .contains("اكتملت النسخة الاحتياطية بنجاح"),
        "{arabic}"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM orgbackup.notification_deliveries WHERE status = 'delivered' AND attempts = 1"
        ),
        3
    );
}

#[test]
fn without_an_smtp_server_email_deliveries_fail_with_a_clear_error() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--email",
        "ops@solo.test",
    ]);
    let out = env.ok(&["notifications", "test", "--org", "Solo Shop"]);
    assert!(out.contains("0 deliveries sent"), "{out}");
    let row = env.psql(
        "SELECT status || ' ' || last_error FROM orgbackup.notification_deliveries WHERE channel = 'email'",
    );
    assert!(row.starts_with("failed "), "{row}");
    assert!(row.contains("notifications.smtp_host"), "{row}");

    // Addresses are checked when they are set.
    let error = env.fails(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--email",
        "ops@solo.test,nobody",
    ]);
    assert!(
        error.contains("`nobody` is not a valid email address"),
        "{error}"
    );
}

/// What the webhook receiver saw: headers, body, and whether the signature verified.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    event: String,
    signature_valid: bool,
    body: serde_json::Value,
}

#[derive(Default)]
struct Receiver {
    secret: Mutex<String>,
    received: Mutex<Vec<Received>>,
    /// How many requests to answer 500 before answering 200.
    failures_left: Mutex<u32>,
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) = (
        header("x-orgbackup-timestamp"),
        header("x-orgbackup-signature"),
    ) else {
        return false;
    };
    let Some(hex_mac) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant-time comparison, as a receiver should.
    mac.verify_slice(&expected).is_ok()
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let secret = receiver.secret.lock().unwrap().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    receiver.received.lock().unwrap().push(Received {
        delivery: header("x-orgbackup-delivery"),
        event: header("x-orgbackup-event"),
        signature_valid: verify(&secret, &headers, &body),
        body: serde_json::from_slice(&body).unwrap_or_default(),
    });
    let mut failures_left = receiver.failures_left.lock().unwrap();
    if *failures_left > 0 {
        *failures_left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn start_receiver(failures: u32) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        failures_left: Mutex::new(failures),
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

fn secret_from(output: &str) -> String {
    output
        .lines()
        .find(|l| l.starts_with("webhook secret"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no webhook secret printed: {output}"))
        .to_string()
}

// The CLI runs block a worker thread; the receiver answers on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_with_the_secret_shown_once_and_retried_until_accepted() {
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "100"]);
    let (receiver, url) = start_receiver(1).await;
    let out = env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--webhook",
        &url,
    ]);
    let secret = secret_from(&out);
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    *receiver.secret.lock().unwrap() = secret.clone();
    // Stored sealed, and never shown again.
    let stored = env.psql(&format!(
        "SELECT encode(webhook_secret_encrypted, 'escape') FROM orgbackup.backup_settings WHERE org_id = '{SOLO}'"
    ));
    assert!(!stored.is_empty() && !stored.contains(&secret));
    let shown = env.ok(&["notifications", "settings", "--org", "Solo Shop"]);
    assert!(
        shown.contains("(signed)") && !shown.contains(&secret),
        "{shown}"
    );

    let fast_retry = [("ORGBACKUP__NOTIFICATIONS__RETRY_BASE_SECONDS", "0".into())];
    let out = ok_with(
        &env,
        &fast_retry,
        &["notifications", "test", "--org", "Solo Shop"],
    );
    assert!(out.contains("0 deliveries sent"), "{out}");
    let pending = env.psql(
        "SELECT status || ' ' || attempts || ' ' || last_error FROM orgbackup.notification_deliveries",
    );
    assert!(pending.starts_with("pending 1 webhook"), "{pending}");
    assert!(pending.contains("500"), "{pending}");

    let out = ok_with(&env, &fast_retry, &["notifications", "deliver"]);
    assert!(out.contains("1 deliveries sent"), "{out}");
    assert_eq!(
        env.psql("SELECT status || ' ' || attempts FROM orgbackup.notification_deliveries"),
        "delivered 2"
    );

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "{received:?}");
    for request in &received {
        assert!(request.signature_valid, "{request:?}");
        assert_eq!(request.event, "backup_completed");
        // A retry is the same delivery: receivers dedup on this id.
        assert_eq!(request.delivery, received[0].delivery);
    }
    let body = &received[1].body;
    assert_eq!(body["event"], "backup_completed");
    assert_eq!(body["org_id"], SOLO);
    assert_eq!(body["data"]["backup_name"], "test notification");
    assert!(body["occurred_at"].as_str().is_some(), "{body}");
    assert_eq!(
        body["message"]["subject"],
        "[Test] Solo Shop: Backup completed (test notification)"
    );
    assert!(!verify("whsec_wrong", &HeaderMap::new(), b"{}"));

    // Setting the URL again rotates the secret; the old one no longer verifies.
    let rotated = secret_from(&env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--webhook",
        &url,
    ]));
    assert_ne!(rotated, secret);
    env.ok(&["notifications", "test", "--org", "Solo Shop"]);
    let last = receiver.received.lock().unwrap().last().cloned().unwrap();
    assert!(!last.signature_valid, "the old secret still verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_is_given_up_after_max_attempts() {
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "100"]);
    let (receiver, url) = start_receiver(u32::MAX).await;
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--webhook",
        &url,
    ]);
    let fast_retry = [("ORGBACKUP__NOTIFICATIONS__RETRY_BASE_SECONDS", "0".into())];
    ok_with(
        &env,
        &fast_retry,
        &["notifications", "test", "--org", "Solo Shop"],
    );
    env.psql("UPDATE orgbackup.notification_deliveries SET max_attempts = 3");
    for _ in 0..4 {
        ok_with(&env, &fast_retry, &["notifications", "deliver"]);
    }
    let row = env.psql(
        "SELECT status || ' ' || attempts || ' ' || last_error FROM orgbackup.notification_deliveries",
    );
    assert!(row.starts_with("failed 3 webhook"), "{row}");
    assert!(row.contains("500"), "{row}");
    assert_eq!(receiver.received.lock().unwrap().len(), 3);
}

#[test]
fn webhooks_need_an_http_url_and_a_master_key() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let error = env.fails(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--webhook",
        "ftp://example.com/hook",
    ]);
    assert!(error.contains("http:// or https://"), "{error}");
    let output = env
        .command(&[
            "notifications",
            "settings",
            "--org",
            "Solo Shop",
            "--webhook",
            "https://example.com/hook",
        ])
        .env_remove("ORGBACKUP__ENCRYPTION__MASTER_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("encryption.master_key"), "{error}");
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.backup_settings WHERE org_id = '{SOLO}' AND webhook_url IS NOT NULL"
        )),
        "0"
    );
}

#[test]
fn disabled_events_and_channels_send_nothing() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let smtp = SmtpServer::start(env.dir.path());
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--events",
        "backup_completed,restore_failed",
        "--email",
        "ops@solo.test",
    ]);
    let out = ok_with(
        &env,
        &smtp.vars(),
        &[
            "notifications",
            "test",
            "--org",
            "Solo Shop",
            "--event",
            "backup_failed",
        ],
    );
    assert!(out.contains("0 deliveries sent"), "{out}");
    let everything = "SELECT (SELECT count(*) FROM orgbackup.notifications) + (SELECT count(*) FROM orgbackup.notification_deliveries)";
    assert_eq!(count(&env, everything), 0);

    // In-app off: the email goes, no in-app notification is kept.
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--in-app",
        "false",
    ]);
    ok_with(
        &env,
        &smtp.vars(),
        &[
            "notifications",
            "test",
            "--org",
            "Solo Shop",
            "--event",
            "restore_failed",
        ],
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM orgbackup.notifications"),
        0
    );
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0]["subject"],
        "[Test] Solo Shop: Restore failed (test notification)"
    );

    // No events at all.
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--events",
        "",
        "--in-app",
        "true",
    ]);
    ok_with(
        &env,
        &smtp.vars(),
        &["notifications", "test", "--org", "Solo Shop"],
    );
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(
        count(&env, "SELECT count(*) FROM orgbackup.notifications"),
        0
    );
}

#[test]
fn storage_quota_warnings_are_sent_once_at_80_and_once_at_95_percent() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    env.ok(&["admin", "set-plan", "--org", "Solo Shop", "--plan", "free"]);
    env.backup_json(&["--org", "Solo Shop"]);
    // The free plan stores 500 MB: usage is set through the backup's recorded size.
    let use_mb = |mb: i64| {
        env.psql(&format!(
            "UPDATE orgbackup.organization_backups SET file_size = {mb} * 1000000 WHERE org_id = '{SOLO}'"
        ));
        env.ok(&["notifications", "check-quota", "--org", "Solo Shop"]);
    };
    let warnings = || {
        env.psql(
            "SELECT coalesce(string_agg((data->>'level') || ':' || round((data->>'percent')::numeric), ',' ORDER BY created_at), '')
               FROM orgbackup.notifications WHERE event = 'storage_quota_warning'",
        )
    };
    use_mb(100);
    assert_eq!(warnings(), "");
    use_mb(410);
    assert_eq!(warnings(), "80:82");
    use_mb(420);
    assert_eq!(warnings(), "80:82", "80% is warned once");
    use_mb(480);
    assert_eq!(warnings(), "80:82,95:96");
    use_mb(499);
    assert_eq!(warnings(), "80:82,95:96", "95% is warned once");
    // Below 80% the levels reset: crossing 80% again warns again.
    use_mb(100);
    assert_eq!(
        env.psql(&format!(
            "SELECT quota_warning_level FROM orgbackup.backup_settings WHERE org_id = '{SOLO}'"
        )),
        "0"
    );
    use_mb(400);
    assert_eq!(warnings(), "80:82,95:96,80:80");
    let listed = env.ok(&["notifications", "list", "--org", "Solo Shop"]);
    assert!(
        listed.contains("Solo Shop: Storage quota warning (80%)"),
        "{listed}"
    );
}

#[test]
fn serve_sends_due_deliveries_in_the_background() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let smtp = SmtpServer::start(env.dir.path());
    env.ok(&["admin", "set-plan", "--org", "Solo Shop", "--plan", "free"]);
    env.backup_json(&["--org", "Solo Shop"]);
    env.ok(&[
        "notifications",
        "settings",
        "--org",
        "Solo Shop",
        "--email",
        "ops@solo.test",
    ]);
    env.psql(&format!(
        "UPDATE orgbackup.organization_backups SET file_size = 450000000 WHERE org_id = '{SOLO}'"
    ));
    // Queues the warning; nothing sends it but the server's dispatcher.
    env.ok(&["notifications", "check-quota", "--org", "Solo Shop"]);
    assert!(smtp.messages().is_empty());
    let mut vars = smtp.vars();
    vars.push((
        "ORGBACKUP__NOTIFICATIONS__DISPATCH_INTERVAL_SECONDS",
        "1".into(),
    ));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _server = serve_with(&env, &vars);
    for _ in 0..100 {
        if let [message] = smtp.messages().as_slice() {
            assert_eq!(message["subject"], "Solo Shop: Storage quota warning (90%)");
            assert!(
                message["body"]
                    .as_str()
                    .unwrap()
                    .contains("Storage used: 450.0 MB of 500.0 MB (90%)"),
                "{message}"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not deliver the queued email");
}

#[tokio::test]
async fn in_app_notifications_and_settings_are_served_by_the_api_within_the_org() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    for event in ["backup_failed", "restore_started"] {
        env.ok(&[
            "notifications",
            "test",
            "--org",
            "Solo Shop",
            "--event",
            event,
        ]);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    env.ok(&["notifications", "test", "--org", "Delta Studio"]);
    let server = serve(&env);
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1{path}", server.url);
    let viewer = token(&env, "Solo Shop", "backup.view_logs");
    let scheduler = token(&env, "Solo Shop", "backup.schedule");

    let listing: serde_json::Value = client
        .get(api("/notifications"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["total"], 2, "{listing}");
    assert_eq!(listing["unread"], 2);
    let newest = &listing["data"][0];
    assert_eq!(
        newest["event"], "restore_started",
        "newest first: {listing}"
    );
    assert_eq!(
        newest["message"]["subject"],
        "[Test] Solo Shop: Restore started (test notification)"
    );
    let oldest_id = listing["data"][1]["notification_id"].as_str().unwrap();

    let read = client
        .post(api(&format!("/notifications/{oldest_id}/read")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let unread: serde_json::Value = client
        .get(api("/notifications?unread=true&per_page=1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unread["total"], 1, "{unread}");
    assert_eq!(unread["data"][0]["event"], "restore_started");

    // Another org's notification does not exist for this token.
    let delta_id = env.psql(
        "SELECT notification_id FROM orgbackup.notifications WHERE org_id <> '00000000-0000-4000-8000-0000000000a5'",
    );
    let foreign = client
        .post(api(&format!("/notifications/{delta_id}/read")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    // Settings: read with any token of the org, changed with backup.schedule only.
    let settings: serde_json::Value = client
        .get(api("/notifications/settings"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings["events"].as_array().unwrap().len(),
        9,
        "{settings}"
    );
    assert_eq!(settings["locale"], "en");
    let change = serde_json::json!({
        "events": ["backup_failed", "storage_quota_warning"],
        "email_recipients": ["ops@solo.test"],
        "webhook_url": "https://hooks.example.com/orgbackup",
        "locale": "ar",
        "expiring_notice_days": 5,
    });
    let denied = client
        .put(api("/notifications/settings"))
        .bearer_auth(&viewer)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let changed: serde_json::Value = client
        .put(api("/notifications/settings"))
        .bearer_auth(&scheduler)
        .json(&change)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        changed["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_"),
        "{changed}"
    );
    assert_eq!(changed["locale"], "ar");
    assert_eq!(changed["expiring_notice_days"], 5);
    let again: serde_json::Value = client
        .get(api("/notifications/settings"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(again.get("webhook_secret").is_none(), "{again}");
    assert_eq!(again["webhook_secret_set"], true);
    assert_eq!(again["email_recipients"][0], "ops@solo.test");
    // In-app texts follow the org's language.
    let listing: serde_json::Value = client
        .get(api("/notifications"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listing["data"][0]["message"]["subject"]
            .as_str()
            .unwrap()
            .contains("بدأت الاستعادة"),
        "{listing}"
    );

    let invalid = client
        .put(api("/notifications/settings"))
        .bearer_auth(&scheduler)
        .header("accept-language", "ar")
        .json(&serde_json::json!({"email_recipients": ["not-an-address"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = invalid.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_notification_settings");
    assert!(
        problem["message"].as_str().unwrap().contains("الإشعارات"),
        "{problem}"
    );
    let removed: serde_json::Value = client
        .put(api("/notifications/settings"))
        .bearer_auth(&scheduler)
        .json(&serde_json::json!({"webhook_url": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(removed["webhook_url"], serde_json::Value::Null, "{removed}");
    assert_eq!(removed["webhook_secret_set"], false);
    let audit = env.psql(&format!(
        "SELECT string_agg(outcome, ',' ORDER BY log_id) FROM orgbackup.backup_audit_logs WHERE org_id = '{SOLO}' AND action = 'notifications.settings'"
    ));
    assert_eq!(audit, "denied,success,failure,success");
}
