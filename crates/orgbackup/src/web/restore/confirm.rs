//! Step 4: what will change, the last checks of a full restore, and the start.

use super::plan::compute_plan;
use super::{Choices, require_full};
use crate::http::AppState;
use crate::http::error::AppError;
use crate::web::form::{field, pairs};
use crate::web::session::WebUser;
use crate::web::{Layout, Tr, WebResult, render};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use orgbackup_engine::RestorePlan;
use orgbackup_service::ids::BackupId;
use orgbackup_service::jobs::RestoreOptions;
use orgbackup_service::permissions::Permission;
use orgbackup_service::restores::{self, RestoreAsked};

#[derive(Template)]
#[template(path = "restore_confirm.html")]
struct ConfirmPage {
    t: Tr,
    l: Layout,
    backup_id: BackupId,
    backup_name: String,
    choices: Choices,
    plan: RestorePlan,
    failed: bool,
}

impl ConfirmPage {
    fn total(&self, field: &str) -> i64 {
        self.plan.total(|t| match field {
            "insert" => t.insert,
            "replace" => t.replace,
            "merge" => t.merge,
            "skip" => t.skip,
            "delete" => t.delete,
            _ => 0,
        }) as i64
    }
}

async fn confirm_page(
    state: &AppState,
    user: &WebUser,
    backup_id: BackupId,
    choices: Choices,
    failed: bool,
) -> WebResult<Response> {
    let org = user.org_id();
    let plan = compute_plan(state, org, backup_id, &choices, 0).await?;
    let backup = crate::http::backups::find(state, org, backup_id).await?;
    let page = ConfirmPage {
        t: Tr::new(user.locale),
        l: Layout::of(state, user, "restore").await?,
        backup_id,
        backup_name: backup.name,
        choices,
        plan,
        failed,
    };
    Ok(render(&page))
}

/// The plan page posts here: the summary of what will change, and the last checks.
pub async fn confirm(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<BackupId>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    user.caller
        .require(&state, Permission::Restore, "restore.plan")
        .await?;
    let choices = Choices::read(&fields)?;
    require_full(&state, &user, &choices).await?;
    confirm_page(&state, &user, backup_id, choices, false).await
}

/// Queues the restore. A full restore also needs the org's name typed back and the user's
/// password: a second, deliberate step on top of the permission.
pub async fn start(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<BackupId>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    let choices = Choices::read(&fields)?;
    require_full(&state, &user, &choices).await?;
    if choices.full {
        let layout = Layout::of(&state, &user, "restore").await?;
        let typed = field(&fields, "confirm_org").unwrap_or_default().trim();
        let password = field(&fields, "password").unwrap_or_default();
        let user_id = user.caller.principal.user_id.expect("web users are users");
        let password_ok = crate::web::session::password_matches(&state, user_id, password).await?;
        if typed != layout.org_name() || !password_ok {
            orgbackup_service::audit::record(
                &state.pool,
                &orgbackup_service::audit::Entry::new(
                    &user.caller,
                    "restore.start",
                    orgbackup_service::audit::Outcome::Denied,
                )
                .detail("reason", "full restore not confirmed"),
            )
            .await;
            return confirm_page(&state, &user, backup_id, choices, true).await;
        }
    }
    let asked = RestoreAsked {
        backup_id,
        options: RestoreOptions {
            mode: choices.mode(),
            categories: choices.categories.clone(),
            conflicts: choices.conflicts,
            decisions: choices.decisions.clone(),
        },
    };
    let queued = restores::queue::request(&state.pool, &state.settings, &user.caller, asked)
        .await
        .map_err(AppError::from)?;
    let id = queued.restore_id;
    Ok(Redirect::to(&format!("/restores/{id}")).into_response())
}
