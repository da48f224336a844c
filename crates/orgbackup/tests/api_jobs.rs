//! The API's queued work, in-process (`support::app`): backups, restores and rollbacks asked for
//! through the API, run when the test drains the queue, then followed, downloaded and deleted
//! through the API. Real PostgreSQL, a fresh database per test; no process, no polling.

mod support;

use orgbackup_service::permissions::Permission;
use orgbackup_service::worker::ExecutionOutcome;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use support::app::{App, problem};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";
const DELTA: &str = "00000000-0000-4000-8000-0000000000a4";

/// A whole backup of the token's org, queued through the API and made by draining the queue.
async fn backup_through_the_api(app: &App, token: &str) -> serde_json::Value {
    let queued = app
        .post(token, "/backup/create", serde_json::json!({}), None)
        .await;
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    let queued: serde_json::Value = queued.json().await.unwrap();
    let id = queued["backup_id"].as_str().unwrap();
    assert!(matches!(
        app.drain().await[..],
        [ExecutionOutcome::Succeeded(_)]
    ));
    let backup = app.get_json(token, &format!("/backup/{id}")).await;
    assert_eq!(backup["status"], "completed", "{backup}");
    backup
}

#[tokio::test]
async fn backups_are_listed_shown_downloaded_and_deleted_within_the_tokens_org_only() {
    let app = App::spawn().await;
    app.demo(100).await;
    let all = app.token_with_all("Solo Shop").await;
    let solo_backup = backup_through_the_api(&app, &all).await;
    let delta_backup =
        backup_through_the_api(&app, &app.token_with_all("Delta Studio").await).await;
    let solo_id = solo_backup["backup_id"].as_str().unwrap();
    let delta_id = delta_backup["backup_id"].as_str().unwrap();
    let solo_file = app.dir.path().join("backups").join(
        app.scalar(&format!(
            "SELECT storage_path FROM orgbackup.organization_backups WHERE backup_id = '{solo_id}'"
        ))
        .await,
    );
    assert!(solo_file.exists(), "{}", solo_file.display());

    let listing = app.get_json(&all, "/backup/list").await;
    assert_eq!(listing["total"], 1, "{listing}");
    assert_eq!(listing["data"][0]["backup_id"], solo_id);
    assert_eq!(listing["data"][0]["status"], "completed");

    // Another org's backup does not exist for this token.
    let missing = problem(
        app.get(&all, &format!("/backup/{delta_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(missing["code"], "not_found");
    problem(
        app.get(&all, &format!("/backup/{delta_id}/download")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.delete(&all, &format!("/backup/{delta_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let download = app.get(&all, &format!("/backup/{solo_id}/download")).await;
    assert_eq!(download.status(), StatusCode::OK);
    let checksum = download.headers()["x-checksum-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = download.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), checksum);
    assert_eq!(checksum, solo_backup["checksum_sha256"].as_str().unwrap());

    let deleted = app.delete(&all, &format!("/backup/{solo_id}")).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    problem(
        app.get(&all, &format!("/backup/{solo_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(!solo_file.exists(), "the file is gone");
    let actions = app
        .scalar(&format!(
            "SELECT string_agg(action || ':' || outcome, ',' ORDER BY log_id) FROM orgbackup.backup_audit_logs
              WHERE org_id = '{SOLO}' AND actor_label <> 'worker'"
        ))
        .await;
    assert_eq!(
        actions,
        "backup.create:success,backup.download:success,backup.delete:success"
    );
}

#[tokio::test]
async fn a_backup_created_through_the_api_is_made_by_a_worker_once_per_idempotency_key() {
    let app = App::spawn().await;
    app.demo(300).await;
    let all = app.token_with_all("Cedar Labs").await;
    let body = serde_json::json!({"name": "from the API", "categories": ["posts"]});
    let first = app
        .post(&all, "/backup/create", body.clone(), Some("key-1"))
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again: serde_json::Value = app
        .post(&all, "/backup/create", body.clone(), Some("key-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["backup_id"], again["backup_id"],
        "the same key returns the first response"
    );
    let other = app
        .post(&all, "/backup/create", serde_json::json!({}), Some("key-1"))
        .await;
    assert_eq!(
        problem(other, StatusCode::UNPROCESSABLE_ENTITY).await["code"],
        "idempotency_key_reused"
    );

    let id = first["backup_id"].as_str().unwrap();
    let progress = app.get_json(&all, &format!("/backup/{id}/progress")).await;
    assert_eq!(progress["status"], "pending", "{progress}");
    // One job for the two accepted requests.
    let ran = app.drain().await;
    assert_eq!(ran.len(), 1, "{ran:?}");
    let done = app.get_json(&all, &format!("/backup/{id}/progress")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let shown = app.get_json(&all, &format!("/backup/{id}")).await;
    assert_eq!(shown["name"], "from the API");
    assert_eq!(shown["categories"], serde_json::json!(["posts"]));
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM orgbackup.jobs WHERE status = 'succeeded' AND attempts = 1"
        )
        .await,
        "1"
    );
    assert_eq!(
        app.get(&all, &format!("/backup/{id}/download"))
            .await
            .status(),
        StatusCode::OK
    );

    let unknown = app
        .post(
            &all,
            "/backup/create",
            serde_json::json!({"categories": ["nope"]}),
            None,
        )
        .await;
    let unknown = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(unknown["code"], "unknown_category");
    assert!(
        unknown["detail"].as_str().unwrap().contains("posts"),
        "{unknown}"
    );
    let malformed = app
        .post(
            &all,
            "/backup/create",
            serde_json::json!({"categories": "posts"}),
            None,
        )
        .await;
    assert_eq!(
        problem(malformed, StatusCode::UNPROCESSABLE_ENTITY).await["code"],
        "invalid_body"
    );
    assert!(
        app.drain().await.is_empty(),
        "refused requests queue nothing"
    );
}

#[tokio::test]
async fn a_restore_is_analyzed_started_as_a_job_followed_and_rolled_back_through_the_api() {
    let app = App::spawn().await;
    app.demo(300).await;
    let owner = app.token_with_all("Delta Studio").await;
    let backup = backup_through_the_api(&app, &owner).await;
    let backup_id = backup["backup_id"].as_str().unwrap();
    app.execute(&format!(
        "UPDATE cmis.posts SET title = 'edited' WHERE org_id = '{DELTA}'"
    ))
    .await;
    let edited =
        format!("SELECT count(*) FROM cmis.posts WHERE org_id = '{DELTA}' AND title = 'edited'");
    let before = app.scalar(&edited).await;
    assert_ne!(before, "0");

    // Without restore_full, a full restore is refused; a merge restore is allowed.
    let admin = app.token("Delta Studio", &[Permission::Restore]).await;
    let report: serde_json::Value = app
        .post(
            &admin,
            "/restore/analyze",
            serde_json::json!({"backup_id": backup_id}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["status"], "compatible", "{report}");
    let full = serde_json::json!({"backup_id": backup_id, "options": {"mode": "full"}});
    let denied = problem(
        app.post(&admin, "/restore/start", full.clone(), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        denied["detail"]
            .as_str()
            .unwrap()
            .contains("backup.restore_full")
    );

    let super_admin = app
        .token(
            "Delta Studio",
            &[Permission::Restore, Permission::RestoreFull],
        )
        .await;
    let started = app
        .post(
            &super_admin,
            "/restore/start",
            full.clone(),
            Some("restore-1"),
        )
        .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let started: serde_json::Value = started.json().await.unwrap();
    let restore_id = started["restore_id"].as_str().unwrap();
    // A retried start with the same key is answered, not queued again; another body is refused.
    let retried: serde_json::Value = app
        .post(&super_admin, "/restore/start", full, Some("restore-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried, started);
    let reused = problem(
        app.post(
            &super_admin,
            "/restore/start",
            serde_json::json!({"backup_id": backup_id}),
            Some("restore-1"),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(reused["code"], "idempotency_key_reused");
    let status = format!("/restore/{restore_id}/status");
    assert_eq!(
        app.get_json(&super_admin, &status).await["status"],
        "pending"
    );
    assert_eq!(app.drain().await.len(), 1, "one restore job");
    let state = app.get_json(&super_admin, &status).await;
    assert_eq!(state["status"], "completed", "{state}");
    assert_eq!(app.scalar(&edited).await, "0");
    assert!(state["rollback_until"].is_string(), "{state}");
    assert!(
        state.get("progress").is_some(),
        "the status reports progress (null once done): {state}"
    );
    assert_eq!(
        state["plan"]["tables"].as_array().unwrap().len(),
        10,
        "{state}"
    );

    let rolled = app
        .post(
            &super_admin,
            &format!("/restore/{restore_id}/rollback"),
            serde_json::json!({}),
            None,
        )
        .await;
    // Checked at once, then run as a job that the status follows.
    assert_eq!(rolled.status(), StatusCode::ACCEPTED);
    let queued: serde_json::Value = rolled.json().await.unwrap();
    assert_eq!(queued["status"], "rolling_back");
    assert_eq!(
        app.get_json(&super_admin, &status).await["status"],
        "rolling_back"
    );
    assert_eq!(app.drain().await.len(), 1, "one rollback job");
    let state = app.get_json(&super_admin, &status).await;
    assert_eq!(state["status"], "rolled_back", "{state}");
    assert_eq!(app.scalar(&edited).await, before);
    // Every step was announced to the org and audited with the worker as the actor.
    let inbox = app.get_json(&super_admin, "/notifications").await;
    let events: Vec<&str> = inbox["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "restore_rolled_back",
            "restore_completed",
            "restore_started",
            "backup_completed",
        ],
        "{inbox}"
    );
    assert_eq!(inbox["data"][1]["data"]["restore_id"], restore_id);
    let audited = app
        .scalar(&format!(
            "SELECT string_agg(action, ' ' ORDER BY log_id) FROM orgbackup.backup_audit_logs
              WHERE actor_label = 'worker' AND entity_id = '{restore_id}'"
        ))
        .await;
    assert_eq!(
        audited,
        "restore.started restore.completed rollback.started rollback.completed"
    );
    let again = problem(
        app.post(
            &super_admin,
            &format!("/restore/{restore_id}/rollback"),
            serde_json::json!({}),
            None,
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(again["code"], "conflict");
    // Another org's restore does not exist for this token.
    let other = app.token_with_all("Solo Shop").await;
    problem(app.get(&other, &status).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_rollback_job_that_fails_leaves_the_restore_as_it_was_with_the_reason() {
    let app = App::spawn().await;
    app.demo(300).await;
    let secret = app.token_with_all("Delta Studio").await;
    let backup = backup_through_the_api(&app, &secret).await;
    let start = serde_json::json!({"backup_id": backup["backup_id"], "options": {"mode": "full"}});
    let started = app.post(&secret, "/restore/start", start, None).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let restore_id = started.json::<serde_json::Value>().await.unwrap()["restore_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.drain().await;
    let rollback = format!("/restore/{restore_id}/rollback");
    let queued = app
        .post(&secret, &rollback, serde_json::json!({}), None)
        .await;
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    // Asked twice while it waits: refused, it is already being rolled back.
    let twice = problem(
        app.post(&secret, &rollback, serde_json::json!({}), None)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        twice["detail"].as_str().unwrap().contains("rolling_back"),
        "{twice}"
    );
    // The rollback archive disappears before a worker gets to it.
    let archive = app
        .scalar("SELECT rollback_path FROM orgbackup.backup_restores")
        .await;
    std::fs::remove_file(app.dir.path().join("backups").join(&archive)).unwrap();
    assert!(matches!(
        app.drain().await[..],
        [ExecutionOutcome::Failed(_)]
    ));
    let state = app
        .get_json(&secret, &format!("/restore/{restore_id}/status"))
        .await;
    assert_eq!(state["status"], "completed", "{state}");
    assert!(
        state["error"]
            .as_str()
            .unwrap()
            .contains("rollback archive cannot be opened"),
        "{state}"
    );
}
