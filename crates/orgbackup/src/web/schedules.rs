//! The schedules page: the org's schedules with their next runs (in the schedule's zone), a form
//! to add one, pause/resume and delete. Everything needs `backup.schedule`, as in the API; the
//! plan's allowed frequencies are the only ones offered.

use super::form;
use super::session::WebUser;
use super::{Layout, Tr, WebError, WebResult, render};
use crate::http::AppState;
use crate::http::error::AppError;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::ids::ScheduleId;
use orgbackup_service::permissions::Permission;
use orgbackup_service::schedules::{self, Frequency, ScheduleInput, ScheduleView, SchedulesError};

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    t: Tr,
    l: Layout,
    schedules: Vec<ScheduleView>,
    frequencies: Vec<&'static str>,
    categories: Vec<String>,
    encryption_available: bool,
    error: String,
}

impl SchedulesPage {
    fn weekdays(&self) -> [(i16, &'static str); 7] {
        [
            (1, "weekday-1"),
            (2, "weekday-2"),
            (3, "weekday-3"),
            (4, "weekday-4"),
            (5, "weekday-5"),
            (6, "weekday-6"),
            (0, "weekday-0"),
        ]
    }

    /// "Daily at 02:30 (Europe/Berlin)" in the page's language.
    fn describe(&self, view: &ScheduleView) -> String {
        let s = &view.schedule;
        let time = s
            .time_of_day
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_else(|| "00:00".into());
        let rule = match s.frequency.as_str() {
            "hourly" => self.t.with("every-hour", "minute", &time[3..]),
            "daily" => format!(
                "{} {}",
                self.t.of("frequency", "daily"),
                self.t.with("every-day", "time", &time)
            ),
            "weekly" => {
                let day = self.t.t(&format!("weekday-{}", s.day_of_week.unwrap_or(0)));
                format!("{} · {}", day, self.t.with("every-day", "time", &time))
            }
            "monthly" => format!(
                "{} · {}",
                self.t
                    .count("day-of-month", i64::from(s.day_of_month.unwrap_or(1))),
                time
            ),
            _ => s.cron_expression.clone().unwrap_or_default(),
        };
        format!("{rule} ({})", s.timezone)
    }
}

async fn page(state: &AppState, user: &WebUser, error: String) -> WebResult<Response> {
    user.caller
        .require(state, Permission::Schedule, "schedule.list")
        .await?;
    let org = user.org_id();
    let usage = orgbackup_service::plans::usage(&state.pool, &state.settings.plans, org)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let categories = {
        let mut conn = state.pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, &state.settings.tenancy)
            .await
            .map_err(|e| WebError::Internal(e.into()))?
            .categories()
    };
    let schedules = schedules::list(&state.pool, org)
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(schedules::view)
        .collect();
    let view = SchedulesPage {
        t: Tr::new(user.locale),
        l: Layout::of(state, user, "schedules").await?,
        schedules,
        frequencies: Frequency::ALL
            .into_iter()
            .filter(|f| usage.limits.allows_schedule(*f))
            .map(Frequency::as_str)
            .collect(),
        categories,
        encryption_available: state.settings.encryption.master_key.is_some(),
        error,
    };
    Ok(render(&view))
}

pub async fn index(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    page(&state, &user, String::new()).await
}

/// A field's trimmed value; an empty field counts as absent.
fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    form::field(fields, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Errors a user can fix are shown on the form; others are error pages.
async fn or_form_error<T>(
    state: &AppState,
    user: &WebUser,
    result: Result<T, SchedulesError>,
) -> WebResult<Result<T, Response>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => match AppError::from(error) {
            AppError::Invalid { message, .. } | AppError::Conflict(message) => {
                Ok(Err(page(state, user, message).await?))
            }
            other => Err(other.into()),
        },
    }
}

pub async fn create(
    State(state): State<AppState>,
    user: WebUser,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = form::pairs(&body);
    user.check_csrf(field(&fields, "_csrf").as_deref())?;
    user.caller
        .require(&state, Permission::Schedule, "schedule.create")
        .await?;
    let bad = |e: schedules::ScheduleError| SchedulesError::Timing(e);
    let input = (|| -> Result<ScheduleInput, SchedulesError> {
        Ok(ScheduleInput {
            name: field(&fields, "name"),
            frequency: field(&fields, "frequency")
                .map(|f| f.parse())
                .transpose()
                .map_err(bad)?,
            time_of_day: field(&fields, "time_of_day")
                .map(|t| schedules::timing::parse_time_of_day(&t))
                .transpose()
                .map_err(bad)?,
            day_of_week: field(&fields, "day_of_week").and_then(|d| d.parse().ok()),
            day_of_month: field(&fields, "day_of_month").and_then(|d| d.parse().ok()),
            timezone: field(&fields, "timezone"),
            cron_expression: field(&fields, "cron_expression"),
            categories: Some(form::all(&fields, "categories")),
            destination: None,
            encrypt: Some(field(&fields, "encrypt").is_some()),
            is_active: Some(true),
        })
    })();
    let input = match or_form_error(&state, &user, input).await? {
        Ok(input) => input,
        Err(page) => return Ok(page),
    };
    let created = schedules::create(
        &state.pool,
        &state.settings,
        user.org_id(),
        input,
        user.caller.principal.user_id,
    )
    .await;
    let created = match or_form_error(&state, &user, created).await? {
        Ok(created) => created,
        Err(page) => return Ok(page),
    };
    audit::record(
        &state.pool,
        &Entry::new(&user.caller, "schedule.create", Outcome::Success)
            .entity("schedule", created.schedule_id),
    )
    .await;
    Ok(Redirect::to("/schedules").into_response())
}

/// Pause, resume or delete one schedule (`action` = pause | resume | delete).
pub async fn change(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<ScheduleId>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = form::pairs(&body);
    user.check_csrf(field(&fields, "_csrf").as_deref())?;
    let org = user.org_id();
    let action = field(&fields, "action").unwrap_or_default();
    let audited = match action.as_str() {
        "delete" => "schedule.delete",
        _ => "schedule.update",
    };
    user.caller
        .require(&state, Permission::Schedule, audited)
        .await?;
    let result = match action.as_str() {
        "delete" => schedules::delete(&state.pool, org, id).await,
        "pause" | "resume" => {
            let input = ScheduleInput {
                is_active: Some(action == "resume"),
                ..Default::default()
            };
            schedules::update(&state.pool, &state.settings, org, id, input)
                .await
                .map(|_| ())
        }
        _ => return Err(WebError::NotFound),
    };
    if let Err(page) = or_form_error(&state, &user, result).await? {
        return Ok(page);
    }
    audit::record(
        &state.pool,
        &Entry::new(&user.caller, audited, Outcome::Success).entity("schedule", id),
    )
    .await;
    Ok(Redirect::to("/schedules").into_response())
}
