//! Graceful shutdown of `serve` and `worker`: on SIGTERM or SIGINT they stop taking new jobs and
//! requests, let running jobs finish for up to `jobs.shutdown_grace_seconds`, then abandon them
//! and release their leases so another worker takes them over at once (instead of waiting for
//! the lease to lapse). An abandoned job's transaction is rolled back by its closed connection;
//! the worker that takes it over starts it again.

use sqlx::PgPool;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Waits up to `grace` for the workers to finish their current job; the rest are aborted and
/// their running jobs' leases released. Returns how many jobs were released.
pub async fn drain(pool: &PgPool, workers: Vec<(String, JoinHandle<()>)>, grace: Duration) -> u64 {
    let names: Vec<String> = workers.iter().map(|(name, _)| name.clone()).collect();
    let aborts: Vec<_> = workers.iter().map(|(_, h)| h.abort_handle()).collect();
    let all = futures::future::join_all(workers.into_iter().map(|(_, h)| h));
    if tokio::time::timeout(grace, all).await.is_ok() {
        return 0;
    }
    for abort in aborts {
        abort.abort();
    }
    match orgbackup_service::jobs::release_leases(pool, &names).await {
        Ok(released) => {
            eprintln!("shutdown: grace period over, released {released} running jobs for takeover");
            released
        }
        Err(error) => {
            eprintln!("shutdown: could not release the leases ({error}); they lapse by themselves");
            0
        }
    }
}
