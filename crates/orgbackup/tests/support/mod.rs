//! A fresh database and directories per test, and the `orgbackup` binary run against them.
#![allow(dead_code)]

pub mod app;
pub mod oauth_fakes;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub struct Env {
    pub database: String,
    pub dir: tempfile::TempDir,
    pub master_key: String,
    /// Set on every command (e.g. by [`Env::allowing_local_network`]).
    pub vars: Vec<(String, String)>,
}

pub fn server() -> String {
    std::env::var("ORGBACKUP_TEST_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("obr_cli_{}", uuid::Uuid::new_v4().simple());
        let mut env = Env {
            database,
            dir,
            master_key: String::new(),
            vars: Vec::new(),
        };
        env.master_key = String::from_utf8(env.run(&["keygen"]).stdout)
            .unwrap()
            .trim()
            .to_string();
        env
    }

    /// An env whose commands may reach servers the test runs on 127.0.0.1 (webhook receivers,
    /// S3 servers), which the service refuses by default.
    pub fn allowing_local_network() -> Env {
        let mut env = Env::new();
        env.vars.push((
            "ORGBACKUP__NETWORK__ALLOW_PRIVATE".into(),
            "127.0.0.1/32".into(),
        ));
        env
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgbackup"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env(
                "ORGBACKUP__DATABASE__URL",
                format!("{}/{}", server(), self.database),
            )
            .env(
                "ORGBACKUP__STORAGE__LOCAL_ROOT",
                self.dir.path().join("backups"),
            )
            .env(
                "ORGBACKUP__BACKUP__FILES_ROOT",
                self.dir.path().join("files"),
            )
            .env("ORGBACKUP__ENCRYPTION__MASTER_KEY", &self.master_key)
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "orgbackup {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs and expects failure; returns stdout + stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !output.status.success(),
            "orgbackup {args:?} should have failed:\n{text}"
        );
        text
    }

    pub fn psql(&self, sql: &str) -> String {
        let output = Command::new("psql")
            .args([&format!("{}/{}", server(), self.database), "-XAtqc", sql])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    pub fn backup_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["backup", "create", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &format!("{}/postgres", server()),
                "-qc",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
            ])
            .output();
    }
}

pub fn path_of(backup: &serde_json::Value) -> PathBuf {
    PathBuf::from(backup["path"].as_str().unwrap())
}

pub fn damaged_copy(source: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(source).unwrap();
    edit(&mut bytes);
    let target = source.with_file_name(name);
    std::fs::write(&target, bytes).unwrap();
    target
}

/// `orgbackup serve` on a free port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(env: &Env) -> Server {
    serve_with(env, &[])
}

pub fn serve_with(env: &Env, vars: &[(&str, &str)]) -> Server {
    serve_at(env, "127.0.0.1:0", vars)
}

/// `orgbackup serve` on `listen` (when the test must know the address before it starts).
pub fn serve_at(env: &Env, listen: &str, vars: &[(&str, &str)]) -> Server {
    let mut command = env.command(&["serve", "--listen", listen]);
    command.envs(vars.iter().copied());
    let mut child = command
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

/// An API token of `org` with `permissions` (comma separated, or `all`).
pub fn token(env: &Env, org: &str, permissions: &str) -> String {
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

/// A TCP port free on 127.0.0.1 right now (for servers the tests start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
