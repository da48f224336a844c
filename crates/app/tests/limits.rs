//! Plan limits and job retries under concurrency and faults: many requests at once, a database
//! connection killed under a running backup, a worker that died on its last attempt. Black box:
//! `orgbackup serve` / `worker` processes against a real PostgreSQL.

mod support;

use reqwest::StatusCode;
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
