//! The Prometheus scrape endpoint of `serve` and `worker`: `GET /metrics` on `metrics.listen`, a
//! listener of its own apart from the API (which never serves it), so it need not be public.
//! A scrape renders what this process recorded (the jobs it ran, `orgbackup_service::metrics`)
//! and, unless `metrics.database_gauges` is off, the gauges read from the service's tables then.

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use orgbackup_service::config::Settings;
use orgbackup_service::metrics::{self as measures, Snapshot};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The bound listener, with the process's recorder installed.
pub struct MetricsListener {
    listener: tokio::net::TcpListener,
    exporter: Exporter,
}

#[derive(Clone)]
struct Exporter {
    pool: PgPool,
    recorded: PrometheusHandle,
    database_gauges: bool,
}

/// Binds `metrics.listen` and installs this process's recorder: `None` when it is unset (then
/// nothing is recorded at all).
pub async fn bind(settings: &Settings, pool: &PgPool) -> anyhow::Result<Option<MetricsListener>> {
    let Some(listen) = settings.metrics.listen.as_deref() else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
    let recorded = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(measures::JOB_DURATION_SECONDS.into()),
            measures::DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(measures::JOB_ARCHIVE_BYTES.into()),
            measures::BYTES_BUCKETS,
        )?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let plans: Vec<&str> = settings.plans.keys().map(String::as_str).collect();
    measures::describe_job_metrics(&plans);
    Ok(Some(MetricsListener {
        listener,
        exporter: Exporter {
            pool: pool.clone(),
            recorded,
            database_gauges: settings.metrics.database_gauges,
        },
    }))
}

impl MetricsListener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until `shutdown` turns true; a scrape in flight then still gets its answer.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let MetricsListener { listener, exporter } = self;
        // The recorder's upkeep (histograms' buffers drained even between scrapes).
        let upkeep = {
            let handle = exporter.recorded.clone();
            let mut shutdown = shutdown.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
        };
        let router = Router::new()
            .route("/metrics", get(scrape))
            .with_state(exporter);
        tokio::spawn(async move {
            let upkeep = tokio::spawn(upkeep);
            let stopping = async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(stopping)
                .await
            {
                tracing::error!(%error, "the metrics listener stopped");
            }
            let _ = upkeep.await;
        })
    }
}

async fn scrape(State(exporter): State<Exporter>) -> impl IntoResponse {
    let mut body = exporter.recorded.render();
    if exporter.database_gauges {
        let snapshot = measures::collect(&exporter.pool).await;
        // A recorder for this scrape only: a series whose org or state is gone is not repeated.
        let gauges = PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&gauges, || match &snapshot {
            Ok(snapshot) => snapshot.record(),
            Err(_) => Snapshot::record_unreachable(),
        });
        if let Err(error) = &snapshot {
            tracing::warn!(%error, "metrics: could not read the service's tables");
        }
        if !body.is_empty() && !body.ends_with('\n') {
            body.push('\n');
        }
        body.push_str(&gauges.handle().render());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
