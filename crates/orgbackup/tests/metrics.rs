//! Prometheus metrics, black box: `serve` and `worker` with `metrics.listen` set, a backup run
//! through the queue, `/metrics` scraped over HTTP and parsed as Prometheus text; no listener
//! without the setting, and never `/metrics` on the API port.

mod support;

use prometheus_parse::{Scrape, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Env, free_port, serve_with, token};

const CEDAR: &str = "00000000-0000-4000-8000-0000000000a3";

async fn scrape(metrics_url: &str) -> Scrape {
    let response = reqwest::get(metrics_url).await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels` (a counter, gauge or untyped
/// line such as a histogram's `_count`), if there is one.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample = scrape.samples.iter().find(|sample| {
        sample.metric == name
            && labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
    })?;
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => None,
    }
}

fn must(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels).unwrap_or_else(|| {
        let names: BTreeSet<_> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        panic!("no {name} {labels:?} in the scrape; it has {names:?}")
    })
}

/// Scrapes until the process has counted the backup (recorded just after its job row settles).
async fn scrape_after_backup(metrics_url: &str, plan: &str) -> Scrape {
    for _ in 0..100 {
        let scrape = scrape(metrics_url).await;
        let completed = [("plan", plan), ("outcome", "completed")];
        if value(&scrape, "orgbackup_backups_total", &completed) == Some(1.0) {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the completed backup was never counted");
}

/// Polls `sql` until it prints `expected` (30 s at most).
async fn wait_for(env: &Env, sql: &str, expected: &str) {
    for _ in 0..300 {
        if env.psql(sql) == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "`{sql}` never gave `{expected}` (last: `{}`)",
        env.psql(sql)
    );
}

/// The TCP ports process `pid` listens on (its socket inodes found in /proc/net/tcp{,6}).
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the inode.
            if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

async fn create_backup(api_url: &str, token: &str) {
    let created = reqwest::Client::new()
        .post(format!("{api_url}/api/v1/backup/create"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "measured"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::ACCEPTED);
}

fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn serve_with_a_metrics_listener_exposes_a_queued_backup_and_the_database_gauges() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    env.ok(&["admin", "set-plan", "--org", "Cedar Labs", "--plan", "pro"]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = serve_with(&env, &[("ORGBACKUP__METRICS__LISTEN", &listen)]);
    let metrics_url = format!("http://{listen}/metrics");

    let before = scrape(&metrics_url).await;
    let completed = [("plan", "pro"), ("outcome", "completed")];
    assert_eq!(must(&before, "orgbackup_backups_total", &completed), 0.0);
    assert_eq!(must(&before, "orgbackup_database_up", &[]), 1.0);
    assert_eq!(
        value(
            &before,
            "orgbackup_org_newest_good_backup_age_seconds",
            &[("org_id", CEDAR)]
        ),
        None,
        "no backup yet"
    );

    create_backup(&server.url, &token(&env, "Cedar Labs", "all")).await;
    wait_for(&env, "SELECT status FROM orgbackup.jobs", "succeeded").await;
    let after = scrape_after_backup(&metrics_url, "pro").await;

    let size: f64 = env
        .psql("SELECT file_size FROM orgbackup.organization_backups WHERE status = 'completed'")
        .parse()
        .unwrap();
    assert!(size > 0.0);
    let failed = [("plan", "pro"), ("outcome", "failed")];
    assert_eq!(must(&after, "orgbackup_backups_total", &failed), 0.0);
    let free = [("plan", "free"), ("outcome", "completed")];
    assert_eq!(must(&after, "orgbackup_backups_total", &free), 0.0);
    let succeeded = [("kind", "process_backup"), ("outcome", "succeeded")];
    assert_eq!(
        must(&after, "orgbackup_job_attempts_total", &succeeded),
        1.0
    );
    assert_eq!(
        must(&after, "orgbackup_job_duration_seconds_count", &succeeded),
        1.0
    );
    let took = must(&after, "orgbackup_job_duration_seconds_sum", &succeeded);
    assert!(took > 0.0 && took < 60.0, "{took}");
    let backup = [("kind", "process_backup")];
    assert_eq!(
        must(&after, "orgbackup_job_archive_bytes_count", &backup),
        1.0
    );
    assert_eq!(
        must(&after, "orgbackup_job_archive_bytes_sum", &backup),
        size
    );

    assert_eq!(must(&after, "orgbackup_queue_depth", &[]), 0.0);
    assert_eq!(must(&after, "orgbackup_queue_oldest_age_seconds", &[]), 0.0);
    let done = [("kind", "process_backup"), ("state", "succeeded")];
    assert_eq!(must(&after, "orgbackup_jobs", &done), 1.0);
    let queued = [("kind", "process_backup"), ("state", "queued")];
    assert_eq!(must(&after, "orgbackup_jobs", &queued), 0.0);
    let age = must(
        &after,
        "orgbackup_org_newest_good_backup_age_seconds",
        &[("org_id", CEDAR)],
    );
    assert!((0.0..60.0).contains(&age), "{age}");
    let stored = [("org_id", CEDAR), ("destination", "local")];
    assert_eq!(must(&after, "orgbackup_storage_used_bytes", &stored), size);
    let pending_email = [("channel", "email"), ("state", "pending")];
    let pending: f64 = env
        .psql("SELECT count(*) FROM orgbackup.notification_deliveries WHERE channel = 'email' AND status = 'pending'")
        .parse()
        .unwrap();
    assert_eq!(
        must(&after, "orgbackup_notification_deliveries", &pending_email),
        pending
    );
    assert!(
        after
            .docs
            .contains_key("orgbackup_org_newest_good_backup_age_seconds")
    );
    assert!(after.docs.contains_key("orgbackup_backups_total"));

    // The API port does not serve it; the process listens on exactly the two ports.
    let on_api = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(on_api.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(
        listening_ports(server.child.id()),
        BTreeSet::from([port_of(&server.url), port])
    );

    // The listener stops with the process's graceful shutdown.
    terminate(server.child.id());
    assert!(server.child.wait().unwrap().success());
    assert!(reqwest::get(&metrics_url).await.is_err());
}

#[tokio::test]
async fn without_metrics_listen_serve_and_worker_open_no_metrics_listener() {
    let env = Env::new();
    env.ok(&["migrate"]);
    let server = serve_with(&env, &[]);
    assert_eq!(
        listening_ports(server.child.id()),
        BTreeSet::from([port_of(&server.url)]),
        "only the API"
    );
    let on_api = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(on_api.status(), reqwest::StatusCode::NOT_FOUND);

    let mut worker = env
        .command(&["worker", "--id", "quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(worker.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "worker quiet started");
    assert!(listening_ports(worker.id()).is_empty());
    terminate(worker.id());
    assert!(worker.wait().unwrap().success());
}

#[tokio::test]
async fn a_worker_process_exposes_the_jobs_it_ran_and_serve_only_its_own() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    let serve_listen = format!("127.0.0.1:{}", free_port());
    let server = serve_with(
        &env,
        &[
            ("ORGBACKUP__JOBS__WORKERS", "0"),
            ("ORGBACKUP__METRICS__LISTEN", &serve_listen),
        ],
    );
    let worker_port = free_port();
    let mut worker = env
        .command(&["worker", "--id", "measured"])
        .env(
            "ORGBACKUP__METRICS__LISTEN",
            format!("127.0.0.1:{worker_port}"),
        )
        .env("ORGBACKUP__METRICS__DATABASE_GAUGES", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(worker.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        format!("metrics on http://127.0.0.1:{worker_port}/metrics")
    );
    let worker_url = format!("http://127.0.0.1:{worker_port}/metrics");

    create_backup(&server.url, &token(&env, "Cedar Labs", "all")).await;
    wait_for(&env, "SELECT status FROM orgbackup.jobs", "succeeded").await;
    let ran = scrape_after_backup(&worker_url, "free").await;
    let succeeded = [("kind", "process_backup"), ("outcome", "succeeded")];
    assert_eq!(
        must(&ran, "orgbackup_job_duration_seconds_count", &succeeded),
        1.0
    );
    assert_eq!(
        value(&ran, "orgbackup_queue_depth", &[]),
        None,
        "database gauges are off in this worker"
    );

    let api = scrape(&format!("http://{serve_listen}/metrics")).await;
    let completed = [("plan", "free"), ("outcome", "completed")];
    assert_eq!(
        must(&api, "orgbackup_backups_total", &completed),
        0.0,
        "serve ran no job"
    );
    assert_eq!(must(&api, "orgbackup_queue_depth", &[]), 0.0);
    let age = must(
        &api,
        "orgbackup_org_newest_good_backup_age_seconds",
        &[("org_id", CEDAR)],
    );
    assert!((0.0..60.0).contains(&age), "{age}");

    terminate(worker.id());
    assert!(worker.wait().unwrap().success());
    assert!(reqwest::get(&worker_url).await.is_err());
}
