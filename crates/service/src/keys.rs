//! Which key encrypts a backup, and which key opens one.
//!
//! Two kinds of key-encryption keys wrap the per-backup data keys: the master key from
//! configuration (key id `master:<fingerprint>`), and an org's custom key (key id
//! `org:<org id>:<key uuid>`), stored in `backup_encryption_keys` wrapped by the master key. A new
//! encrypted backup uses the org's active custom key when it has one, else the master key.

use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::OrgId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use orgbackup_archive::{EncryptionSetup, KeyEncryptionKey};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

use crate::states::BackupStatus;
pub use crate::states::KeyStatus;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "encryption needs a master key: set encryption.master_key (ORGBACKUP__ENCRYPTION__MASTER_KEY) to the output of `orgbackup keygen`"
    )]
    NoMasterKey,
    #[error(
        "encryption.master_key is not valid: {0}; it must be base64 of 32 bytes (`orgbackup keygen` makes one)"
    )]
    BadMasterKey(orgbackup_archive::Error),
    #[error(
        "the organization key {key_id} cannot be unwrapped with the configured master key (was the master key changed?)"
    )]
    CannotUnwrap { key_id: String },
    #[error(
        "custom encryption keys are an Enterprise feature and this organization is on the {plan} plan; upgrade it, or let backups use the service's master key"
    )]
    NotOnPlan { plan: String },
    #[error("this organization has no key {0} (see `orgbackup keys list`)")]
    KeyNotFound(Uuid),
    #[error("key {0} is already revoked")]
    AlreadyRevoked(Uuid),
    #[error(transparent)]
    Plan(#[from] crate::plans::LimitError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

pub fn master_key(
    encryption: &crate::config::EncryptionSettings,
) -> Result<Option<KeyEncryptionKey>, KeyError> {
    encryption
        .master_key
        .as_ref()
        .map(|k| {
            KeyEncryptionKey::from_base64(k.expose_secret().trim()).map_err(KeyError::BadMasterKey)
        })
        .transpose()
}

fn required_master_key(
    encryption: &crate::config::EncryptionSettings,
) -> Result<KeyEncryptionKey, KeyError> {
    master_key(encryption)?.ok_or(KeyError::NoMasterKey)
}

pub fn master_key_id(key: &KeyEncryptionKey) -> String {
    format!("master:{}", key.fingerprint())
}

fn org_key_id(org_id: OrgId, key_uuid: Uuid) -> String {
    format!("org:{org_id}:{key_uuid}")
}

/// An org's custom key as listed (never its bytes).
#[derive(Debug, sqlx::FromRow)]
pub struct OrgKeyInfo {
    pub key_id: Uuid,
    pub name: String,
    pub version: i32,
    pub fingerprint: String,
    pub status: KeyStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Completed backups sealed with this key.
    pub backups: i64,
}

impl OrgKeyInfo {
    pub fn archive_key_id(&self, org_id: OrgId) -> String {
        org_key_id(org_id, self.key_id)
    }

    /// Destroyed: it opens nothing any more.
    pub fn is_revoked(&self) -> bool {
        self.status == KeyStatus::Revoked
    }
}

/// Creates a new custom key for an org, wrapped by the master key, and makes it the org's active
/// key (the previous active key is retired: it still opens the backups it sealed).
pub async fn create_org_key(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    name: &str,
) -> Result<OrgKeyInfo, KeyError> {
    let usage = crate::plans::usage(pool, &settings.plans, org_id).await?;
    if !usage.limits.custom_keys {
        return Err(KeyError::NotOnPlan { plan: usage.plan });
    }
    let master = required_master_key(&settings.encryption)?;
    let key = KeyEncryptionKey::generate();
    let key_uuid = Uuid::new_v4();
    let wrapped = BASE64
        .decode(master.wrap_key(&key, &org_key_id(org_id, key_uuid)))
        .expect("wrap_key returns base64");
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query("UPDATE backup_encryption_keys SET status = $2, retired_at = now() WHERE org_id = $1 AND status = $3")
        .bind(org_id)
        .bind(KeyStatus::Retired)
        .bind(KeyStatus::Active)
        .execute(&mut *tx)
        .await?;
    let info: OrgKeyInfo = sqlx::query_as(
        "INSERT INTO backup_encryption_keys (key_id, org_id, name, version, wrapped_key, fingerprint)
         VALUES ($1, $2, $3,
                 (SELECT coalesce(max(version), 0) + 1 FROM backup_encryption_keys WHERE org_id = $2),
                 $4, $5)
         RETURNING key_id, name, version, fingerprint, status, created_at, 0::bigint AS backups",
    )
    .bind(key_uuid)
    .bind(org_id)
    .bind(name)
    .bind(wrapped)
    .bind(key.fingerprint())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// What revoking a key destroyed.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedKey {
    pub key_id: Uuid,
    pub version: i32,
    pub fingerprint: String,
    /// Completed backups sealed with the key: unreadable from now on.
    pub backups_unreadable: i64,
}

/// Revokes one of an org's keys by destroying it (crypto-shredding): its wrapped bytes are erased,
/// so neither this service nor anyone holding the master key can open the backups it sealed. If
/// it was the active key, new encrypted backups fall back to the master key until a new one is
/// created. Irreversible.
pub async fn revoke_org_key(
    pool: &PgPool,
    org_id: OrgId,
    key_uuid: Uuid,
) -> Result<RevokedKey, KeyError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let key: Option<(KeyStatus, i32, String)> = sqlx::query_as(
        "SELECT status, version, fingerprint FROM backup_encryption_keys WHERE org_id = $1 AND key_id = $2 FOR UPDATE",
    )
    .bind(org_id)
    .bind(key_uuid)
    .fetch_optional(&mut *tx)
    .await?;
    let (status, version, fingerprint) = key.ok_or(KeyError::KeyNotFound(key_uuid))?;
    if status == KeyStatus::Revoked {
        return Err(KeyError::AlreadyRevoked(key_uuid));
    }
    sqlx::query(
        "UPDATE backup_encryption_keys SET status = $3, revoked_at = now(), wrapped_key = ''::bytea
          WHERE org_id = $1 AND key_id = $2",
    )
    .bind(org_id)
    .bind(key_uuid)
    .bind(KeyStatus::Revoked)
    .execute(&mut *tx)
    .await?;
    let backups_unreadable: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM organization_backups WHERE org_id = $1 AND encryption_key_id = $2 AND status = $3",
    )
    .bind(org_id)
    .bind(org_key_id(org_id, key_uuid))
    .bind(BackupStatus::Completed)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RevokedKey {
        key_id: key_uuid,
        version,
        fingerprint,
        backups_unreadable,
    })
}

pub async fn list_org_keys(pool: &PgPool, org_id: OrgId) -> Result<Vec<OrgKeyInfo>, KeyError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let keys = sqlx::query_as(
        "SELECT k.key_id, k.name, k.version, k.fingerprint, k.status, k.created_at,
                (SELECT count(*) FROM organization_backups b
                  WHERE b.org_id = k.org_id AND b.status = $2
                    AND b.encryption_key_id = 'org:' || k.org_id || ':' || k.key_id) AS backups
           FROM backup_encryption_keys k WHERE k.org_id = $1 ORDER BY k.version",
    )
    .bind(org_id)
    .bind(BackupStatus::Completed)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(keys)
}

/// Loads and unwraps one of an org's keys; `None` when it does not exist or was revoked.
async fn load_org_key(
    pool: &PgPool,
    encryption: &crate::config::EncryptionSettings,
    org_id: OrgId,
    key_uuid: Uuid,
) -> Result<Option<KeyEncryptionKey>, KeyError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let wrapped: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT wrapped_key FROM backup_encryption_keys WHERE org_id = $1 AND key_id = $2 AND status <> $3",
    )
    .bind(org_id)
    .bind(key_uuid)
    .bind(KeyStatus::Revoked)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(wrapped) = wrapped else {
        return Ok(None);
    };
    let master = required_master_key(encryption)?;
    let key_id = org_key_id(org_id, key_uuid);
    master
        .unwrap_key(&BASE64.encode(&wrapped), &key_id)
        .map(Some)
        .map_err(|_| KeyError::CannotUnwrap { key_id })
}

/// The key a new encrypted backup of `org_id` is sealed with: the org's active custom key, else
/// the master key.
pub async fn encryption_setup(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
) -> Result<EncryptionSetup, KeyError> {
    let master = required_master_key(&settings.encryption)?;
    let mut tx = org_transaction(pool, org_id).await?;
    let active: Option<Uuid> = sqlx::query_scalar(
        "SELECT key_id FROM backup_encryption_keys WHERE org_id = $1 AND status = $2",
    )
    .bind(org_id)
    .bind(KeyStatus::Active)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    if let Some(key_uuid) = active
        && let Some(key) = load_org_key(pool, &settings.encryption, org_id, key_uuid).await?
    {
        return Ok(EncryptionSetup {
            key_id: org_key_id(org_id, key_uuid),
            key,
        });
    }
    Ok(EncryptionSetup {
        key_id: master_key_id(&master),
        key: master,
    })
}

/// Keys that can open archives: the master key, an org key named by the archive, and an extra key
/// supplied by the user.
pub struct KeyRing {
    keys: Vec<(String, KeyEncryptionKey)>,
}

impl KeyRing {
    pub fn new(
        encryption: &crate::config::EncryptionSettings,
        extra: Option<KeyEncryptionKey>,
    ) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        if let Some(master) = master_key(encryption)? {
            keys.push((master_key_id(&master), master));
        }
        if let Some(extra) = extra {
            keys.push((String::new(), extra));
        }
        Ok(Self { keys })
    }

    /// Adds the org key `key_id` names (`org:<org>:<key>`) when the database has it; other ids
    /// are left alone.
    pub async fn add_org_key(
        &mut self,
        pool: &PgPool,
        settings: &Settings,
        key_id: &str,
    ) -> Result<(), KeyError> {
        let mut parts = key_id.splitn(3, ':');
        let (Some("org"), Some(org), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(());
        };
        let (Ok(org_id), Ok(key_uuid)) = (org.parse::<OrgId>(), Uuid::parse_str(key)) else {
            return Ok(());
        };
        if let Some(key) = load_org_key(pool, &settings.encryption, org_id, key_uuid).await? {
            self.keys.insert(0, (key_id.to_string(), key));
        }
        Ok(())
    }

    /// The key for `key_id`: the one registered under that id, else the user's extra key (which
    /// the archive then accepts or rejects as the wrong key).
    pub fn find(&self, key_id: &str) -> Option<KeyEncryptionKey> {
        self.keys
            .iter()
            .find(|(id, _)| id == key_id)
            .or_else(|| self.keys.iter().find(|(id, _)| id.is_empty()))
            .map(|(_, key)| key.clone())
    }
}
