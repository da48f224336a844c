//! The HTTP API, black box: the `orgbackup serve` process on a free port, real PostgreSQL.

mod support;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use support::{Env, Server, serve, serve_with, token};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

impl Server {
    fn api(&self) -> Api {
        Api {
            client: reqwest::Client::new(),
            url: self.url.clone(),
        }
    }
}

/// Job rows settle just after the rows they work on: waits until no job is queued or running.
async fn jobs_settled(env: &Env) {
    for _ in 0..100 {
        if env.psql("SELECT count(*) FROM orgbackup.jobs WHERE status IN ('queued', 'running')")
            == "0"
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("jobs did not settle");
}

struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    /// Polls a backup until it is no longer pending or running.
    async fn wait_for(&self, token: &str, backup_id: &str) -> serde_json::Value {
        for _ in 0..300 {
            let state: serde_json::Value = self
                .get(token, &format!("/backup/{backup_id}/progress"))
                .await
                .json()
                .await
                .unwrap();
            if state["status"] != "pending" && state["status"] != "running" {
                return state;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("backup {backup_id} did not finish");
    }

    async fn delete(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

async fn problem(response: reqwest::Response, status: StatusCode) -> serde_json::Value {
    if response.status() != status {
        panic!(
            "expected {status}, got {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_guarded_route_refuses_a_token_without_its_permission_and_logs_the_denial() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    let id = backup["backup_id"].as_str().unwrap();
    let server = serve(&env);
    let api = server.api();
    let everything_but = |missing: &str| {
        let names = [
            "backup.create",
            "backup.download",
            "backup.restore",
            "backup.restore_full",
            "backup.schedule",
            "backup.upload",
            "backup.view_logs",
        ];
        names
            .iter()
            .filter(|n| **n != missing)
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    };
    let no_download = token(&env, "Solo Shop", &everything_but("backup.download"));
    let body = problem(
        api.get(&no_download, &format!("/backup/{id}/download"))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("backup.download"),
        "{body}"
    );
    let no_create = token(&env, "Solo Shop", &everything_but("backup.create"));
    problem(
        api.delete(&no_create, &format!("/backup/{id}")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Listing and showing need only a valid token of the org.
    assert_eq!(
        api.get(&no_create, &format!("/backup/{id}")).await.status(),
        StatusCode::OK
    );
    // A client cannot write another address into the log (no proxy is trusted by default).
    let spoofed = api
        .client
        .get(format!("{}/api/v1/backup/{id}/download", api.url))
        .bearer_auth(&no_download)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    problem(spoofed, StatusCode::FORBIDDEN).await;
    let denials = env.psql(&format!(
        "SELECT count(*) FROM orgbackup.backup_audit_logs WHERE org_id = '{SOLO}' AND outcome = 'denied' AND ip_address = '127.0.0.1'"
    ));
    assert_eq!(denials, "3");
}

#[tokio::test]
async fn missing_revoked_and_user_limited_tokens_are_refused() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    let id = backup["backup_id"].as_str().unwrap();
    let server = serve(&env);
    let api = server.api();
    let anonymous = api
        .client
        .get(format!("{}/api/v1/backup/list", server.url))
        .send()
        .await
        .unwrap();
    let body = problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["code"], "unauthorized");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Sign-in required"),
        "{body}"
    );
    let arabic = api
        .client
        .get(format!("{}/api/v1/backup/list", server.url))
        .header("accept-language", "ar-EG,ar;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(arabic.headers()["content-language"], "ar");
    let body = problem(arabic, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        body["message"],
        "يلزم تسجيل الدخول: أرسل رمز واجهة برمجية صالحًا."
    );
    problem(
        api.get("obr_made_up", "/backup/list").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let revoked = token(&env, "Solo Shop", "all");
    let token_id =
        env.psql("SELECT token_id FROM orgbackup.api_tokens ORDER BY created_at DESC LIMIT 1");
    env.ok(&["admin", "revoke-token", "--org", "Solo Shop", &token_id]);
    problem(
        api.get(&revoked, "/backup/list").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A token bound to a viewer never grants more than the viewer's role.
    env.ok(&["admin", "create-user", "--email", "viewer@example.com"]);
    env.ok(&[
        "admin",
        "set-role",
        "--org",
        "Solo Shop",
        "--email",
        "viewer@example.com",
        "--role",
        "viewer",
    ]);
    let bound = env
        .ok(&[
            "admin",
            "create-token",
            "--org",
            "Solo Shop",
            "--name",
            "v",
            "--permissions",
            "all",
            "--user",
            "viewer@example.com",
        ])
        .trim()
        .to_string();
    problem(
        api.get(&bound, &format!("/backup/{id}/download")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let stored =
        env.psql("SELECT count(*) FROM orgbackup.api_tokens WHERE token_hash LIKE 'obr_%'");
    assert_eq!(stored, "0", "only hashes of tokens are stored");
}

#[tokio::test]
async fn two_workers_drain_one_queue_exactly_once() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    let server = serve_with(&env, &[("ORGBACKUP__JOBS__WORKERS", "0")]);
    let api = server.api();
    let mut queued = Vec::new();
    for org in ["Solo Shop", "Delta Studio", "Cedar Labs"] {
        env.ok(&["admin", "set-plan", "--org", org, "--plan", "pro"]);
        let secret = token(&env, org, "all");
        for _ in 0..3 {
            let response: serde_json::Value = api
                .post(&secret, "/backup/create", serde_json::json!({}), None)
                .await
                .json()
                .await
                .unwrap();
            queued.push((
                secret.clone(),
                response["backup_id"].as_str().unwrap().to_string(),
            ));
        }
    }
    let workers: Vec<Server> = (0..2)
        .map(|n| {
            let child = env
                .command(&["worker", "--id", &format!("w{n}")])
                .spawn()
                .unwrap();
            Server {
                child,
                url: String::new(),
            }
        })
        .collect();
    for (secret, id) in &queued {
        assert_eq!(api.wait_for(secret, id).await["status"], "completed");
    }
    // Settled before the workers are killed: a worker killed between a backup's row and its
    // job's row would leave the job running until its lease expires.
    jobs_settled(&env).await;
    drop(workers);
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.jobs WHERE status = 'succeeded' AND attempts = 1"),
        "9"
    );
    assert_eq!(env.psql("SELECT count(DISTINCT storage_path) FROM orgbackup.organization_backups WHERE status = 'completed'"), "9");
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_when_its_lease_expires() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let server = serve_with(&env, &[("ORGBACKUP__JOBS__WORKERS", "0")]);
    let api = server.api();
    let secret = token(&env, "Solo Shop", "all");
    let created: serde_json::Value = api
        .post(&secret, "/backup/create", serde_json::json!({}), None)
        .await
        .json()
        .await
        .unwrap();
    // What a worker killed mid-job leaves behind: the job running, its lease about to lapse.
    env.psql(
        "UPDATE orgbackup.jobs SET status = 'running', attempts = 1, locked_by = 'killed-worker', lease_expires_at = now() + interval '1 second'",
    );
    let mut command = env.command(&["worker", "--id", "survivor"]);
    command.env("ORGBACKUP__JOBS__LEASE_SECONDS", "2");
    let _worker = Server {
        child: command.spawn().unwrap(),
        url: String::new(),
    };
    let done = api
        .wait_for(&secret, created["backup_id"].as_str().unwrap())
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    jobs_settled(&env).await;
    assert_eq!(
        env.psql("SELECT status || ':' || attempts FROM orgbackup.jobs"),
        "succeeded:2"
    );
}

#[tokio::test]
async fn plan_limits_are_checked_before_queuing_and_enforced_while_streaming() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "2000"]);
    // Free: two backups a month. Basic here: storage for a few kilobytes only.
    let config = env.dir.path().join("orgbackup.toml");
    std::fs::write(
        &config,
        "[plans.free]\nbackups_per_month = 2\nstorage_bytes = 500000000\nretention_days = 7\n\
         [plans.basic]\nbackups_per_month = 10\nstorage_bytes = 20000\nretention_days = 30\n",
    )
    .unwrap();
    let server = serve_with(&env, &[("ORGBACKUP_CONFIG", config.to_str().unwrap())]);
    let api = server.api();
    let free = token(&env, "Solo Shop", "all");
    for _ in 0..2 {
        let created = api
            .post(&free, "/backup/create", serde_json::json!({}), None)
            .await;
        assert_eq!(created.status(), StatusCode::ACCEPTED);
    }
    let third = problem(
        api.post(&free, "/backup/create", serde_json::json!({}), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(third["code"], "plan_backup_limit");
    assert!(
        third["detail"]
            .as_str()
            .unwrap()
            .contains("2 backups per month"),
        "{third}"
    );

    env.ok(&[
        "admin",
        "set-plan",
        "--org",
        "Blue Harbor",
        "--plan",
        "basic",
    ]);
    let basic = token(&env, "Blue Harbor", "all");
    let created: serde_json::Value = api
        .post(&basic, "/backup/create", serde_json::json!({}), None)
        .await
        .json()
        .await
        .unwrap();
    let done = api
        .wait_for(&basic, created["backup_id"].as_str().unwrap())
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"].as_str().unwrap().contains("size limit"),
        "{done}"
    );
    let org_dir = env
        .dir
        .path()
        .join("backups")
        .join("00000000-0000-4000-8000-0000000000a2");
    let leftovers = std::fs::read_dir(&org_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        leftovers, 0,
        "a backup that outgrew the quota leaves no file, partial or not"
    );
    // The job row is settled just after the backup row: wait for it.
    let job_status =
        "SELECT status FROM orgbackup.jobs WHERE org_id = '00000000-0000-4000-8000-0000000000a2'";
    let mut status = env.psql(job_status);
    for _ in 0..50 {
        if status != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = env.psql(job_status);
    }
    assert_eq!(status, "failed", "a size-limit failure is not retried");
    // The org hears of it, in-app (and by email/webhook when configured), with the reason.
    let inbox: serde_json::Value = api
        .get(&basic, "/notifications")
        .await
        .json()
        .await
        .unwrap();
    let failed = &inbox["data"][0];
    assert_eq!(failed["event"], "backup_failed", "{inbox}");
    assert!(
        failed["data"]["error"]
            .as_str()
            .unwrap()
            .contains("size limit"),
        "{failed}"
    );
    assert_eq!(failed["data"]["org_name"], "Blue Harbor");
    let audited = env.psql(
        "SELECT actor_label || ' ' || action || ' ' || outcome FROM orgbackup.backup_audit_logs
          WHERE org_id = '00000000-0000-4000-8000-0000000000a2' AND actor_label = 'worker'",
    );
    assert_eq!(audited, "worker backup.failed failure");
}

/// A well-formed archive of the same org whose one entry is 512 MiB of zeros (a few KB of file).
fn decompression_bomb(genuine: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let reader =
        orgbackup_archive::ArchiveReader::open(std::io::Cursor::new(genuine), &|_: &str| None)
            .unwrap();
    let metadata = reader.manifest().backup.clone();
    let mut writer = orgbackup_archive::ArchiveWriter::new(Vec::new(), Default::default()).unwrap();
    let size = 512u64 << 20;
    writer
        .add_entry("files/zeros.bin", size, &mut std::io::repeat(0).take(size))
        .unwrap();
    writer.finish(metadata).unwrap().0
}

/// An archive of no entries whose manifest is `genuine`'s backup description followed by
/// `padding` bytes of whitespace (valid JSON, a few KB of file).
fn padded_manifest(genuine: &[u8], padding: u64) -> Vec<u8> {
    use std::io::Read;
    let reader =
        orgbackup_archive::ArchiveReader::open(std::io::Cursor::new(genuine), &|_: &str| None)
            .unwrap();
    let manifest = orgbackup_archive::ArchiveManifest {
        entries: Vec::new(),
        ..reader.manifest().clone()
    };
    let json = serde_json::to_vec(&manifest).unwrap();
    let size = json.len() as u64 + padding;
    let mut content = json.as_slice().chain(std::io::repeat(b' ').take(padding));
    orgbackup_archive::ArchiveWriter::new(Vec::new(), Default::default())
        .unwrap()
        .finish_with_manifest_json(size, &mut content)
        .unwrap()
        .0
}

/// An archive whose manifest declares a petabyte for an entry of ten bytes.
fn huge_declared_size(genuine: &[u8]) -> Vec<u8> {
    let reader =
        orgbackup_archive::ArchiveReader::open(std::io::Cursor::new(genuine), &|_: &str| None)
            .unwrap();
    let mut writer = orgbackup_archive::ArchiveWriter::new(Vec::new(), Default::default()).unwrap();
    let mut record = writer
        .add_entry("files/small.bin", 10, &mut &[7u8; 10][..])
        .unwrap();
    record.size = 1 << 50;
    let manifest = orgbackup_archive::ArchiveManifest {
        entries: vec![record],
        ..reader.manifest().clone()
    };
    let json = serde_json::to_vec(&manifest).unwrap();
    writer
        .finish_with_manifest_json(json.len() as u64, &mut json.as_slice())
        .unwrap()
        .0
}

/// The peak resident memory of a process so far (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn four_concurrent_hostile_uploads_are_refused_with_422_and_the_server_stays_under_100_mb() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "500"]);
    let good = std::fs::read(support::path_of(&env.backup_json(&["--org", "Solo Shop"]))).unwrap();
    let server = serve(&env);
    let secret = token(&env, "Solo Shop", "all");
    let hostile = [
        // 23 KB of file, 255 MB of manifest: today parsed from one 255 MB buffer, and accepted.
        (padded_manifest(&good, 255 << 20), "manifest_too_large"),
        // Within the manifest cap, but hundreds of times the file's size.
        (padded_manifest(&good, 12 << 20), "decompression_bomb"),
        (huge_declared_size(&good), "decompression_bomb"),
        (decompression_bomb(&good), "decompression_bomb"),
    ];
    let before = peak_rss(server.child.id());
    let client = reqwest::Client::new();
    let answers = futures::future::join_all(hostile.iter().map(|(bytes, _)| {
        client
            .post(format!("{}/api/v1/backup/upload", server.url))
            .bearer_auth(&secret)
            .body(bytes.clone())
            .send()
    }))
    .await;
    for (answer, (bytes, code)) in answers.into_iter().zip(&hostile) {
        let body = problem(answer.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["code"], *code, "{} bytes: {body}", bytes.len());
        assert!(!body["detail"].as_str().unwrap().is_empty());
    }
    let peak = peak_rss(server.child.id());
    eprintln!(
        "server peak RSS: {} MB before the uploads, {} MB after",
        before >> 20,
        peak >> 20
    );
    assert!(
        peak < 100 << 20,
        "the server's peak RSS reached {} MB",
        peak >> 20
    );
    assert_eq!(
        env.psql(
            "SELECT count(*) FROM orgbackup.organization_backups WHERE backup_type = 'uploaded'"
        ),
        "0"
    );
}

#[tokio::test]
async fn nul_bytes_overflowing_pages_and_malformed_input_answer_problems_not_500s() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let server = serve(&env);
    let api = server.api();
    let all = token(&env, "Solo Shop", "all");
    let send = |method: &str, path: &str| {
        api.client
            .request(method.parse().unwrap(), format!("{}/api/v1{path}", api.url))
            .bearer_auth(&all)
    };
    let code = |response: reqwest::Response, status: StatusCode| async move {
        problem(response, status).await["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    // A NUL byte, in a JSON body, a path and a query string: refused before PostgreSQL sees it.
    let nul_name = send("POST", "/backup/create")
        .json(&serde_json::json!({"name": "night\u{0}ly"}))
        .send();
    assert_eq!(
        code(nul_name.await.unwrap(), unprocessable).await,
        "nul_byte"
    );
    let nul_path = send("DELETE", "/storage/connections/dis%00k").send();
    assert_eq!(
        code(nul_path.await.unwrap(), unprocessable).await,
        "nul_byte"
    );
    let nul_query = send("GET", "/audit?action=backup.create%00").send();
    assert_eq!(
        code(nul_query.await.unwrap(), unprocessable).await,
        "nul_byte"
    );

    // Length limits.
    let long_name = send("POST", "/backup/create")
        .json(&serde_json::json!({"name": "n".repeat(201)}))
        .send();
    assert_eq!(
        code(long_name.await.unwrap(), unprocessable).await,
        "invalid_name"
    );
    let long_text = send("POST", "/backup/create")
        .json(&serde_json::json!({"destination": "d".repeat(9000)}))
        .send();
    assert_eq!(
        code(long_text.await.unwrap(), unprocessable).await,
        "string_too_long"
    );

    // Pages: the last u32 page is an empty page, not an overflow; a negative one is a problem.
    let last = send("GET", "/backup/list?page=4294967295&per_page=100")
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), StatusCode::OK);
    let last: serde_json::Value = last.json().await.unwrap();
    assert_eq!(last["data"], serde_json::json!([]));
    let audit_last = send("GET", "/audit?page=4294967295&per_page=200").send();
    assert_eq!(audit_last.await.unwrap().status(), StatusCode::OK);
    let negative = send("GET", "/backup/list?page=-1").send();
    assert_eq!(
        code(negative.await.unwrap(), unprocessable).await,
        "invalid_query"
    );

    // Parse errors of paths and bodies are problems with a stable code.
    let not_an_id = send("GET", "/backup/not-a-uuid").send();
    assert_eq!(
        code(not_an_id.await.unwrap(), unprocessable).await,
        "invalid_path"
    );
    let not_json = send("POST", "/backup/create").body("{}").send();
    assert_eq!(
        code(not_json.await.unwrap(), unprocessable).await,
        "invalid_body"
    );
    let oversized = send("POST", "/backup/create")
        .json(&serde_json::json!({"categories": vec!["core"; 300_000]}))
        .send();
    assert_eq!(
        code(oversized.await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await,
        "too_large"
    );
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.organization_backups WHERE name LIKE 'n%'"),
        "0",
        "nothing was queued"
    );
}

#[tokio::test]
async fn an_org_re_uploads_its_own_backup_sealed_with_its_custom_key_and_no_other_org_can() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "200"]);
    for org in ["Solo Shop", "Delta Studio"] {
        env.ok(&["admin", "set-plan", "--org", org, "--plan", "enterprise"]);
    }
    env.ok(&["keys", "create", "--org", "Solo Shop", "--name", "own"]);
    let sealed = env.backup_json(&["--org", "Solo Shop", "--encrypt"]);
    let key_id = env.psql(&format!(
        "SELECT encryption_key_id FROM orgbackup.organization_backups WHERE backup_id = '{}'",
        sealed["backup_id"].as_str().unwrap()
    ));
    assert!(
        key_id.starts_with("org:"),
        "sealed with the org's key: {key_id}"
    );
    let bytes = std::fs::read(support::path_of(&sealed)).unwrap();
    let server = serve(&env);
    let upload = |secret: String| {
        reqwest::Client::new()
            .post(format!("{}/api/v1/backup/upload", server.url))
            .bearer_auth(secret)
            .body(bytes.clone())
            .send()
    };
    let accepted = upload(token(&env, "Solo Shop", "all")).await.unwrap();
    assert_eq!(
        accepted.status(),
        StatusCode::CREATED,
        "{}",
        accepted.text().await.unwrap()
    );
    let accepted: serde_json::Value = accepted.json().await.unwrap();
    let id = accepted["backup_id"].as_str().unwrap();
    assert_eq!(
        env.psql(&format!(
            "SELECT is_encrypted FROM orgbackup.organization_backups WHERE backup_id = '{id}'"
        )),
        "t"
    );
    // Another org is not handed Solo Shop's key to open it with.
    let foreign = problem(
        upload(token(&env, "Delta Studio", "all")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(foreign["code"], "foreign_backup", "{foreign}");
}

#[tokio::test]
async fn uploads_are_verified_before_they_are_kept_and_hostile_files_leave_nothing() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "500"]);
    let solo_file = support::path_of(&env.backup_json(&["--org", "Solo Shop"]));
    let delta_file = support::path_of(&env.backup_json(&["--org", "Delta Studio"]));
    let server = serve(&env);
    let api = server.api();
    let secret = token(&env, "Solo Shop", "all");
    let upload = |bytes: Vec<u8>, checksum: Option<String>| {
        let mut request = api
            .client
            .post(format!("{}/api/v1/backup/upload", api.url))
            .bearer_auth(&secret)
            .body(bytes);
        if let Some(sum) = checksum {
            request = request.header("x-checksum-sha256", sum);
        }
        request.send()
    };
    let good = std::fs::read(&solo_file).unwrap();
    let accepted = upload(good.clone(), Some(hex::encode(Sha256::digest(&good))))
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let accepted: serde_json::Value = accepted.json().await.unwrap();
    let shown: serde_json::Value = api
        .get(
            &secret,
            &format!("/backup/{}", accepted["backup_id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["backup_type"], "uploaded");
    assert_eq!(shown["status"], "completed");

    let org_dir = env.dir.path().join("backups").join(SOLO);
    let files_before = std::fs::read_dir(&org_dir).unwrap().count();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let cases: Vec<(Vec<u8>, Option<String>, &str)> = vec![
        (flipped, None, "invalid_backup"),
        (good[..good.len() / 2].to_vec(), None, "invalid_backup"),
        (
            b"PK\x03\x04 not a backup at all".to_vec(),
            None,
            "invalid_backup",
        ),
        (std::fs::read(&delta_file).unwrap(), None, "foreign_backup"),
        (good.clone(), Some("0".repeat(64)), "checksum_mismatch"),
        (decompression_bomb(&good), None, "decompression_bomb"),
    ];
    for (bytes, checksum, code) in cases {
        let body = problem(
            upload(bytes, checksum).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["code"], code, "{body}");
    }
    assert_eq!(
        std::fs::read_dir(&org_dir).unwrap().count(),
        files_before,
        "rejected uploads leave no file behind"
    );
    let no_upload = token(&env, "Solo Shop", "backup.create");
    let denied = api
        .client
        .post(format!("{}/api/v1/backup/upload", api.url))
        .bearer_auth(&no_upload)
        .body(good)
        .send()
        .await
        .unwrap();
    problem(denied, StatusCode::FORBIDDEN).await;
}

#[test]
fn the_committed_openapi_document_is_the_one_the_code_generates() {
    let env = Env::new();
    let generated = env.ok(&["openapi"]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        generated == committed,
        "docs/openapi.json is not the document the code generates: run \
         `cargo run -p orgbackup -- openapi --output docs/openapi.json` and commit it"
    );
    // `--output` writes the same document.
    let file = env.dir.path().join("openapi.json");
    env.ok(&["openapi", "--output", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(file).unwrap(), generated);
    let document: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every operation documents its success and its problems.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents a success"
            );
            assert!(
                responses.contains_key("500") && responses.contains_key("422"),
                "{method} {path} documents its problems"
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_the_matrix_of_permissions_holds() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let solo = env.backup_json(&["--org", "Solo Shop"]);
    let delta = env.backup_json(&["--org", "Delta Studio"]);
    let server = serve(&env);
    let api = server.api();
    let document: serde_json::Value = api
        .client
        .get(format!("{}/api/v1/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Served as `orgbackup openapi` prints it (the document is generated once, at startup).
    let printed: serde_json::Value = serde_json::from_str(&env.ok(&["openapi"])).unwrap();
    assert_eq!(document, printed);
    let paths = document["paths"].as_object().unwrap();
    // Every guarded route, with the permission it needs (method, path, body).
    let own = solo["backup_id"].as_str().unwrap();
    let foreign = delta["backup_id"].as_str().unwrap();
    let some_restore = "00000000-0000-4000-8000-000000000001";
    let by_id = format!("{{\"backup_id\": \"{own}\"}}");
    let guarded: Vec<(&str, String, String, &str)> = vec![
        (
            "POST",
            "/backup/create".into(),
            "{}".into(),
            "backup.create",
        ),
        (
            "DELETE",
            format!("/backup/{own}"),
            String::new(),
            "backup.create",
        ),
        (
            "GET",
            format!("/backup/{own}/download"),
            String::new(),
            "backup.download",
        ),
        ("POST", "/backup/upload".into(), "x".into(), "backup.upload"),
        (
            "POST",
            "/restore/analyze".into(),
            by_id.clone(),
            "backup.restore",
        ),
        (
            "POST",
            "/restore/start".into(),
            by_id.clone(),
            "backup.restore",
        ),
        (
            "GET",
            format!("/restore/{some_restore}/status"),
            String::new(),
            "backup.restore",
        ),
        (
            "POST",
            format!("/restore/{some_restore}/rollback"),
            "{}".into(),
            "backup.restore",
        ),
        ("GET", "/audit".into(), String::new(), "backup.view_logs"),
        (
            "PUT",
            "/notifications/settings".into(),
            "{}".into(),
            "backup.schedule",
        ),
        ("GET", "/keys".into(), String::new(), "backup.schedule"),
        ("POST", "/keys".into(), "{}".into(), "backup.schedule"),
        (
            "POST",
            format!("/keys/{some_restore}/revoke"),
            "{}".into(),
            "backup.schedule",
        ),
        (
            "POST",
            format!("/keys/{some_restore}/revoke"),
            "{}".into(),
            "backup.restore_full",
        ),
        (
            "GET",
            "/retention".into(),
            String::new(),
            "backup.view_logs",
        ),
        (
            "PUT",
            "/retention".into(),
            "{\"retention_days\": 3}".into(),
            "backup.schedule",
        ),
        (
            "POST",
            format!("/backup/{own}/pin"),
            String::new(),
            "backup.create",
        ),
        (
            "DELETE",
            format!("/backup/{own}/pin"),
            String::new(),
            "backup.create",
        ),
        (
            "GET",
            "/storage/connections".into(),
            String::new(),
            "backup.create",
        ),
        (
            "POST",
            "/storage/connections".into(),
            "{}".into(),
            "backup.schedule",
        ),
        (
            "DELETE",
            format!("/storage/connections/{some_restore}"),
            String::new(),
            "backup.schedule",
        ),
        (
            "POST",
            format!("/storage/connections/{some_restore}/test"),
            String::new(),
            "backup.schedule",
        ),
        (
            "PUT",
            "/storage/default".into(),
            "{\"destination\": \"local\"}".into(),
            "backup.schedule",
        ),
        (
            "POST",
            "/storage/oauth/start".into(),
            "{\"provider\": \"dropbox\", \"name\": \"box\"}".into(),
            "backup.schedule",
        ),
        (
            "POST",
            "/storage/oauth/complete".into(),
            "{\"state\": \"x\", \"code\": \"y\"}".into(),
            "backup.schedule",
        ),
        ("GET", "/schedules".into(), String::new(), "backup.schedule"),
        ("POST", "/schedules".into(), "{}".into(), "backup.schedule"),
        (
            "GET",
            format!("/schedules/{some_restore}"),
            String::new(),
            "backup.schedule",
        ),
        (
            "PUT",
            format!("/schedules/{some_restore}"),
            "{}".into(),
            "backup.schedule",
        ),
        (
            "DELETE",
            format!("/schedules/{some_restore}"),
            String::new(),
            "backup.schedule",
        ),
    ];
    let all = [
        "backup.create",
        "backup.download",
        "backup.restore",
        "backup.restore_full",
        "backup.schedule",
        "backup.upload",
        "backup.view_logs",
    ];
    for (method, path, body, needed) in &guarded {
        let template = path.replace(own, "{id}").replace(some_restore, "{id}");
        let operation = &paths
            .get(&template)
            .unwrap_or_else(|| panic!("{template} is documented"))[method.to_lowercase()];
        assert!(operation.is_object(), "{method} {template} is documented");
        assert!(
            operation["responses"]["403"].is_object(),
            "{method} {template} documents its 403"
        );
        let without: Vec<&str> = all.iter().filter(|p| *p != needed).copied().collect();
        let secret = token(&env, "Solo Shop", &without.join(","));
        let request = api
            .client
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", server.url),
            )
            .bearer_auth(&secret)
            .header(
                "content-type",
                if body == "x" {
                    "application/octet-stream"
                } else {
                    "application/json"
                },
            )
            .body(body.clone());
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} without {needed}"
        );
    }
    // With every permission, another org's ids do not exist.
    let secret = token(&env, "Solo Shop", "all");
    for path in [
        format!("/backup/{foreign}"),
        format!("/backup/{foreign}/download"),
        format!("/backup/{foreign}/progress"),
    ] {
        problem(api.get(&secret, &path).await, StatusCode::NOT_FOUND).await;
    }
    let analyze = api
        .post(
            &secret,
            "/restore/analyze",
            serde_json::json!({"backup_id": foreign}),
            None,
        )
        .await;
    problem(analyze, StatusCode::NOT_FOUND).await;
    let start = api
        .post(
            &secret,
            "/restore/start",
            serde_json::json!({"backup_id": foreign}),
            None,
        )
        .await;
    problem(start, StatusCode::NOT_FOUND).await;
    let log: serde_json::Value = api
        .get(&secret, "/audit?outcome=denied")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        log["data"].as_array().unwrap().len(),
        guarded.len(),
        "{log}"
    );
}

#[tokio::test]
async fn an_upload_larger_than_allowed_is_cut_off_with_413_and_leaves_nothing() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let config = env.dir.path().join("orgbackup.toml");
    std::fs::write(&config, "[upload]\nmax_bytes = 1000\n").unwrap();
    let server = serve_with(&env, &[("ORGBACKUP_CONFIG", config.to_str().unwrap())]);
    let secret = token(&env, "Solo Shop", "all");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/backup/upload", server.url))
        .bearer_auth(&secret)
        .body(vec![0u8; 50_000])
        .send()
        .await
        .unwrap();
    let body = problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(body["code"], "too_large");
    let org_dir = env.dir.path().join("backups").join(SOLO);
    assert_eq!(
        std::fs::read_dir(&org_dir).map(|d| d.count()).unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn a_worker_killed_in_the_middle_of_a_backup_is_replaced_and_the_backup_completes() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "150000"]);
    env.ok(&["admin", "set-plan", "--org", "Acme Global", "--plan", "pro"]);
    let server = serve_with(&env, &[("ORGBACKUP__JOBS__WORKERS", "0")]);
    let api = server.api();
    let secret = token(&env, "Acme Global", "all");
    let created: serde_json::Value = api
        .post(&secret, "/backup/create", serde_json::json!({}), None)
        .await
        .json()
        .await
        .unwrap();
    let backup_id = created["backup_id"].as_str().unwrap().to_string();
    let worker = |name: &str| {
        let mut command = env.command(&["worker", "--id", name]);
        command.env("ORGBACKUP__JOBS__LEASE_SECONDS", "2");
        Server {
            child: command.spawn().unwrap(),
            url: String::new(),
        }
    };
    let mut first = worker("doomed");
    // Kill it once the backup is under way (progress stored), before it finishes.
    let mut killed_mid_job = false;
    for _ in 0..200 {
        let state: serde_json::Value = api
            .get(&secret, &format!("/backup/{backup_id}/progress"))
            .await
            .json()
            .await
            .unwrap();
        if state["status"] == "running" {
            first.child.kill().unwrap();
            killed_mid_job = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(killed_mid_job, "the backup should have started");
    let _second = worker("replacement");
    let done = api.wait_for(&secret, &backup_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    jobs_settled(&env).await;
    assert_eq!(
        env.psql(
            "SELECT locked_by IS NULL AND status = 'succeeded' AND attempts = 2 FROM orgbackup.jobs"
        ),
        "t"
    );
    let org_dir = env
        .dir
        .path()
        .join("backups")
        .join("00000000-0000-4000-8000-0000000000a1");
    let names: Vec<String> = std::fs::read_dir(&org_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".partial")),
        "no partial file is left: {names:?}"
    );
    assert_eq!(
        api.get(&secret, &format!("/backup/{backup_id}/download"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn keys_rotate_and_revoke_and_retention_and_pins_through_the_api() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let solo = env.backup_json(&["--org", "Solo Shop"]);
    let delta = env.backup_json(&["--org", "Delta Studio"]);
    let server = serve(&env);
    let api = server.api();
    let secret = token(&env, "Solo Shop", "all");
    let send = |method: &str, path: &str, body: serde_json::Value| {
        api.client
            .request(method.parse().unwrap(), format!("{}/api/v1{path}", api.url))
            .bearer_auth(&secret)
            .json(&body)
            .send()
    };

    // Custom keys: Enterprise only, then rotate and revoke with the fingerprint as confirmation.
    let refused = problem(
        send("POST", "/keys", serde_json::json!({})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["code"], "plan_feature_unavailable", "{refused}");
    env.ok(&[
        "admin",
        "set-plan",
        "--org",
        "Solo Shop",
        "--plan",
        "enterprise",
    ]);
    let first = send("POST", "/keys", serde_json::json!({"name": "first"}))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    send("POST", "/keys", serde_json::json!({"name": "second"}))
        .await
        .unwrap();
    let listed: serde_json::Value = api.get(&secret, "/keys").await.json().await.unwrap();
    let statuses: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["retired", "active"]);
    let revoke = format!("/keys/{}/revoke", first["key_id"].as_str().unwrap());
    let unconfirmed = problem(
        send("POST", &revoke, serde_json::json!({"confirm": "wrong"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(unconfirmed["code"], "confirmation_required");
    let revoked = send(
        "POST",
        &revoke,
        serde_json::json!({"confirm": first["fingerprint"]}),
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let again = send(
        "POST",
        &revoke,
        serde_json::json!({"confirm": first["fingerprint"]}),
    )
    .await
    .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Retention: shorter than the plan is allowed, longer is not.
    let shown: serde_json::Value = api.get(&secret, "/retention").await.json().await.unwrap();
    assert_eq!(shown["retention_days"], 365, "{shown}");
    let longer = problem(
        send(
            "PUT",
            "/retention",
            serde_json::json!({"retention_days": 400}),
        )
        .await
        .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(longer["code"], "retention_longer_than_plan");
    let set: serde_json::Value = send(
        "PUT",
        "/retention",
        serde_json::json!({"retention_days": 30}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(set["retention_days"], 30);

    // Pins: the org's own backups only.
    let own = solo["backup_id"].as_str().unwrap();
    let pinned = send("POST", &format!("/backup/{own}/pin"), serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(pinned.status(), StatusCode::OK);
    assert_eq!(
        env.psql(&format!(
            "SELECT pinned FROM orgbackup.organization_backups WHERE backup_id = '{own}'"
        )),
        "t"
    );
    let foreign = delta["backup_id"].as_str().unwrap();
    problem(
        send(
            "POST",
            &format!("/backup/{foreign}/pin"),
            serde_json::json!({}),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn readyz_reports_the_database_migrations_and_workers_and_healthz_only_the_process() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let server = serve_with(&env, &[("ORGBACKUP__JOBS__WORKERS", "2")]);
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // Workers count themselves once their task starts.
    let mut ready = serde_json::Value::Null;
    for _ in 0..50 {
        let response = client
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap();
        let status = response.status();
        ready = response.json().await.unwrap();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["workers"], "2/2", "{ready}");
    assert_eq!(ready["migrations"], "applied", "{ready}");

    // A database behind this build's migrations is not ready (e.g. an old schema after a deploy).
    env.psql("DELETE FROM orgbackup._sqlx_migrations WHERE version = (SELECT max(version) FROM orgbackup._sqlx_migrations)");
    let response = client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["migrations"], "1 pending", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
}
