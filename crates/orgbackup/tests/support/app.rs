//! The service in-process: a fresh database, the HTTP server on port 0 in the test's own runtime,
//! and no worker. The test drains the job queue itself ([`App::drain`]), so it says exactly when
//! queued backups, restores and rollbacks run, and never sleeps waiting for them. Tests of the
//! process itself (signals, several workers, a killed worker) spawn the binary instead (`Env`).

use orgbackup::http::AppState;
use orgbackup_service::accounts;
use orgbackup_service::config::Settings;
use orgbackup_service::ids::OrgId;
use orgbackup_service::permissions::{self, Permission};
use orgbackup_service::worker::{self, ExecutionOutcome};
use reqwest::StatusCode;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

pub struct App {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    /// Holds `backups/` (the local storage root) and `files/` (the orgs' media files).
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    database: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl App {
    pub async fn spawn() -> App {
        Self::spawn_with(|_| {}).await
    }

    /// With settings changed by `configure` before the server starts.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> App {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("obr_app_{}", Uuid::new_v4().simple());
        let mut settings = Settings::default();
        settings.database.url = format!("{}/{database}", super::server()).into();
        settings.storage.local_root = dir.path().join("backups");
        settings.backup.files_root = Some(dir.path().join("files"));
        let master_key = orgbackup_archive::KeyEncryptionKey::generate().to_base64();
        settings.encryption.master_key = Some(master_key.into());
        configure(&mut settings);
        let pool = orgbackup_service::db::connect(&settings, true)
            .await
            .unwrap();
        orgbackup_service::db::migrate(&pool, &settings.app_schema)
            .await
            .unwrap();
        let settings = Arc::new(settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState {
            pool: pool.clone(),
            settings: settings.clone(),
            workers_alive: Arc::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(orgbackup::server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        App {
            url,
            pool,
            settings,
            dir,
            client: reqwest::Client::new(),
            database,
            stop: Some(stop),
        }
    }

    /// The demo schema and orgs (`orgbackup demo`), the largest org with `rows` analytics rows.
    pub async fn demo(&self, rows: u64) {
        let options = orgbackup::demo::DemoOptions {
            schema: "cmis".into(),
            files_root: self.dir.path().join("files"),
            large_org_rows: rows,
            reset: false,
        };
        orgbackup::demo::create_demo(&self.pool, &options, &mut |_| {})
            .await
            .unwrap();
    }

    pub async fn org_id(&self, name: &str) -> OrgId {
        orgbackup_service::orgs::resolve(&self.pool, &self.settings.tenancy, name)
            .await
            .unwrap()
            .org_id
    }

    /// An API token of the org named `org` with `permissions`.
    pub async fn token(&self, org: &str, permissions: &[Permission]) -> String {
        let org_id = self.org_id(org).await;
        accounts::create_token(&self.pool, org_id, None, "test", permissions, None)
            .await
            .unwrap()
            .secret
    }

    /// A token with every permission.
    pub async fn token_with_all(&self, org: &str) -> String {
        self.token(org, &permissions::ALL).await
    }

    /// Runs queued jobs until the queue is empty (a job queued by a job runs too); returns what
    /// each run did.
    pub async fn drain(&self) -> Vec<ExecutionOutcome> {
        let mut outcomes = Vec::new();
        loop {
            let outcome = worker::try_execute_one(&self.pool, &self.settings, "test-worker")
                .await
                .unwrap();
            if outcome == ExecutionOutcome::EmptyQueue {
                return outcomes;
            }
            outcomes.push(outcome);
        }
    }

    /// The first column of the first row of `sql`, as text (`NULL` as the empty string).
    pub async fn scalar(&self, sql: &str) -> String {
        let text: Option<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT ({sql})::text")))
                .fetch_one(&self.pool)
                .await
                .unwrap();
        text.unwrap_or_default()
    }

    pub async fn execute(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap();
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, token: &str, path: &str) -> serde_json::Value {
        let response = self.get(token, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// POSTs `body`, with an `Idempotency-Key` when `key` is given.
    pub async fn post(
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

    pub async fn delete(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // FORCE: the pool's connections may still be open while the runtime winds down.
        let _ = std::process::Command::new("psql")
            .args([
                &format!("{}/postgres", super::server()),
                "-qc",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
            ])
            .output();
    }
}

/// Expects a problem answer with `status`; returns its JSON.
pub async fn problem(response: reqwest::Response, status: StatusCode) -> serde_json::Value {
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
