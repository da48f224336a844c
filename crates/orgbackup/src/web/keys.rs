//! The org's encryption keys (Enterprise): list with the backups each sealed, rotate, and revoke
//! (crypto-shredding), which needs `backup.restore_full` and the key's fingerprint typed back.

use super::form::{field, pairs};
use super::session::WebUser;
use super::{Layout, Tr, WebResult, render};
use crate::http::AppState;
use crate::http::error::AppError;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::keys::{self, KeyError, OrgKeyInfo};
use orgbackup_service::permissions::Permission;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    t: Tr,
    l: Layout,
    keys: Vec<OrgKeyInfo>,
    plan_allows: bool,
    can_revoke: bool,
    error: String,
}

async fn page(state: &AppState, user: &WebUser, error: String) -> WebResult<Response> {
    user.caller
        .require(state, Permission::Schedule, "keys.list")
        .await?;
    let usage = orgbackup_service::plans::usage(&state.pool, &state.settings.plans, user.org_id())
        .await
        .map_err(|e| super::WebError::Internal(e.into()))?;
    let view = KeysPage {
        t: Tr::new(user.locale),
        l: Layout::of(state, user, "keys").await?,
        keys: keys::list_org_keys(&state.pool, user.org_id()).await?,
        plan_allows: usage.limits.custom_keys,
        can_revoke: user.can(Permission::RestoreFull),
        error,
    };
    Ok(render(&view))
}

pub async fn index(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    page(&state, &user, String::new()).await
}

pub async fn rotate(
    State(state): State<AppState>,
    user: WebUser,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    user.caller
        .require(&state, Permission::Schedule, "keys.rotate")
        .await?;
    let name = field(&fields, "name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("custom key");
    match keys::create_org_key(&state.pool, &state.settings, user.org_id(), name).await {
        Ok(key) => {
            audit::record(
                &state.pool,
                &Entry::new(&user.caller, "keys.rotate", Outcome::Success)
                    .entity("key", key.key_id),
            )
            .await;
            Ok(Redirect::to("/keys").into_response())
        }
        Err(error @ (KeyError::NotOnPlan { .. } | KeyError::NoMasterKey)) => {
            page(&state, &user, error.to_string()).await
        }
        Err(other) => Err(AppError::from(other).into()),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    user.caller
        .require(&state, Permission::Schedule, "keys.revoke")
        .await?;
    user.caller
        .require(&state, Permission::RestoreFull, "keys.revoke")
        .await?;
    let listed = keys::list_org_keys(&state.pool, user.org_id()).await?;
    let key = listed
        .iter()
        .find(|k| k.key_id == id)
        .ok_or(super::WebError::NotFound)?;
    if field(&fields, "confirm").map(str::trim) != Some(key.fingerprint.as_str()) {
        let t = Tr::new(user.locale);
        return page(&state, &user, t.t("key-revoke-unconfirmed")).await;
    }
    let revoked = keys::revoke_org_key(&state.pool, user.org_id(), id).await?;
    audit::record(
        &state.pool,
        &Entry::new(&user.caller, "keys.revoke", Outcome::Success)
            .entity("key", id)
            .detail("backups_unreadable", revoked.backups_unreadable),
    )
    .await;
    Ok(Redirect::to("/keys").into_response())
}
