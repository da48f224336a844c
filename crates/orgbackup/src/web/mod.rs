//! The web UI: server-rendered pages (askama, auto-escaped), English and Arabic, on the same
//! service, permissions and audit log as the API. Live progress is htmx polling a fragment;
//! every asset is embedded in the binary (no CDN).

mod audit;
mod backups;
mod form;
mod i18n;
mod keys;
mod notifications;
mod pages;
mod restore;
mod schedules;
pub mod session;
mod storage;
mod throttle;

use crate::http::AppState;
use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use i18n::Tr;
use orgbackup_service::ids::OrgId;
use orgbackup_service::permissions::Permission;
use session::WebUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/org", post(pages::switch_org))
        .route("/locale", post(pages::switch_locale))
        .route("/backups", get(backups::index).post(backups::create))
        .route("/backups/{id}", get(backups::show))
        .route("/backups/{id}/progress", get(backups::progress))
        .route("/backups/{id}/download", get(backups::download))
        .route("/restore", get(restore::choose))
        .route(
            "/restore/upload",
            // The upload enforces its own limits (plan storage, upload.max_bytes) while streaming.
            post(restore::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/restore/{backup_id}", get(restore::analyze))
        .route("/restore/{backup_id}/plan", get(restore::plan))
        .route("/restore/{backup_id}/confirm", post(restore::confirm))
        .route("/restore/{backup_id}/start", post(restore::start))
        .route("/restores/{id}", get(restore::status))
        .route("/restores/{id}/progress", get(restore::progress))
        .route("/restores/{id}/rollback", post(restore::rollback))
        .route("/audit", get(audit::index))
        .route("/settings/storage", get(storage::index))
        .route("/settings/storage/s3", post(storage::add_s3))
        .route("/settings/storage/connect", post(storage::connect))
        .route("/settings/storage/{id}", post(storage::change))
        .route("/schedules", get(schedules::index).post(schedules::create))
        .route("/schedules/{id}", post(schedules::change))
        .route("/keys", get(keys::index).post(keys::rotate))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/notifications", get(notifications::inbox))
        .route("/notifications/{id}/read", post(notifications::mark_read))
        .route(
            "/settings/notifications",
            get(notifications::settings).post(notifications::save_settings),
        )
        .route("/assets/{name}", get(asset))
        .layer(axum::middleware::from_fn(with_page_locale))
}

/// The language of pages, also for visitors not signed in and for error pages: the `obr_lang`
/// cookie, set at sign-in and by the language switch.
pub const LANG_COOKIE: &str = "obr_lang";

tokio::task_local! {
    static PAGE_LOCALE: orgbackup_service::i18n::Locale;
}

pub fn page_locale() -> orgbackup_service::i18n::Locale {
    PAGE_LOCALE.try_with(|l| *l).unwrap_or_default()
}

async fn with_page_locale(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let locale = session::cookie(&parts, LANG_COOKIE)
        .and_then(|l| orgbackup_service::i18n::Locale::parse(&l).ok())
        .unwrap_or_default();
    let request = axum::extract::Request::from_parts(parts, body);
    PAGE_LOCALE.scope(locale, next.run(request)).await
}

pub type WebResult<T> = Result<T, WebError>;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("sign in first")]
    SignIn,
    #[error("the form is out of date (CSRF token)")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("this account is not a member of any organization")]
    NoOrganization,
    /// 429: too many failed sign-ins of this account or from this address.
    #[error("too many failed sign-ins; try again in {retry_after} seconds")]
    Throttled { retry_after: u64 },
    /// An API error, shown as a page with its translated message.
    #[error(transparent)]
    App(#[from] crate::http::error::AppError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for WebError {
    fn from(error: sqlx::Error) -> Self {
        WebError::Internal(error.into())
    }
}

impl From<orgbackup_service::keys::KeyError> for WebError {
    fn from(error: orgbackup_service::keys::KeyError) -> Self {
        WebError::App(error.into())
    }
}

impl From<orgbackup_service::accounts::AccountError> for WebError {
    fn from(error: orgbackup_service::accounts::AccountError) -> Self {
        WebError::Internal(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: Tr,
    status: u16,
    message: String,
    detail: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        use crate::http::error::AppError;
        let (status, code, detail) = match &self {
            WebError::SignIn => return Redirect::to("/login").into_response(),
            WebError::Csrf => (StatusCode::FORBIDDEN, "csrf", String::new()),
            WebError::NotFound | WebError::App(AppError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "not_found", String::new())
            }
            WebError::NoOrganization => (StatusCode::FORBIDDEN, "no_organization", String::new()),
            WebError::Throttled { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sign_in_attempts",
                self.to_string(),
            ),
            WebError::App(AppError::Forbidden(p)) => {
                (StatusCode::FORBIDDEN, "forbidden", p.as_str().to_string())
            }
            WebError::App(AppError::Invalid { code, message }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, *code, message.clone())
            }
            WebError::App(AppError::Conflict(message)) => {
                (StatusCode::CONFLICT, "conflict", message.clone())
            }
            WebError::App(AppError::TooLarge(message)) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large", message.clone())
            }
            WebError::App(AppError::StorageUnavailable(message)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                message.clone(),
            ),
            WebError::App(AppError::Unauthorized) => {
                return Redirect::to("/login").into_response();
            }
            WebError::App(AppError::Internal(error)) | WebError::Internal(error) => {
                tracing::error!(error = %crate::terminal::error_chain(error), "page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", String::new())
            }
        };
        let t = Tr::new(page_locale());
        let page = ErrorPage {
            t,
            status: status.as_u16(),
            message: match code {
                "csrf" => t.t("error-csrf"),
                "no_organization" => t.t("error-no-organization"),
                other => t.problem(other),
            },
            detail,
        };
        let mut response = (status, render(&page)).into_response();
        if let WebError::Throttled { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
        }
        response
    }
}

/// Renders a template; a template error is a bug, logged and shown as a plain 500.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What every page's frame shows: who is signed in, in which org, what they may reach.
pub struct Layout {
    pub email: String,
    pub csrf: String,
    pub org_id: OrgId,
    pub orgs: Vec<orgbackup_service::orgs::Org>,
    pub can_view_logs: bool,
    pub can_restore: bool,
    pub can_schedule: bool,
    pub current: &'static str,
}

impl Layout {
    pub async fn of(state: &AppState, user: &WebUser, current: &'static str) -> WebResult<Self> {
        let user_id = user.caller.principal.user_id.expect("web users are users");
        Ok(Layout {
            email: user.email.clone(),
            csrf: user.csrf.clone(),
            org_id: user.org_id(),
            orgs: session::user_orgs(state, user_id).await?,
            can_view_logs: user.can(Permission::ViewLogs),
            can_restore: user.can(Permission::Restore),
            can_schedule: user.can(Permission::Schedule),
            current,
        })
    }

    pub fn org_name(&self) -> &str {
        self.orgs
            .iter()
            .find(|o| o.org_id == self.org_id)
            .map_or("", |o| o.name.as_str())
    }

    /// `aria-current` for the navigation link of the page being shown.
    pub fn aria_current(&self, page: &str) -> &'static str {
        if page == self.current {
            "page"
        } else {
            "false"
        }
    }
}

const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const CSS: &str = include_str!("../../assets/app.css");

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let cache = (header::CACHE_CONTROL, "public, max-age=3600");
    match name.as_str() {
        "htmx.min.js" => ([(header::CONTENT_TYPE, "text/javascript"), cache], HTMX).into_response(),
        "app.css" => ([(header::CONTENT_TYPE, "text/css"), cache], CSS).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
