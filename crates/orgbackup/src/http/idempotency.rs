//! `Idempotency-Key` for mutating calls (backup create, restore start): a retried request with the
//! same key and the same body gets the first response back instead of queuing a second job.
//!
//! The key is locked for the rest of the caller's transaction (`pg_advisory_xact_lock`), so two
//! concurrent requests with one key do not both queue: the second waits, then replays the first.

use super::error::{AppError, Result};
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use orgbackup_service::ids::OrgId;
use serde_json::Value;
use sqlx::PgConnection;

const MAX_KEY_LEN: usize = 255;

pub struct IdempotencyKey {
    key: String,
    /// The route and the request body: a key reused for a different request is refused.
    request: String,
}

impl IdempotencyKey {
    /// The request's key, if it sent one. `route` and `request` identify what the key stands for.
    pub fn from_headers(
        headers: &HeaderMap,
        route: &str,
        request: &impl serde::Serialize,
    ) -> Result<Option<Self>> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
            .ok_or_else(|| AppError::Invalid {
                code: "invalid_idempotency_key",
                message: format!(
                    "the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters, such as a UUID"
                ),
            })?;
        let body = serde_json::to_string(request).map_err(|e| AppError::Internal(e.into()))?;
        Ok(Some(Self {
            key: key.to_string(),
            request: format!("{route} {body}"),
        }))
    }

    /// Locks the key for the transaction and returns the saved response of an earlier request
    /// with this key, if there was one.
    pub async fn replay(
        &self,
        tx: &mut PgConnection,
        org: OrgId,
    ) -> Result<Option<(StatusCode, Json<Value>)>> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))")
            .bind(org.to_string())
            .bind(&self.key)
            .execute(&mut *tx)
            .await?;
        let saved: Option<(String, i32, Value)> = sqlx::query_as(
            "SELECT request_hash, status_code, response FROM idempotency_keys WHERE org_id = $1 AND key = $2",
        )
        .bind(org)
        .bind(&self.key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((request, status, response)) = saved else {
            return Ok(None);
        };
        if request != self.request {
            return Err(AppError::Invalid {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request; send a new key for a new request".into(),
            });
        }
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::ACCEPTED);
        Ok(Some((status, Json(response))))
    }

    /// Saves the response in the same transaction as the work it describes.
    pub async fn save(
        &self,
        tx: &mut PgConnection,
        org: OrgId,
        status: StatusCode,
        response: &Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency_keys (org_id, key, request_hash, status_code, response) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org)
        .bind(&self.key)
        .bind(&self.request)
        .bind(i32::from(status.as_u16()))
        .bind(response)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
