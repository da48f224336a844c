//! The audit log page: every operation and denial of the org, filterable, paged.

use super::session::WebUser;
use super::{Layout, Tr, WebResult, render};
use crate::http::AppState;
use crate::http::audit_log::{self, AuditEntry, Filter};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

const PER_PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    t: Tr,
    l: Layout,
    entries: Vec<AuditEntry>,
    action: String,
    outcome: String,
    page: u32,
    has_next: bool,
}

impl AuditPage {
    /// The link to another page with the same filters.
    fn page_link(&self, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("action", &self.action);
        query.append_pair("outcome", &self.outcome);
        query.append_pair("page", &page.to_string());
        format!("/audit?{}", query.finish())
    }

    fn outcomes(&self) -> [&'static str; 3] {
        ["success", "failure", "denied"]
    }
}

pub async fn index(
    State(state): State<AppState>,
    user: WebUser,
    Query(mut filter): Query<Filter>,
) -> WebResult<Response> {
    filter.per_page = Some(PER_PAGE);
    let (entries, page, _) = audit_log::entries(&state, &user.caller, &filter).await?;
    let page = AuditPage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "audit").await?,
        has_next: entries.len() as u32 == PER_PAGE,
        entries,
        action: filter.action.unwrap_or_default(),
        outcome: filter.outcome.unwrap_or_default(),
        page,
    };
    Ok(render(&page))
}
