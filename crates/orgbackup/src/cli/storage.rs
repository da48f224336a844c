//! `orgbackup storage ...`: an org's storage connections (add-s3, list, test, remove) and its
//! default destination.

use anyhow::Context;
use clap::Subcommand;
use orgbackup_service::config::Settings;
use orgbackup_service::storage::{S3Credentials, S3Settings, connections};
use orgbackup_service::{db, orgs};
use std::io::Read;

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Connect an S3-compatible bucket (AWS S3, MinIO, R2...). The secret key is read from stdin,
    /// so it never shows in the process list or the shell history.
    AddS3 {
        #[arg(long)]
        org: String,
        /// The connection's name (`backup create --destination NAME`).
        #[arg(long)]
        name: String,
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        region: String,
        /// For S3-compatible services: e.g. http://127.0.0.1:9000.
        #[arg(long)]
        endpoint: Option<String>,
        /// Key prefix under which the archives are kept.
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long)]
        access_key_id: String,
        /// Read the secret access key from standard input (required).
        #[arg(long, required = true)]
        secret_access_key_stdin: bool,
        /// Save without first writing, reading back and deleting a small test file.
        #[arg(long)]
        no_test: bool,
        /// Make it the org's default destination.
        #[arg(long)]
        default: bool,
    },
    /// Connect a Dropbox account (OAuth2): prints the URL to open; Dropbox then shows a code (or
    /// sends it to storage.dropbox.redirect_uri), which `connect-finish` exchanges.
    Connect {
        #[arg(long, value_parser = ["dropbox", "google_drive", "onedrive"])]
        provider: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Folder (under the app's folder) the archives go to.
        #[arg(long, default_value = "/orgbackup")]
        folder: String,
    },
    /// Finish `connect`: the code Dropbox showed is read from stdin.
    ConnectFinish {
        #[arg(long)]
        org: String,
        /// The `state` printed by `connect`.
        // A state is base64url, so about one in 64 starts with `-`: without this, clap takes it
        // for an option.
        #[arg(long, allow_hyphen_values = true)]
        state: String,
        #[arg(long, required = true)]
        code_stdin: bool,
    },
    /// List the org's connections (never their credentials).
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Write, read back and delete a small file at a connection.
    Test {
        #[arg(long)]
        org: String,
        /// The connection's name or id.
        connection: String,
    },
    /// Remove a connection (refused while it holds backups).
    Remove {
        #[arg(long)]
        org: String,
        connection: String,
    },
    /// Where the org's backups go unless a backup or schedule says otherwise.
    Default {
        #[arg(long)]
        org: String,
        /// A connection's name or id, or `local`.
        destination: String,
    },
}

// long: one match arm per subcommand, each a few lines
pub async fn run(settings: &Settings, command: StorageCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        StorageCommand::AddS3 {
            org,
            name,
            bucket,
            region,
            endpoint,
            prefix,
            access_key_id,
            secret_access_key_stdin: _,
            no_test,
            default,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let mut secret = String::new();
            std::io::stdin()
                .read_to_string(&mut secret)
                .context("reading the secret access key from stdin")?;
            let credentials = S3Credentials {
                access_key_id,
                secret_access_key: secret.trim().to_string(),
            };
            let s3 = S3Settings {
                bucket,
                region,
                endpoint,
                prefix,
            };
            let connection = connections::add_s3(
                &pool,
                settings,
                org.org_id,
                &name,
                s3,
                &credentials,
                !no_test,
            )
            .await?;
            if default {
                connections::set_default(&pool, org.org_id, Some(&name)).await?;
            }
            println!(
                "storage connection {} ({}) added for {}{}",
                connection.name,
                connection.connection_id,
                org.name,
                if default { ", now the default" } else { "" }
            );
        }
        StorageCommand::Connect {
            provider,
            org,
            name,
            folder,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let provider = match provider.as_str() {
                "google_drive" => orgbackup_service::storage::Provider::GoogleDrive,
                "onedrive" => orgbackup_service::storage::Provider::OneDrive,
                _ => orgbackup_service::storage::Provider::Dropbox,
            };
            let url = connections::authorize_url(
                &pool,
                settings,
                provider,
                org.org_id,
                &name,
                &folder,
                &connections::OAuthBinding::Cli,
            )
            .await?;
            let state = url
                .split("state=")
                .nth(1)
                .and_then(|s| s.split('&').next())
                .unwrap_or_default();
            println!(
                "Open this URL, allow access, and copy the code the provider shows (or the `code` of the page it sends you to):\n\n  {url}\n"
            );
            println!("Then: {}", connect_finish_command(org.org_id, state));
        }
        StorageCommand::ConnectFinish {
            org,
            state,
            code_stdin: _,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let mut code = String::new();
            std::io::stdin()
                .read_to_string(&mut code)
                .context("reading the authorization code from stdin")?;
            let connection = connections::complete_oauth(
                &pool,
                settings,
                &state,
                &code,
                Some(org.org_id),
                Some(&connections::OAuthBinding::Cli),
            )
            .await?;
            println!(
                "storage connection {} ({}) added for {}",
                connection.name, connection.connection_id, org.name
            );
        }
        StorageCommand::List { org, json } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let list = connections::list(&pool, org.org_id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.iter().all(|c| !c.is_default) {
                println!("default destination: local disk");
            }
            for c in &list {
                println!(
                    "{}  {:<20} {:<8} {:<8} {}{}",
                    c.connection_id,
                    c.name,
                    c.provider,
                    c.status,
                    c.settings,
                    if c.is_default { "  (default)" } else { "" }
                );
            }
        }
        StorageCommand::Test { org, connection } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let found = connections::find(&pool, org.org_id, &connection).await?;
            connections::open(&pool, settings, org.org_id, found.connection_id)
                .await?
                .test()
                .await?;
            println!("storage connection {} works", found.name);
        }
        StorageCommand::Remove { org, connection } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let removed = connections::remove(&pool, org.org_id, &connection).await?;
            println!("storage connection {} removed", removed.name);
        }
        StorageCommand::Default { org, destination } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            match connections::set_default(&pool, org.org_id, Some(&destination)).await? {
                Some(c) => println!("new backups of {} go to {}", org.name, c.name),
                None => println!("new backups of {} go to the local disk", org.name),
            }
        }
    }
    Ok(())
}

/// The command that finishes `connect`. `--state=` keeps a state that starts with `-` one value
/// even for a parser that does not allow hyphen values.
fn connect_finish_command(org_id: impl std::fmt::Display, state: &str) -> String {
    format!("orgbackup storage connect-finish --org {org_id} --state={state} --code-stdin")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `orgbackup storage ...` alone.
    #[derive(Parser)]
    struct Storage {
        #[command(subcommand)]
        command: StorageCommand,
    }

    fn parsed_state(args: &[&str]) -> String {
        let parsed = Storage::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match parsed.command {
            StorageCommand::ConnectFinish { state, .. } => state,
            _ => panic!("{args:?} is not connect-finish"),
        }
    }

    #[test]
    fn connect_finish_accepts_a_state_that_starts_with_a_hyphen() {
        let state = "-x3Fq_9kLm2Zp";
        let printed = connect_finish_command("2f0c6a1e-0000-4000-8000-000000000001", state);
        // Split as a shell would; `storage` stands in for the program's name here.
        let printed: Vec<&str> = printed.split_whitespace().skip(1).collect();
        assert_eq!(printed[..2], ["storage", "connect-finish"]);
        assert_eq!(parsed_state(&printed), state);
        let separate = [
            "storage",
            "connect-finish",
            "--org",
            "acme",
            "--state",
            state,
            "--code-stdin",
        ];
        assert_eq!(parsed_state(&separate), state);
    }
}
