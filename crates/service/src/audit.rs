//! The audit log: every operation and every permission denial, with actor, org, time, IP and
//! outcome. Recording never fails the operation it describes: a failure to record is logged.

use crate::accounts::Principal;
use crate::db::org_transaction;
use crate::ids::OrgId;
use crate::permissions::Permission;
use serde_json::{Map, Value};
use sqlx::PgPool;

#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Who asked, and from where (for the audit log): a principal, and the request's client address
/// and user agent when it came over HTTP.
#[derive(Clone, Debug)]
pub struct Requester {
    pub principal: Principal,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who did it: a requester, or the service itself (scheduler, retention, CLI) under a label.
enum Actor<'a> {
    Caller(&'a Requester),
    System { org_id: OrgId, label: String },
}

pub struct Entry<'a> {
    actor: Actor<'a>,
    action: String,
    outcome: Outcome,
    entity: Option<(&'static str, String)>,
    details: Map<String, Value>,
}

impl<'a> Entry<'a> {
    pub fn new(caller: &'a Requester, action: &str, outcome: Outcome) -> Self {
        Self {
            actor: Actor::Caller(caller),
            action: action.to_string(),
            outcome,
            entity: None,
            details: Map::new(),
        }
    }

    /// An operation of the service itself, e.g. `label` = "scheduler" or "retention".
    pub fn system(org_id: OrgId, label: &str, action: &str, outcome: Outcome) -> Self {
        Self {
            actor: Actor::System {
                org_id,
                label: label.to_string(),
            },
            action: action.to_string(),
            outcome,
            entity: None,
            details: Map::new(),
        }
    }

    pub fn entity(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.entity = Some((kind, id.to_string()));
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

/// A requester without the permission an operation needs; the denial is in the audit log.
#[derive(Debug, thiserror::Error)]
#[error("this requester lacks the permission {0}")]
pub struct Denied(pub Permission);

/// Fails, and records the denial under `action`, unless the requester has `permission`. Every
/// use case calls it, so an edge (API, web, CLI) cannot skip a permission by calling it directly.
pub async fn require(
    pool: &PgPool,
    requester: &Requester,
    permission: Permission,
    action: &str,
) -> Result<(), Denied> {
    if requester.principal.can(permission) {
        return Ok(());
    }
    record(
        pool,
        &Entry::new(requester, action, Outcome::Denied).detail("missing", permission.as_str()),
    )
    .await;
    Err(Denied(permission))
}

pub async fn record(pool: &PgPool, entry: &Entry<'_>) {
    let (org_id, user_id, token_id, label, ip, user_agent) = match &entry.actor {
        Actor::Caller(caller) => (
            caller.principal.org_id,
            caller.principal.user_id,
            caller.principal.token_id,
            caller.principal.label.as_str(),
            caller.ip.as_deref(),
            caller.user_agent.as_deref(),
        ),
        Actor::System { org_id, label } => (*org_id, None, None, label.as_str(), None, None),
    };
    let result = async {
        let mut tx = org_transaction(pool, org_id).await?;
        sqlx::query(
            "INSERT INTO backup_audit_logs (org_id, actor_user_id, actor_token_id, actor_label, action, entity_type,
                                            entity_id, outcome, ip_address, user_agent, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11)",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(token_id)
        .bind(label)
        .bind(&entry.action)
        .bind(entry.entity.as_ref().map(|e| e.0))
        .bind(entry.entity.as_ref().map(|e| e.1.clone()))
        .bind(entry.outcome.as_str())
        .bind(ip)
        .bind(user_agent)
        .bind(Value::Object(entry.details.clone()))
    .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .await;
    if let Err(error) = result {
        tracing::error!(%error, action = %entry.action, "could not record an audit entry");
    }
}

/// One entry of the audit log: who did what, to what, with what outcome.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub log_id: i64,
    pub actor_user_id: Option<uuid::Uuid>,
    pub actor_token_id: Option<uuid::Uuid>,
    pub actor_label: String,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub outcome: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Which entries to read: only an action, only an outcome (`None`: all).
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub action: Option<&'a str>,
    pub outcome: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// `limit` entries of the requester's org from `offset`, newest first (needs `backup.view_logs`).
pub async fn entries(
    pool: &PgPool,
    requester: &Requester,
    filter: &AuditFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditEntry>, ReadError> {
    require(pool, requester, Permission::ViewLogs, "audit.view").await?;
    let org_id = requester.principal.org_id;
    let mut tx = org_transaction(pool, org_id).await?;
    let entries = sqlx::query_as(
        "SELECT log_id, actor_user_id, actor_token_id, actor_label, action, entity_type, entity_id, outcome,
                host(ip_address) AS ip_address, user_agent, details, created_at
           FROM backup_audit_logs
          WHERE org_id = $1 AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR outcome = $3)
          ORDER BY log_id DESC LIMIT $4 OFFSET $5",
    )
    .bind(org_id)
    .bind(filter.action)
    .bind(filter.outcome)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(entries)
}
