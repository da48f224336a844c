//! Users (argon2 password hashes), memberships with roles, and API tokens (stored as SHA-256 of a
//! 256-bit random secret, scoped to one org and a set of permissions, revocable).

use crate::db::org_transaction;
use crate::ids::OrgId;
use crate::permissions::{self, Permission, Role};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

const TOKEN_PREFIX: &str = "obr_";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error("no user with email {0}")]
    NoSuchUser(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Who is acting, in which org, allowed to do what.
#[derive(Clone, Debug)]
pub struct Principal {
    pub org_id: OrgId,
    pub user_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    /// How the audit log names the actor.
    pub label: String,
    pub permissions: Vec<Permission>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

pub async fn create_user(
    pool: &PgPool,
    email: &str,
    display_name: &str,
    password: Option<&str>,
    super_admin: bool,
) -> Result<Uuid, AccountError> {
    let hash = password.map(hash_password).transpose()?;
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO users (email, display_name, password_hash, is_super_admin) VALUES (lower($1), $2, $3, $4)
         ON CONFLICT (email) DO NOTHING RETURNING user_id",
    )
    .bind(email)
    .bind(display_name)
    .bind(hash)
    .bind(super_admin)
    .fetch_optional(pool)
    .await?;
    inserted.ok_or_else(|| AccountError::EmailTaken(email.to_string()))
}

pub async fn user_id_by_email(pool: &PgPool, email: &str) -> Result<Uuid, AccountError> {
    sqlx::query_scalar("SELECT user_id FROM users WHERE email = lower($1)")
        .bind(email)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(email.to_string()))
}

/// Adds the user to the org with `role`, or changes their role.
pub async fn set_membership(
    pool: &PgPool,
    org_id: OrgId,
    user_id: Uuid,
    role: Role,
) -> Result<(), AccountError> {
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A user's permissions in an org: none when not a member.
pub async fn member_permissions(
    pool: &PgPool,
    org_id: OrgId,
    user_id: Uuid,
) -> Result<Vec<Permission>, AccountError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT m.role, u.is_super_admin FROM memberships m JOIN users u USING (user_id) WHERE m.org_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match row {
        Some((role, super_admin)) => Role::parse(&role)
            .map(|r| permissions::for_member(r, super_admin))
            .unwrap_or_default(),
        None => Vec::new(),
    })
}

pub struct NewToken {
    pub token_id: Uuid,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub async fn create_token(
    pool: &PgPool,
    org_id: OrgId,
    user_id: Option<Uuid>,
    name: &str,
    permissions: &[Permission],
    expires_at: Option<DateTime<Utc>>,
) -> Result<NewToken, AccountError> {
    let secret = format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    let mut tx = org_transaction(pool, org_id).await?;
    let token_id: Uuid = sqlx::query_scalar(
        "INSERT INTO api_tokens (org_id, user_id, name, token_hash, permissions, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING token_id",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(name)
    .bind(token_hash(&secret))
    .bind(&names)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(NewToken { token_id, secret })
}

pub async fn revoke_token(
    pool: &PgPool,
    org_id: OrgId,
    token_id: Uuid,
) -> Result<bool, AccountError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let revoked = sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND org_id = $2 AND revoked_at IS NULL")
        .bind(token_id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(revoked == 1)
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_id: Uuid,
    org_id: OrgId,
    user_id: Option<Uuid>,
    name: String,
    permissions: Vec<String>,
}

/// The principal behind a bearer token, if the token is valid (known, not revoked, not expired).
/// A token bound to a user never grants more than the user's current role.
pub async fn authenticate_token(
    pool: &PgPool,
    secret: &str,
) -> Result<Option<Principal>, AccountError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    // The org is not known yet: the lookup by hash is the one query that spans orgs.
    let mut tx = crate::db::system_transaction(pool).await?;
    let row: Option<TokenRow> = sqlx::query_as(
        "UPDATE api_tokens SET last_used_at = now()
          WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
         RETURNING token_id, org_id, user_id, name, permissions",
    )
    .bind(token_hash(secret))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    let mut granted: Vec<Permission> = row
        .permissions
        .iter()
        .filter_map(|p| Permission::parse(p).ok())
        .collect();
    if let Some(user_id) = row.user_id {
        let allowed = member_permissions(pool, row.org_id, user_id).await?;
        granted.retain(|p| allowed.contains(p));
    }
    Ok(Some(Principal {
        org_id: row.org_id,
        user_id: row.user_id,
        token_id: Some(row.token_id),
        label: format!("token:{}", row.name),
        permissions: granted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    #[test]
    fn a_password_hash_verifies_only_its_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2"));
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
    }

    #[test]
    fn token_hashes_are_stable_and_do_not_contain_the_secret() {
        let hash = token_hash("obr_secret");
        assert_eq!(hash, token_hash("obr_secret"));
        assert!(!hash.contains("secret"));
    }
}
