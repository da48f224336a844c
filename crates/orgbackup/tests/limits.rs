//! Plan limits and job retries under concurrency and faults: many requests at once, a database
//! connection killed under a running backup, a worker that died on its last attempt. Black box:
//! `orgbackup serve` / `worker` processes against a real PostgreSQL.

mod support;

use reqwest::StatusCode;
use std::time::Duration;
use support::{Env, Server, serve_with, token};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

async fn create_backup(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/api/v1/backup/create", server.url))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
}

/// Polls until `sql` returns `expected` (60 s at most); returns what it last returned.
async fn eventually(env: &Env, sql: &str, expected: &str) -> String {
    let mut found = env.psql(sql);
    for _ in 0..600 {
        if found == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        found = env.psql(sql);
    }
    found
}

fn worker(env: &Env, name: &str, vars: &[(&str, &str)]) -> Server {
    let mut command = env.command(&["worker", "--id", name]);
    command.envs(vars.iter().copied());
    Server {
        child: command.spawn().unwrap(),
        url: String::new(),
    }
}

#[tokio::test]
async fn thirty_concurrent_backup_requests_never_exceed_the_monthly_count() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "50"]);
    let config = env.dir.path().join("orgbackup.toml");
    std::fs::write(
        &config,
        "[plans.free]\nbackups_per_month = 5\nstorage_bytes = 500000000\nretention_days = 7\n",
    )
    .unwrap();
    // No worker: the backups stay pending, and pending ones count against the plan.
    let server = serve_with(
        &env,
        &[
            ("ORGBACKUP_CONFIG", config.to_str().unwrap()),
            ("ORGBACKUP__JOBS__WORKERS", "0"),
        ],
    );
    let secret = token(&env, "Solo Shop", "all");
    let client = reqwest::Client::new();

    let requests = (0..30).map(|_| create_backup(&client, &server, &secret));
    let responses = futures::future::join_all(requests).await;

    let mut accepted = 0;
    for response in responses {
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                let problem: serde_json::Value = response.json().await.unwrap();
                assert_eq!(problem["code"], "plan_backup_limit", "{problem}");
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(accepted, 5, "the plan allows 5 backups this month");
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.organization_backups WHERE org_id = '{SOLO}'"
        )),
        "5"
    );
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.jobs WHERE org_id = '{SOLO}'"
        )),
        "5"
    );
}

#[tokio::test]
async fn a_backup_whose_database_connection_is_killed_mid_copy_is_retried_and_completes() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "150000"]);
    env.ok(&["admin", "set-plan", "--org", "Acme Global", "--plan", "pro"]);
    let server = serve_with(&env, &[("ORGBACKUP__JOBS__WORKERS", "0")]);
    let secret = token(&env, "Acme Global", "all");
    let created: serde_json::Value = create_backup(&reqwest::Client::new(), &server, &secret)
        .await
        .json()
        .await
        .unwrap();
    let backup_id = created["backup_id"].as_str().unwrap().to_string();
    let _worker = worker(&env, "w1", &[("ORGBACKUP__JOBS__RETRY_BASE_SECONDS", "1")]);

    // What a database restart or a dropped connection does to the backup's COPY.
    let mut killed = false;
    for _ in 0..1000 {
        let terminated = env.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY%'",
        );
        if terminated != "0" {
            killed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(killed, "the backup's COPY should have been seen running");

    let done = eventually(
        &env,
        &format!(
            "SELECT status FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
        ),
        "completed",
    )
    .await;
    assert_eq!(
        done,
        "completed",
        "the interrupted backup is retried: {}",
        env.psql(&format!(
            "SELECT b.error_message || ' / job: ' || j.status || ':' || j.attempts || ' ' || coalesce(j.last_error, '')
               FROM orgbackup.organization_backups b, orgbackup.jobs j WHERE b.backup_id = '{backup_id}'"
        ))
    );
    let job = eventually(
        &env,
        "SELECT status || ':' || attempts FROM orgbackup.jobs",
        "succeeded:2",
    )
    .await;
    assert_eq!(job, "succeeded:2", "one failed attempt, one that succeeded");
    assert_eq!(
        env.psql(&format!(
            "SELECT error_message IS NULL AND file_size > 0 FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
        )),
        "t"
    );
}

#[tokio::test]
async fn a_job_whose_worker_died_on_its_last_attempt_is_failed_not_run_again() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "50"]);
    let server = serve_with(&env, &[("ORGBACKUP__JOBS__WORKERS", "0")]);
    let secret = token(&env, "Solo Shop", "all");
    let created: serde_json::Value = create_backup(&reqwest::Client::new(), &server, &secret)
        .await
        .json()
        .await
        .unwrap();
    let backup_id = created["backup_id"].as_str().unwrap().to_string();
    // What a worker killed during the job's fifth and last attempt leaves behind.
    env.psql(
        "UPDATE orgbackup.jobs SET status = 'running', attempts = max_attempts, locked_by = 'killed-worker',
                lease_expires_at = now() - interval '1 second'",
    );
    env.psql(&format!(
        "UPDATE orgbackup.organization_backups SET status = 'running' WHERE backup_id = '{backup_id}'"
    ));
    let _worker = worker(&env, "survivor", &[]);

    let job = eventually(
        &env,
        "SELECT status || ':' || attempts FROM orgbackup.jobs",
        "failed:5",
    )
    .await;
    assert_eq!(job, "failed:5", "max_attempts is 5: no sixth attempt");
    let row = eventually(
        &env,
        &format!(
            "SELECT status FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
        ),
        "failed",
    )
    .await;
    assert_eq!(row, "failed", "the backup row does not stay running");
    let reason = env.psql(&format!(
        "SELECT error_message FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
    ));
    assert!(reason.contains("last attempt"), "{reason}");
    // The org is told, like for any failed backup.
    assert_eq!(
        eventually(
            &env,
            &format!("SELECT count(*) FROM orgbackup.notifications WHERE org_id = '{SOLO}' AND event = 'backup_failed'"),
            "1",
        )
        .await,
        "1"
    );
}
