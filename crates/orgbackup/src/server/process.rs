//! The two long-running processes, each a set of tasks under one shutdown: `serve` (the HTTP
//! server, its in-process workers and the background loops) and `worker` (one worker and the
//! loops). The first SIGTERM or SIGINT stops new requests and jobs; running jobs get
//! `jobs.shutdown_grace_seconds` to finish, then their leases are released for other workers.

use crate::http;
use anyhow::Context;
use orgbackup_service::config::Settings;
use orgbackup_service::{db, worker};
use std::sync::Arc;

pub async fn serve(settings: Settings, listen: &str) -> anyhow::Result<()> {
    let pool = db::connect_migrated(&settings).await?;
    let metrics = crate::metrics_listener::bind(&settings, &pool).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    if let Some(metrics) = &metrics {
        eprintln!("metrics on http://{}/metrics", metrics.local_addr()?);
    }
    println!("listening on http://{}", listener.local_addr()?);
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let settings = Arc::new(settings);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let metrics = metrics.map(|metrics| metrics.spawn(shutdown.clone()));
    let workers_alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for n in 0..settings.jobs.workers {
        let name = format!("{}-serve-{n}", worker_name());
        let worker = worker::run_worker(
            pool.clone(),
            settings.clone(),
            name.clone(),
            shutdown.clone(),
        );
        let alive = workers_alive.clone();
        let handle = tokio::spawn(async move {
            // Counted while it runs, so /readyz sees a worker that stopped.
            alive.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            worker.await;
            alive.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
        workers.push((name, handle));
    }
    spawn_background_loops(&pool, &settings, &shutdown);
    let grace = std::time::Duration::from_secs(settings.jobs.shutdown_grace_seconds.into());
    let state = http::AppState {
        pool: pool.clone(),
        settings,
        workers_alive,
    };
    // Stop accepting requests and jobs on the first signal; in-flight requests finish.
    let stopping = async move {
        crate::shutdown::signal().await;
        eprintln!("shutting down: no new jobs; running jobs may finish for {grace:?}");
        let _ = stop.send(true);
    };
    crate::server::serve(listener, state, stopping).await?;
    crate::shutdown::drain(&pool, workers, grace).await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    Ok(())
}

pub async fn worker(settings: Settings, id: Option<String>) -> anyhow::Result<()> {
    let pool = db::connect_migrated(&settings).await?;
    let metrics = crate::metrics_listener::bind(&settings, &pool).await?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let name = id.unwrap_or_else(worker_name);
    if let Some(metrics) = &metrics {
        eprintln!("metrics on http://{}/metrics", metrics.local_addr()?);
    }
    let metrics = metrics.map(|metrics| metrics.spawn(shutdown.clone()));
    eprintln!("worker {name} started");
    let settings = Arc::new(settings);
    spawn_background_loops(&pool, &settings, &shutdown);
    let grace = std::time::Duration::from_secs(settings.jobs.shutdown_grace_seconds.into());
    let worker = tokio::spawn(worker::run_worker(
        pool.clone(),
        settings,
        name.clone(),
        shutdown,
    ));
    crate::shutdown::signal().await;
    eprintln!("shutting down: no new jobs; the running job may finish for {grace:?}");
    let _ = stop.send(true);
    crate::shutdown::drain(&pool, vec![(name, worker)], grace).await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    Ok(())
}

/// Retention and housekeeping, notification delivery and the scheduler: every process runs
/// them (each is safe to run in several processes at once), until `shutdown`.
fn spawn_background_loops(
    pool: &sqlx::PgPool,
    settings: &Arc<Settings>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(orgbackup_service::housekeeping::run_housekeeping(
        pool.clone(),
        settings.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(orgbackup_service::notifications::run_dispatcher(
        pool.clone(),
        settings.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(orgbackup_service::schedules::scheduler::run_scheduler(
        pool.clone(),
        settings.clone(),
        shutdown.clone(),
    ));
}

fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}
