//! Progress of a backup or restore run by a worker, stored on its row (at most twice a second) so
//! the API can show it: percent of tables, phase, current table, rows and bytes.

use crate::db::org_transaction;
use crate::ids::{BackupId, OrgId, RestoreId};
use crate::states::{BackupStatus, RestoreStatus};
use orgbackup_engine::{BackupProgress, Progress, RestoreProgress};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;

pub struct ProgressStore {
    latest: watch::Sender<Option<Value>>,
    writer: tokio::task::JoinHandle<()>,
}

/// The row progress is stored on.
#[derive(Clone, Copy)]
pub enum ProgressRow {
    Backup(BackupId),
    Restore(RestoreId),
}

impl ProgressStore {
    pub fn start(pool: PgPool, org_id: OrgId, row: ProgressRow) -> Self {
        let (latest, mut changes) = watch::channel(None::<Value>);
        let writer = tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let value = changes.borrow_and_update().clone();
                let stored = async {
                    let mut tx = org_transaction(&pool, org_id).await?;
                    let query = match row {
                        ProgressRow::Backup(id) => sqlx::query(
                            "UPDATE organization_backups SET progress = $2, updated_at = now() WHERE backup_id = $1 AND status = $3",
                        )
                        .bind(id)
                        .bind(value)
                        .bind(BackupStatus::Running),
                        ProgressRow::Restore(id) => sqlx::query(
                            "UPDATE backup_restores SET progress = $2, updated_at = now() WHERE restore_id = $1 AND status = $3",
                        )
                        .bind(id)
                        .bind(value)
                        .bind(RestoreStatus::Running),
                    };
                    query
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                }
                .await;
                if let Err(error) = stored {
                    tracing::warn!(%error, "could not store progress");
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        });
        Self { latest, writer }
    }

    pub async fn stop(&self) {
        self.writer.abort();
    }
}

impl Progress for ProgressStore {
    fn backup(&self, p: &BackupProgress) {
        let percent = (p.tables_done * 100)
            .checked_div(p.tables_total)
            .unwrap_or(0);
        let _ = self.latest.send(Some(json!({
            "percent": percent,
            "tables_done": p.tables_done,
            "tables_total": p.tables_total,
            "current_table": p.current_table,
            "rows": p.rows,
            "bytes": p.bytes_read,
        })));
    }

    fn restore(&self, p: &RestoreProgress) {
        let percent = (p.tables_done * 100)
            .checked_div(p.tables_total)
            .unwrap_or(0);
        let _ = self.latest.send(Some(json!({
            "percent": percent,
            "phase": p.phase,
            "tables_done": p.tables_done,
            "tables_total": p.tables_total,
            "current_table": p.current_table,
            "rows": p.rows,
        })));
    }
}
