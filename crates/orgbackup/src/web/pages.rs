//! Sign-in, the org and language switches, and the dashboard.

use super::session::{self, LOGIN_CSRF_COOKIE, SESSION_COOKIE, WebUser};
use super::throttle::{self, Attempt};
use super::{LANG_COOKIE, Layout, Tr, WebError, WebResult, page_locale, render};
use crate::http::AppState;
use crate::http::error::AppError;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use orgbackup_service::backups::{self, Backup};
use orgbackup_service::i18n::Locale;
use orgbackup_service::ids::OrgId;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    csrf: String,
    failed: bool,
    email: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    lang: Option<String>,
}

/// The sign-in form. `?lang=ar` switches its language (and remembers it in a cookie).
pub async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    let locale = query
        .lang
        .as_deref()
        .and_then(|l| Locale::parse(l).ok())
        .unwrap_or_else(page_locale);
    login_form(locale, false, String::new())
}

fn login_form(locale: Locale, failed: bool, email: String) -> Response {
    let csrf = session::random_secret();
    let page = LoginPage {
        t: Tr::new(locale),
        csrf: csrf.clone(),
        failed,
        email,
    };
    (
        AppendHeaders([
            (
                header::SET_COOKIE,
                session::set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600),
            ),
            (
                header::SET_COOKIE,
                session::set_cookie(LANG_COOKIE, locale.as_str(), 365 * 86400),
            ),
        ]),
        render(&page),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let expected = session::cookie(&parts, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same_secret(&expected, &form.csrf) {
        return Err(WebError::Csrf);
    }
    let (address, _) =
        crate::http::auth::client_of(&parts, state.settings.http.trust_forwarded_for);
    let attempt = throttle::begin(
        &state.pool,
        &state.settings.http,
        &form.email,
        address.as_deref(),
    )
    .await?;
    let attempt = match attempt {
        Attempt::Allowed { id } => id,
        Attempt::Refused { retry_after } => {
            tracing::warn!(?address, retry_after, "sign-in throttled");
            return Err(WebError::Throttled { retry_after });
        }
    };
    let Some(secret) = session::sign_in(&state, &form.email, &form.password).await? else {
        tracing::info!("a sign-in failed");
        return Ok(login_form(page_locale(), true, form.email));
    };
    throttle::succeeded(&state.pool, attempt, &form.email).await?;
    Ok((
        AppendHeaders([
            (
                header::SET_COOKIE,
                session::set_cookie(SESSION_COOKIE, &secret, session::session_max_age()),
            ),
            (
                header::SET_COOKIE,
                session::set_cookie(LOGIN_CSRF_COOKIE, "", 0),
            ),
        ]),
        Redirect::to("/"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    user: WebUser,
    Form(form): Form<CsrfForm>,
) -> WebResult<Response> {
    user.check_csrf(form.csrf.as_deref())?;
    user.sign_out(&state.pool).await?;
    Ok((
        AppendHeaders([(
            header::SET_COOKIE,
            session::set_cookie(SESSION_COOKIE, "", 0),
        )]),
        Redirect::to("/login"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct OrgForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    org_id: OrgId,
}

pub async fn switch_org(
    State(state): State<AppState>,
    user: WebUser,
    Form(form): Form<OrgForm>,
) -> WebResult<Redirect> {
    user.check_csrf(form.csrf.as_deref())?;
    user.switch_org(&state.pool, form.org_id).await?;
    Ok(Redirect::to("/"))
}

#[derive(Deserialize)]
pub struct LocaleForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    locale: String,
    /// Where to go back to (a path of this site only).
    back: Option<String>,
}

pub async fn switch_locale(
    State(state): State<AppState>,
    user: WebUser,
    Form(form): Form<LocaleForm>,
) -> WebResult<Response> {
    user.check_csrf(form.csrf.as_deref())?;
    let locale = Locale::parse(&form.locale).map_err(|_| WebError::NotFound)?;
    user.switch_locale(&state.pool, locale).await?;
    // Only local paths: an open redirect would let a link send users anywhere.
    let back = form
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    Ok((
        AppendHeaders([(
            header::SET_COOKIE,
            session::set_cookie(LANG_COOKIE, locale.as_str(), 365 * 86400),
        )]),
        Redirect::to(&back),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    t: Tr,
    l: Layout,
    recent: Vec<Backup>,
    failures: Vec<Backup>,
    plan: String,
    used: i64,
    quota: i64,
    used_percent: i64,
    next_run: Option<(String, DateTime<Utc>)>,
}

pub async fn dashboard(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let org = user.org_id();
    let usage = orgbackup_service::plans::usage(&state.pool, &state.settings.plans, org)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let (recent, _) = backups::records::page(&state.pool, org, 5, 0).await?;
    let failures = backups::records::recent_failures(&state.pool, org, 5).await?;
    let next_run = orgbackup_service::schedules::next_run(&state.pool, org)
        .await
        .map_err(AppError::from)?;
    let quota = usage.limits.storage_bytes as i64;
    let used = usage.storage_used as i64;
    let page = Dashboard {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "dashboard").await?,
        recent,
        failures,
        plan: usage.plan,
        used,
        quota,
        used_percent: if quota > 0 {
            (used * 100 / quota).min(100)
        } else {
            100
        },
        next_run,
    };
    Ok(render(&page))
}
