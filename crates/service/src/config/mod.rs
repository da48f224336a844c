//! Settings, in layers: built-in defaults, then a TOML file (`--config`, or `orgbackup.toml` in the
//! working directory when present), then `ORGBACKUP__SECTION__KEY` environment variables.
//! Secrets are `SecretString`: they never reach `Debug` output or logs.
//!
//! One section per feature (`[storage]`, `[backup]`, `[encryption]`, `[jobs]`, ...). A function of
//! one feature takes its section (`keys::master_key(&EncryptionSettings)`,
//! `Destination::fetch(&StorageSettings, ..)`, `schedules`' category check `&TenancyConfig`); a
//! use case that spans features (making a backup reads the tenancy, the backup, the encryption and
//! the storage sections) takes the whole `Settings` and hands each feature its part.

pub mod network;
pub mod plans;
pub mod storage;

use orgbackup_engine::TenancyConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    /// Schema of the service's own tables.
    pub app_schema: String,
    pub tenancy: TenancyConfig,
    pub storage: StorageSettings,
    pub backup: BackupSettings,
    pub encryption: EncryptionSettings,
    pub restore: RestoreSettings,
    pub retention: RetentionSettings,
    pub jobs: JobSettings,
    pub upload: UploadSettings,
    pub notifications: NotificationSettings,
    pub scheduler: SchedulerSettings,
    pub http: HttpSettings,
    /// How the service writes its log (to stderr).
    pub log: LogSettings,
    /// The Prometheus scrape endpoint of `serve` and `worker` (off unless `listen` is set).
    pub metrics: MetricsSettings,
    /// Which addresses webhooks and S3 endpoints may reach (see `crate::outbound`).
    pub network: network::NetworkSettings,
    /// Plan name -> limits; defaults: free, basic, pro, enterprise as in the spec.
    pub plans: std::collections::BTreeMap<String, plans::PlanLimits>,
}

/// `[log]`: the format of the log lines on stderr. Which events are written is chosen by the
/// `ORGBACKUP_LOG` filter (default `warn,sqlx::query=error`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    /// For people: one readable line per event.
    #[default]
    Text,
    /// For log collectors: one JSON object per line, with the event's fields (and the job's or
    /// request's ids from the span it happened in) as keys.
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{text}` is not a log format: use text or json")),
        }
    }
}

/// `[metrics]`: `serve` and `worker` answer `GET /metrics` (Prometheus text format) on a listener
/// of their own, apart from the API, so it need not be public. Each process exposes the counters
/// and histograms of the jobs it ran, and the gauges read from the service's tables.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address of the metrics listener, e.g. `127.0.0.1:9464`; unset = no metrics listener.
    /// Every process on a host needs its own port (`ORGBACKUP__METRICS__LISTEN` per unit).
    pub listen: Option<String>,
    /// Read the gauges of the service's tables (queue, jobs, backups' age, storage, deliveries)
    /// at each scrape. They are the same in every process: turn them off where another process
    /// already exposes them (e.g. on the workers).
    pub database_gauges: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            listen: None,
            database_gauges: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Take the client's address for the audit log (and sign-in throttling) from
    /// `X-Forwarded-For`. Only behind a proxy that sets it: otherwise any client could write any
    /// address into the log.
    pub trust_forwarded_for: bool,
    /// Failed sign-ins of one account within `sign_in_window_seconds` before further attempts
    /// are refused (429) until the oldest ages out; a successful sign-in clears the count.
    pub sign_in_account_failures: u32,
    /// Failed sign-ins from one client address within the window (any accounts).
    pub sign_in_address_failures: u32,
    pub sign_in_window_seconds: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            trust_forwarded_for: false,
            sign_in_account_failures: 5,
            sign_in_address_failures: 20,
            sign_in_window_seconds: 900,
        }
    }
}

/// Email (SMTP) and webhook delivery of notifications; see `crate::notifications`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// SMTP server; unset = email deliveries fail with a clear error (webhooks and in-app work).
    pub smtp_host: Option<String>,
    /// Default: 25 for `none`, 587 for `starttls`, 465 for `tls`.
    pub smtp_port: Option<u16>,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<SecretString>,
    /// The From address of notification emails.
    pub from: String,
    /// How often `serve` and `worker` send due deliveries (0 = never; use
    /// `orgbackup notifications deliver`).
    pub dispatch_interval_seconds: u64,
    pub webhook_timeout_seconds: u64,
    pub smtp_timeout_seconds: u64,
    /// A failed delivery is retried after `retry_base_seconds * 2^(attempts - 1)`, at most
    /// `retry_max_seconds`, until the delivery's max_attempts.
    pub retry_base_seconds: u64,
    pub retry_max_seconds: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on a trusted network (e.g. localhost).
    None,
    /// STARTTLS required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: None,
            smtp_tls: SmtpTls::default(),
            smtp_username: None,
            smtp_password: None,
            from: "orgbackup <orgbackup@localhost>".into(),
            dispatch_interval_seconds: 10,
            webhook_timeout_seconds: 10,
            smtp_timeout_seconds: 30,
            retry_base_seconds: 30,
            retry_max_seconds: 3600,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadSettings {
    /// The largest backup file accepted by upload (the plan's storage left applies too).
    pub max_bytes: u64,
    /// An upload whose manifest declares more than this many bytes of content per byte of file
    /// is refused before anything is decompressed (a decompression bomb). Real backups compress
    /// COPY text 5-15x; raise it for unusually repetitive data.
    pub max_expansion: u64,
    /// The largest manifest (table of contents) an uploaded backup may have, in bytes; it counts
    /// in the expansion check too. Measured on demo backups: ~0.25 KB per 4 MiB chunk of table
    /// data, ~0.6 KB per file, ~1.5 KB per table. 32 MiB holds an org of 50 GB of rows (12,500
    /// chunks, ~3.6 MB) with 200 tables and 45,000 files.
    pub max_manifest_bytes: u64,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_bytes: 10_000_000_000,
            max_expansion: 100,
            max_manifest_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// A running job's lease; a job whose worker stopped renewing it is taken over after this.
    pub lease_seconds: u32,
    /// Workers `serve` runs in-process (0 = API only; run `orgbackup worker` elsewhere).
    pub workers: u32,
    /// A job that failed for a transient reason (database or destination unreachable) runs again
    /// after `retry_base_seconds * 2^(attempt - 1)`, until its max_attempts.
    pub retry_base_seconds: u32,
    /// On SIGTERM/SIGINT, how long running jobs may finish before they are abandoned and their
    /// leases released for another worker.
    pub shutdown_grace_seconds: u32,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease_seconds: 30,
            workers: 1,
            retry_base_seconds: 10,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreSettings {
    /// How long a restore can be rolled back; its rollback archive is deleted afterwards.
    pub rollback_hours: u32,
    /// Fire the tables' user triggers while restoring. Off: a restore writes the backup's values
    /// exactly, with no trigger side effects (needs permission to set session_replication_role).
    pub fire_triggers: bool,
}

impl Default for RestoreSettings {
    fn default() -> Self {
        Self {
            rollback_hours: 24,
            fire_triggers: false,
        }
    }
}

/// The schedule runner inside `serve` and `worker` (see `crate::schedules::scheduler`).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Off: schedules run only through `orgbackup schedule run-due` (e.g. from cron).
    pub enabled: bool,
    /// How often due schedules are looked for; a run starts at most this late.
    pub interval_seconds: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// How often `serve` and `worker` delete expired backups and rollback archives (0 = never;
    /// run `orgbackup retention run` from cron instead).
    pub interval_seconds: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            interval_seconds: 3600,
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(self.url.expose_secret()))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Root directory of the local storage destination.
    pub local_root: PathBuf,
    /// This service's Dropbox app (OAuth2 client), for orgs' Dropbox connections.
    pub dropbox: storage::DropboxSettings,
    /// This service's Google OAuth client, for orgs' Google Drive connections.
    pub google_drive: storage::GoogleDriveSettings,
    /// This service's Microsoft app registration, for orgs' OneDrive connections.
    pub onedrive: storage::OneDriveSettings,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Root under which file references (e.g. media paths) resolve; unset = files are not backed up.
    pub files_root: Option<PathBuf>,
    /// Size of the archive entries table rows are cut into (MiB); bounds memory use.
    pub chunk_size_mib: usize,
    pub compression_level: i32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionSettings {
    /// Base64 of 32 random bytes (`orgbackup keygen`). Wraps the data keys of encrypted backups
    /// and the orgs' custom keys.
    pub master_key: Option<SecretString>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database: DatabaseSettings::default(),
            app_schema: "orgbackup".into(),
            tenancy: TenancyConfig::default(),
            storage: StorageSettings::default(),
            backup: BackupSettings::default(),
            encryption: EncryptionSettings::default(),
            restore: RestoreSettings::default(),
            retention: RetentionSettings::default(),
            jobs: JobSettings::default(),
            upload: UploadSettings::default(),
            notifications: NotificationSettings::default(),
            scheduler: SchedulerSettings::default(),
            http: HttpSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
            network: network::NetworkSettings::default(),
            plans: plans::default_plans(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/orgbackup_demo"),
            max_connections: 8,
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            local_root: PathBuf::from("var/backups"),
            dropbox: storage::DropboxSettings::default(),
            google_drive: storage::GoogleDriveSettings::default(),
            onedrive: storage::OneDriveSettings::default(),
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            files_root: Some(PathBuf::from("var/files")),
            chunk_size_mib: 4,
            compression_level: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error(
        "invalid configuration: {0} (check the config file and ORGBACKUP__* environment variables)"
    )]
    Invalid(#[from] config::ConfigError),
}

impl Settings {
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            Some(path) => builder = builder.add_source(config::File::from(path)),
            None => {
                builder =
                    builder.add_source(config::File::with_name("orgbackup.toml").required(false))
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ORGBACKUP")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("tenancy.schemas")
                .with_list_parse_key("tenancy.exclude_tables")
                .with_list_parse_key("network.allow_private")
                .with_list_parse_key("network.allow_hosts")
                .try_parsing(true),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        // A file that configures some plans keeps the defaults of the others.
        for (name, limits) in plans::default_plans() {
            settings.plans.entry(name).or_insert(limits);
        }
        Ok(settings)
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn database_settings_debug_never_shows_the_password() {
        let settings = DatabaseSettings {
            url: SecretString::from("postgres://u:hunter2@h/db"),
            max_connections: 1,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_file_layer_overrides_defaults_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "app_schema = \"ob\"\n[tenancy]\norg_column = \"tenant_id\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.app_schema, "ob");
        assert_eq!(settings.tenancy.org_column, "tenant_id");
        assert_eq!(settings.tenancy.schemas, vec!["cmis".to_string()]);

        std::fs::write(
            &path,
            "[network]\nallow_private = [\"10.0.0.0/8\", \"127.0.0.1\"]\nallow_hosts = [\"minio.internal\"]\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.network.allow_private.len(), 2);
        assert_eq!(settings.network.allow_hosts, ["minio.internal"]);
        std::fs::write(&path, "[network]\nallow_private = [\"10.0.0.0/33\"]\n").unwrap();
        let error = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("10.0.0.0/33"), "{error}");

        std::fs::write(&path, "[metrics]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.metrics.listen.as_deref(), Some("127.0.0.1:9464"));
        assert!(settings.metrics.database_gauges);

        std::fs::write(&path, "[tenancy]\norg_colum = \"x\"\n").unwrap();
        let error = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("org_colum"), "{error}");
    }
}
