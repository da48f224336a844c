//! `orgbackup keys`: an org's custom encryption keys.

use anyhow::bail;
use clap::Subcommand;
use orgbackup_service::config::Settings;
use orgbackup_service::{db, keys, orgs};

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Create a new key for the org and make it the one new encrypted backups use.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "custom key")]
        name: String,
    },
    /// List the org's keys (ids, fingerprints, status and backups sealed; never the keys).
    List {
        #[arg(long)]
        org: String,
    },
    /// Rotate: a new key becomes active; the previous one is retired and still opens its backups.
    Rotate {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "custom key")]
        name: String,
    },
    /// Destroy a key (crypto-shredding): every backup it sealed becomes unreadable, for good.
    Revoke {
        #[arg(long)]
        org: String,
        /// The key's id (first column of `keys list`).
        key: uuid::Uuid,
        /// Confirm; without it, the command says what would be lost and changes nothing.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) async fn run_keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        KeysCommand::Create { org, name } | KeysCommand::Rotate { org, name } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let key = keys::create_org_key(&pool, settings, org.org_id, &name).await?;
            println!(
                "key {} (version {}, fingerprint {}) is now the active key of {}",
                key.archive_key_id(org.org_id),
                key.version,
                key.fingerprint,
                org.name
            );
        }
        KeysCommand::List { org } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            for key in keys::list_org_keys(&pool, org.org_id).await? {
                println!(
                    "{}  v{:<3} {:<8} {}  {}  {:>5} backups  {}",
                    key.key_id,
                    key.version,
                    key.status,
                    key.fingerprint,
                    key.created_at.format("%Y-%m-%d %H:%M"),
                    key.backups,
                    key.name
                );
            }
        }
        KeysCommand::Revoke { org, key, yes } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let listed = keys::list_org_keys(&pool, org.org_id).await?;
            let Some(info) = listed.iter().find(|k| k.key_id == key) else {
                bail!(
                    "{} has no key {key} (see `orgbackup keys list --org ...`)",
                    org.name
                );
            };
            if !yes {
                bail!(
                    "revoking key v{} ({}) destroys it: {} backups sealed with it become unreadable, for good; run again with --yes to do it",
                    info.version,
                    info.fingerprint,
                    info.backups
                );
            }
            let revoked = keys::revoke_org_key(&pool, org.org_id, key).await?;
            println!(
                "key v{} ({}) destroyed; {} backups can no longer be opened",
                revoked.version, revoked.fingerprint, revoked.backups_unreadable
            );
        }
    }
    Ok(())
}
