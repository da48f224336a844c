//! Graceful shutdown with real processes: SIGTERM stops `serve` from taking new jobs, lets the
//! running job finish within `jobs.shutdown_grace_seconds`, then releases its lease so another
//! worker takes it over at once.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Env, serve_with, server, token};

fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `sql` until it prints `expected` (10 s at most).
fn wait_for(env: &Env, sql: &str, expected: &str) {
    for _ in 0..100 {
        if env.psql(sql) == expected {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "`{sql}` never gave `{expected}` (last: `{}`)",
        env.psql(sql)
    );
}

#[tokio::test]
async fn sigterm_releases_a_job_that_outlives_the_grace_period_and_another_worker_finishes_it() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    // A session holding a lock on posts keeps the backup's COPY waiting: a job that runs long.
    let mut blocker = Command::new("psql")
        .args(["-q", &format!("{}/{}", server(), env.database)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = blocker.stdin.as_mut().unwrap();
    writeln!(
        stdin,
        "BEGIN; LOCK TABLE cmis.posts IN ACCESS EXCLUSIVE MODE;"
    )
    .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let mut server = serve_with(
        &env,
        &[
            ("ORGBACKUP__JOBS__SHUTDOWN_GRACE_SECONDS", "1"),
            ("ORGBACKUP__JOBS__LEASE_SECONDS", "300"),
        ],
    );
    let all = token(&env, "Cedar Labs", "all");
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/backup/create", server.url))
        .bearer_auth(&all)
        .json(&serde_json::json!({"name": "long", "categories": ["posts"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::ACCEPTED);
    wait_for(
        &env,
        "SELECT count(*) FROM orgbackup.jobs WHERE status = 'running'",
        "1",
    );

    let asked = Instant::now();
    terminate(server.child.id());
    let exit = server.child.wait().unwrap();
    let took = asked.elapsed();
    assert!(exit.success(), "{exit:?}");
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    assert_eq!(
        env.psql("SELECT status, lease_expires_at < now() FROM orgbackup.jobs"),
        "running|t",
        "the lease (300 s) was released at once, not left to lapse"
    );

    // The lock goes; a new worker takes the job over at once and finishes it.
    let stdin = blocker.stdin.as_mut().unwrap();
    writeln!(stdin, "COMMIT;").unwrap();
    drop(blocker.stdin.take());
    blocker.wait().unwrap();
    let mut worker = env
        .command(&["worker", "--id", "successor"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&env, "SELECT status FROM orgbackup.jobs", "succeeded");
    assert_eq!(
        env.psql("SELECT status FROM orgbackup.organization_backups WHERE name = 'long'"),
        "completed"
    );
    terminate(worker.id());
    assert!(
        worker.wait().unwrap().success(),
        "the worker stops on SIGTERM too"
    );
}

#[tokio::test]
async fn sigterm_lets_a_running_job_finish_within_the_grace_period() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    let mut blocker = Command::new("psql")
        .args(["-q", &format!("{}/{}", server(), env.database)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = blocker.stdin.as_mut().unwrap();
    writeln!(
        stdin,
        "BEGIN; LOCK TABLE cmis.posts IN ACCESS EXCLUSIVE MODE;"
    )
    .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut server = serve_with(&env, &[("ORGBACKUP__JOBS__SHUTDOWN_GRACE_SECONDS", "30")]);
    let all = token(&env, "Cedar Labs", "all");
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/backup/create", server.url))
        .bearer_auth(&all)
        .json(&serde_json::json!({"name": "short", "categories": ["posts"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::ACCEPTED);
    wait_for(
        &env,
        "SELECT count(*) FROM orgbackup.jobs WHERE status = 'running'",
        "1",
    );

    terminate(server.child.id());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still finishing its job"
    );
    // The job can go on now; the server exits once it is done.
    let stdin = blocker.stdin.as_mut().unwrap();
    writeln!(stdin, "COMMIT;").unwrap();
    drop(blocker.stdin.take());
    blocker.wait().unwrap();
    assert!(server.child.wait().unwrap().success());
    assert_eq!(env.psql("SELECT status FROM orgbackup.jobs"), "succeeded");
    assert_eq!(
        env.psql("SELECT status FROM orgbackup.organization_backups WHERE name = 'short'"),
        "completed"
    );
}
