//! The HTTP API, black box: the `orgbackup serve` process on a free port, real PostgreSQL.

mod support;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use support::Env;

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(env: &Env) -> Server {
    let mut child = env
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the server announces its address")
        .to_string();
    Server { child, url }
}

fn token(env: &Env, org: &str, permissions: &str) -> String {
    env.ok(&[
        "admin",
        "create-token",
        "--org",
        org,
        "--name",
        "test",
        "--permissions",
        permissions,
    ])
    .trim()
    .to_string()
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
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn backups_are_listed_shown_downloaded_and_deleted_within_the_tokens_org_only() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let solo_backup = env.backup_json(&["--org", "Solo Shop"]);
    let delta_backup = env.backup_json(&["--org", "Delta Studio"]);
    let server = serve(&env);
    let api = Api {
        client: reqwest::Client::new(),
        url: server.url.clone(),
    };
    let all = token(&env, "Solo Shop", "all");
    let solo_id = solo_backup["backup_id"].as_str().unwrap();
    let delta_id = delta_backup["backup_id"].as_str().unwrap();

    let listing: serde_json::Value = api.get(&all, "/backup/list").await.json().await.unwrap();
    assert_eq!(listing["total"], 1, "{listing}");
    assert_eq!(listing["data"][0]["backup_id"], solo_id);
    assert_eq!(listing["data"][0]["status"], "completed");

    // Another org's backup does not exist for this token.
    let missing = problem(
        api.get(&all, &format!("/backup/{delta_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(missing["code"], "not_found");
    problem(
        api.get(&all, &format!("/backup/{delta_id}/download")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        api.delete(&all, &format!("/backup/{delta_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let download = api.get(&all, &format!("/backup/{solo_id}/download")).await;
    assert_eq!(download.status(), StatusCode::OK);
    let checksum = download.headers()["x-checksum-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = download.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), checksum);
    assert_eq!(checksum, solo_backup["sha256"].as_str().unwrap());

    let deleted = api.delete(&all, &format!("/backup/{solo_id}")).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    problem(
        api.get(&all, &format!("/backup/{solo_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(!support::path_of(&solo_backup).exists(), "the file is gone");
    let actions = env.psql(&format!(
        "SELECT string_agg(action || ':' || outcome, ',' ORDER BY log_id) FROM orgbackup.backup_audit_logs WHERE org_id = '{SOLO}'"
    ));
    assert_eq!(actions, "backup.download:success,backup.delete:success");
}

#[tokio::test]
async fn every_guarded_route_refuses_a_token_without_its_permission_and_logs_the_denial() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    let id = backup["backup_id"].as_str().unwrap();
    let server = serve(&env);
    let api = Api {
        client: reqwest::Client::new(),
        url: server.url.clone(),
    };
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
    let denials = env.psql(&format!(
        "SELECT count(*) FROM orgbackup.backup_audit_logs WHERE org_id = '{SOLO}' AND outcome = 'denied' AND ip_address = '127.0.0.1'"
    ));
    assert_eq!(denials, "2");
}

#[tokio::test]
async fn missing_revoked_and_user_limited_tokens_are_refused() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    let id = backup["backup_id"].as_str().unwrap();
    let server = serve(&env);
    let api = Api {
        client: reqwest::Client::new(),
        url: server.url.clone(),
    };
    let anonymous = api
        .client
        .get(format!("{}/api/v1/backup/list", server.url))
        .send()
        .await
        .unwrap();
    let body = problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["code"], "unauthorized");
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
