//! The org a restore works for, re-checked before every write.
//!
//! Row-level security and every org filter read the org from the session setting, so anything
//! that changes the setting mid-transaction (a hostile archive once could, through a CHECK
//! expression in a staging column's "type") would redirect the restore to another org's rows.
//! Nothing from an archive reaches SQL text any more; this is the second wall: the setting is
//! verified before each statement that writes live rows and before COMMIT, and the restore fails,
//! writing nothing, if it changed.

use crate::error::Error;
use crate::org_id::OrgId;
use sqlx::PgConnection;

pub(super) struct OrgContext<'a> {
    pub setting: &'a str,
    pub org_id: &'a OrgId,
}

impl OrgContext<'_> {
    /// Sets the org for the rest of the transaction.
    pub async fn assert(&self, conn: &mut PgConnection) -> Result<(), Error> {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(self.setting)
            .bind(self.org_id.as_str())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Fails when the session's org setting is no longer this restore's org.
    pub async fn verify(&self, conn: &mut PgConnection) -> Result<(), Error> {
        let now: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
            .bind(self.setting)
            .fetch_one(&mut *conn)
            .await?;
        if now.as_deref() == Some(self.org_id.as_str()) {
            Ok(())
        } else {
            Err(Error::Restore(format!(
                "the organization setting {} changed during the restore (from {} to {}): something in the database or the archive tried to switch organizations; nothing was written",
                self.setting,
                self.org_id,
                now.as_deref().unwrap_or("unset")
            )))
        }
    }
}
