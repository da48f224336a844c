//! Backups kept in S3-compatible object storage, against a real local S3 server (moto, from
//! PyPI: `pip install 'moto[server]'`) started by each test on a free port: upload, listing,
//! download, restore, retention and delete there; sealed credentials; a destination that is down,
//! refuses, or fails midway fails the job clearly and leaves no object and no multipart upload.

mod support;

use sha2::{Digest, Sha256};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use support::{Env, serve, token};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";
const ACME: &str = "00000000-0000-4000-8000-0000000000a1";
const SECRET: &str = "moto-secret-key-that-must-never-be-stored-in-clear";
const BUCKET: &str = "orgbackups";

/// `moto_server` on a free port; killed when dropped.
struct Moto {
    child: Option<Child>,
    url: String,
    http: reqwest::Client,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]')");
        // Owned at once, so a server that never answers is still killed (on drop).
        let moto = Moto {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("moto_server did not start on port {port}");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// moto accepts unsigned requests, so the test inspects the bucket with plain HTTP.
    async fn create_bucket(&self, bucket: &str) {
        let response = self
            .http
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }

    async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = self
            .http
            .get(format!("{}/{bucket}?list-type=2", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        elements(&xml, "Key")
    }

    async fn multipart_uploads(&self, bucket: &str) -> Vec<String> {
        let xml = self
            .http
            .get(format!("{}/{bucket}?uploads", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        elements(&xml, "UploadId")
    }

    async fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        // moto refuses anonymous reads of private objects, and does not check signatures.
        let response = self
            .http
            .get(format!("{}/{bucket}/{key}", self.url))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDMOTOTEST/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{key}: {response:?}");
        response.bytes().await.unwrap().to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The texts of every `<tag>…</tag>` in `xml`.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_string()))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `storage add-s3`, the secret given on stdin; returns (success, stdout + stderr).
fn add_s3(
    env: &Env,
    moto: &Moto,
    org: &str,
    name: &str,
    bucket: &str,
    extra: &[&str],
) -> (bool, String) {
    let mut args = vec![
        "storage",
        "add-s3",
        "--org",
        org,
        "--name",
        name,
        "--bucket",
        bucket,
        "--region",
        "us-east-1",
        "--endpoint",
        &moto.url,
        "--prefix",
        "tenants",
        "--access-key-id",
        "AKIDMOTOTEST",
        "--secret-access-key-stdin",
    ];
    args.extend_from_slice(extra);
    let mut child = env
        .command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{SECRET}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn backup_row(env: &Env, id: &str, column: &str) -> String {
    env.psql(&format!(
        "SELECT {column} FROM orgbackup.organization_backups WHERE backup_id = '{id}'"
    ))
}

/// Files left in the service's local backup directory (outside `rollbacks/`).
fn local_archives(env: &Env) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("rollbacks") {
                    walk(&path, found);
                }
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&env.dir.path().join("backups"), &mut found);
    found
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client.get(url).bearer_auth(token).send().await.unwrap()
}

async fn wait_for(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    for _ in 0..600 {
        let state: serde_json::Value = get(client, url, token).await.json().await.unwrap();
        if state["status"] != "pending" && state["status"] != "running" {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} did not finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_goes_to_s3_and_comes_back_for_download_restore_retention_and_delete() {
    // Arrange: an org, a bucket, a connection (tested on creation) that is the org's default.
    // The S3 server runs on this host: allowed, as an operator would allow a MinIO next door.
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "100"]);
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let (added, text) = add_s3(&env, &moto, "Solo Shop", "offsite", BUCKET, &["--default"]);
    assert!(added, "{text}");
    // The test file written while adding was removed again.
    assert!(moto.keys(BUCKET).await.is_empty());

    // The credentials are sealed: not in clear anywhere in the row, not in the listing.
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.storage_connections
              WHERE encrypted_credentials IS NOT NULL
                AND position(convert_to('{SECRET}', 'UTF8') in encrypted_credentials) = 0
                AND position(convert_to('AKIDMOTOTEST', 'UTF8') in encrypted_credentials) = 0
                AND settings::text NOT LIKE '%{SECRET}%' AND settings::text NOT LIKE '%AKIDMOTOTEST%'"
        )),
        "1"
    );
    let listed = env.ok(&["storage", "list", "--org", "Solo Shop", "--json"]);
    assert!(
        listed.contains("offsite") && listed.contains(BUCKET),
        "{listed}"
    );
    assert!(
        !listed.contains(SECRET) && !listed.contains("AKIDMOTOTEST"),
        "{listed}"
    );
    env.ok(&["storage", "test", "--org", "Solo Shop", "offsite"]);

    // Act: a backup to the default destination (the connection).
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    let id = backup["backup_id"].as_str().unwrap().to_string();
    let key = format!("tenants/{SOLO}/{id}.tar.zst");

    // Assert: it is in the bucket (with its checksum companion), not on the local disk.
    assert_eq!(
        backup["path"].as_str().unwrap(),
        format!("s3://{BUCKET}/{key}")
    );
    let mut keys = moto.keys(BUCKET).await;
    keys.sort();
    assert_eq!(keys, [key.clone(), format!("{key}.sha256")]);
    assert!(
        local_archives(&env).is_empty(),
        "{:?}",
        local_archives(&env)
    );
    assert_eq!(backup_row(&env, &id, "storage_disk"), "s3");
    let stored = moto.object(BUCKET, &key).await;
    assert_eq!(stored.len() as u64, backup["size"].as_u64().unwrap());
    assert_eq!(sha256_hex(&stored), backup["sha256"].as_str().unwrap());
    let companion = String::from_utf8(moto.object(BUCKET, &format!("{key}.sha256")).await).unwrap();
    assert_eq!(
        companion,
        format!("{}  {id}.tar.zst\n", backup["sha256"].as_str().unwrap())
    );

    // Download through the API streams the same bytes from the bucket.
    let server = serve(&env);
    let all = token(&env, "Solo Shop", "all");
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1", server.url);
    let response = get(&http, &format!("{api}/backup/{id}/download"), &all).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-checksum-sha256"].to_str().unwrap(),
        backup["sha256"].as_str().unwrap()
    );
    let downloaded = response.bytes().await.unwrap();
    assert_eq!(sha256_hex(&downloaded), backup["sha256"].as_str().unwrap());
    assert_eq!(downloaded.len(), stored.len());

    // The API manages connections too: a bucket that does not exist is refused (tested first,
    // nothing saved), a good one is added; the listing never shows credentials; it is removed.
    let connection = |bucket: &str| {
        serde_json::json!({
            "provider": "s3", "name": "api-added",
            "settings": {"bucket": bucket, "region": "us-east-1", "endpoint": moto.url},
            "credentials": {"access_key_id": "AKIDMOTOTEST", "secret_access_key": SECRET},
        })
    };
    let refused = http
        .post(format!("{api}/storage/connections"))
        .bearer_auth(&all)
        .header("accept-language", "ar")
        .json(&connection("no-such-bucket"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["code"], "storage_unavailable", "{refused}");
    let arabic = refused["message"].as_str().unwrap();
    assert!(
        arabic
            .chars()
            .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
        "{arabic}"
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("no-such-bucket"),
        "{refused}"
    );
    assert!(!refused.to_string().contains(SECRET), "{refused}");
    let added = http
        .post(format!("{api}/storage/connections"))
        .bearer_auth(&all)
        .json(&connection(BUCKET))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let added: serde_json::Value = added.json().await.unwrap();
    let listed = get(&http, &format!("{api}/storage/connections"), &all)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("api-added") && listed.contains("offsite"),
        "{listed}"
    );
    assert!(
        !listed.contains(SECRET) && !listed.contains("AKIDMOTOTEST"),
        "{listed}"
    );
    let removed = http
        .delete(format!(
            "{api}/storage/connections/{}",
            added["connection_id"].as_str().unwrap()
        ))
        .bearer_auth(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);

    // The connection cannot be removed while it holds backups.
    let refused = env.fails(&["storage", "remove", "--org", "Solo Shop", "offsite"]);
    assert!(refused.contains("still holds"), "{refused}");

    // A restore job reads the archive from the bucket (fetched to a temporary file, then removed).
    let edited = "UPDATE cmis.posts SET title = 'changed since the backup' WHERE org_id = '00000000-0000-4000-8000-0000000000a5'";
    env.psql(edited);
    let started: serde_json::Value = http
        .post(format!("{api}/restore/start"))
        .bearer_auth(&all)
        .json(&serde_json::json!({"backup_id": id, "options": {"conflicts": "replace"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let restore_id = started["restore_id"].as_str().expect("a restore id");
    let state = wait_for(&http, &format!("{api}/restore/{restore_id}/status"), &all).await;
    assert_eq!(state["status"], "completed", "{state}");
    assert_eq!(
        env.psql("SELECT count(*) FROM cmis.posts WHERE title = 'changed since the backup'"),
        "0"
    );
    assert!(
        std::fs::read_dir(env.dir.path().join("backups/.fetch"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "no fetched copy is left behind"
    );
    // The CLI reads it from the bucket too (by backup id).
    let analyzed = env.ok(&["restore", "analyze", &id]);
    assert!(!analyzed.is_empty());

    // An unknown destination is refused with its own problem code.
    let unknown = http
        .post(format!("{api}/backup/create"))
        .bearer_auth(&all)
        .json(&serde_json::json!({"destination": "nowhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(unknown["code"], "unknown_destination", "{unknown}");

    // A backup through the API, to the connection named in the request, made by the worker.
    let queued: serde_json::Value = http
        .post(format!("{api}/backup/create"))
        .bearer_auth(&all)
        .json(&serde_json::json!({"destination": "offsite"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_id = queued["backup_id"]
        .as_str()
        .expect("a backup id")
        .to_string();
    let state = wait_for(&http, &format!("{api}/backup/{api_id}/progress"), &all).await;
    assert_eq!(state["status"], "completed", "{state}");
    assert!(
        moto.keys(BUCKET)
            .await
            .contains(&format!("tenants/{SOLO}/{api_id}.tar.zst"))
    );

    // Retention deletes an expired backup in the bucket.
    env.psql(&format!(
        "UPDATE orgbackup.organization_backups SET completed_at = now() - interval '30 days' WHERE backup_id = '{id}'"
    ));
    env.ok(&["retention", "run", "--org", "Solo Shop"]);
    assert_eq!(backup_row(&env, &id, "status"), "expired");
    let keys = moto.keys(BUCKET).await;
    assert!(!keys.iter().any(|k| k.contains(&id)), "{keys:?}");

    // Deleting through the API deletes in the bucket; then the connection may go.
    let deleted = http
        .delete(format!("{api}/backup/{api_id}"))
        .bearer_auth(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(moto.keys(BUCKET).await.is_empty());
    env.ok(&["storage", "remove", "--org", "Solo Shop", "offsite"]);
    assert!(
        !env.ok(&["storage", "list", "--org", "Solo Shop"])
            .contains("offsite")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_that_refuses_is_down_or_fails_midway_fails_the_backup_and_leaves_nothing() {
    // The S3 server runs on this host: allowed, as an operator would allow a MinIO next door.
    let env = Env::allowing_local_network();
    env.ok(&["demo", "--rows", "300000"]);
    let mut moto = Moto::start();
    moto.create_bucket(BUCKET).await;

    // A bucket that does not exist: refused when added (tested), and when used (added untested).
    let (added, text) = add_s3(&env, &moto, "Acme Global", "typo", "no-such-bucket", &[]);
    assert!(!added);
    assert!(
        text.contains("refused") && text.contains("no-such-bucket"),
        "{text}"
    );
    let (added, text) = add_s3(
        &env,
        &moto,
        "Acme Global",
        "typo",
        "no-such-bucket",
        &["--no-test"],
    );
    assert!(added, "{text}");
    let failed = env.fails(&[
        "backup",
        "create",
        "--org",
        "Acme Global",
        "--destination",
        "typo",
    ]);
    assert!(failed.contains("refused the request"), "{failed}");
    assert_eq!(
        env.psql(
            "SELECT status || ': ' || error_message FROM orgbackup.organization_backups ORDER BY created_at DESC LIMIT 1"
        )
        .split(':')
        .next(),
        Some("failed")
    );

    // Midway: the plan's storage runs out while the archive streams (several 8 MiB parts were
    // uploaded): the multipart upload is aborted, no object and no upload remain.
    let (added, text) = add_s3(&env, &moto, "Acme Global", "offsite", BUCKET, &[]);
    assert!(added, "{text}");
    let full_size = env.backup_json(&["--org", "Acme Global", "--destination", "offsite"])["size"]
        .as_u64()
        .unwrap();
    assert!(
        full_size > 16 << 20,
        "the archive ({full_size} bytes) spans several parts"
    );
    let before = moto.keys(BUCKET).await;
    // Pro plan (50 GB, no monthly limit), of which a recorded backup leaves half an archive.
    env.psql(&format!(
        "INSERT INTO orgbackup.org_plans (org_id, plan) VALUES ('{ACME}', 'pro')
         ON CONFLICT (org_id) DO UPDATE SET plan = 'pro'"
    ));
    env.psql(&format!(
        "INSERT INTO orgbackup.organization_backups (backup_id, org_id, name, backup_type, status, file_size, completed_at)
         VALUES (gen_random_uuid(), '{ACME}', 'filler', 'manual', 'completed', {}, now())",
        50_000_000_000u64 - full_size - full_size / 2
    ));
    let server = serve(&env);
    let all = token(&env, "Acme Global", "all");
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1", server.url);
    let queued: serde_json::Value = http
        .post(format!("{api}/backup/create"))
        .bearer_auth(&all)
        .json(&serde_json::json!({"destination": "offsite"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = queued["backup_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{queued}"))
        .to_string();
    let state = wait_for(&http, &format!("{api}/backup/{id}/progress"), &all).await;
    assert_eq!(state["status"], "failed", "{state}");
    assert_eq!(moto.keys(BUCKET).await, before);
    assert_eq!(moto.multipart_uploads(BUCKET).await, Vec::<String>::new());
    drop(server);

    // Down: the server is stopped. The backup fails with a clear, retryable error.
    moto.stop();
    // Connections belong to one org: another org cannot use Acme Global's.
    let failed = env.fails(&[
        "backup",
        "create",
        "--org",
        "Solo Shop",
        "--destination",
        "offsite",
    ]);
    assert!(
        failed.contains("does not exist for this organization"),
        "{failed}"
    );
    let failed = env.fails(&[
        "backup",
        "create",
        "--org",
        "Acme Global",
        "--destination",
        "offsite",
    ]);
    assert!(
        failed.contains("S3 bucket `orgbackups` (storage connection `offsite`) is unavailable"),
        "{failed}"
    );
    assert!(
        !failed.contains(SECRET) && !failed.contains("AKIDMOTOTEST"),
        "{failed}"
    );
    let error = env.psql(
        "SELECT error_message FROM orgbackup.organization_backups WHERE status = 'failed' ORDER BY created_at DESC LIMIT 1",
    );
    assert!(error.contains("is unavailable"), "{error}");
    assert!(
        local_archives(&env)
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".partial"))
    );
}
