//! `/api/v1/schedules`: the org's backup schedules, each shown with its next five runs (UTC and
//! the schedule's local time). Every route takes `backup.schedule`.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::ids::ScheduleId;
use orgbackup_service::permissions::Permission;
use orgbackup_service::schedules::timing::parse_time_of_day;
use orgbackup_service::schedules::{
    self, ScheduleError, ScheduleInput, ScheduleView, SchedulesError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
}

impl From<SchedulesError> for AppError {
    fn from(error: SchedulesError) -> Self {
        let message = error.to_string();
        match error {
            SchedulesError::Timing(_) | SchedulesError::Incomplete => AppError::Invalid {
                code: "invalid_schedule",
                message,
            },
            SchedulesError::FrequencyNotInPlan { .. } => AppError::Invalid {
                code: "plan_schedule_unavailable",
                message,
            },
            SchedulesError::UnknownCategory { .. } => AppError::Invalid {
                code: "unknown_category",
                message,
            },
            SchedulesError::EncryptionUnavailable => AppError::Invalid {
                code: "encryption_unavailable",
                message,
            },
            SchedulesError::DuplicateName(_) => AppError::Conflict(message),
            SchedulesError::NotFound(_) => AppError::NotFound("schedule"),
            SchedulesError::Destination(storage) => storage.into(),
            SchedulesError::Plan(e) => AppError::Internal(e.into()),
            SchedulesError::Discovery(e) => AppError::Internal(e.into()),
            SchedulesError::Sql(e) => AppError::Internal(e.into()),
        }
    }
}

/// A schedule as a request gives it; on update, absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScheduleInput)]
struct ScheduleBody {
    /// Unique in the organization (required on create).
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// Required on create.
    #[schema(value_type = Option<orgbackup_service::config::plans::Frequency>)]
    frequency: Option<String>,
    /// `HH:MM`, local.
    #[schema(pattern = "^[0-9]{2}:[0-9]{2}$", example = "02:30")]
    time_of_day: Option<String>,
    /// Weekly: 0 (Sunday) to 6.
    #[schema(minimum = 0, maximum = 6)]
    day_of_week: Option<i64>,
    /// Monthly: 1 to 31 (a shorter month runs on its last day).
    #[schema(minimum = 1, maximum = 31)]
    day_of_month: Option<i64>,
    /// An IANA zone, e.g. `Europe/Paris`.
    timezone: Option<String>,
    /// Custom: a cron expression.
    cron_expression: Option<String>,
    categories: Option<Vec<String>>,
    /// A storage connection's id or name, or `local`.
    destination: Option<String>,
    encrypt: Option<bool>,
    is_active: Option<bool>,
}

impl ScheduleBody {
    fn into_input(self) -> std::result::Result<ScheduleInput, ScheduleError> {
        Ok(ScheduleInput {
            name: self.name,
            frequency: self.frequency.as_deref().map(str::parse).transpose()?,
            time_of_day: self
                .time_of_day
                .as_deref()
                .map(parse_time_of_day)
                .transpose()?,
            day_of_week: self.day_of_week,
            day_of_month: self.day_of_month,
            timezone: self.timezone,
            cron_expression: self.cron_expression,
            categories: self.categories,
            destination: self.destination,
            encrypt: self.encrypt,
            is_active: self.is_active,
        })
    }
}

/// Records a refusal by the plan (as `backup/create` does), then answers the error.
async fn refused(
    state: &AppState,
    caller: &Caller,
    action: &str,
    error: SchedulesError,
) -> AppError {
    if matches!(error, SchedulesError::FrequencyNotInPlan { .. }) {
        audit::record(
            &state.pool,
            &Entry::new(caller, action, Outcome::Denied).detail("reason", error.to_string()),
        )
        .await;
    }
    error.into()
}

/// The organization's schedules.
#[derive(Serialize, ToSchema)]
struct ScheduleList {
    data: Vec<ScheduleView>,
}

/// List the organization's schedules, each with its next runs. Needs `backup.schedule`.
#[utoipa::path(get, path = "/schedules", tag = "schedules",
    responses((status = 200, body = ScheduleList), (status = 403, response = problems::Forbidden)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<ScheduleList>> {
    caller
        .require(&state, Permission::Schedule, "schedule.list")
        .await?;
    let views: Vec<ScheduleView> = schedules::list(&state.pool, caller.principal.org_id)
        .await?
        .into_iter()
        .map(schedules::view)
        .collect();
    Ok(Json(ScheduleList { data: views }))
}

/// Create a schedule. Needs `backup.schedule`; the frequency must be in the plan.
#[utoipa::path(post, path = "/schedules", tag = "schedules", request_body = ScheduleBody,
    responses(
        (status = 201, body = ScheduleView),
        (status = 403, response = problems::Forbidden),
        (status = 409, response = problems::Conflict),
        (status = 413, response = problems::TooLarge),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<ScheduleBody>,
) -> Result<(StatusCode, Json<ScheduleView>)> {
    caller
        .require(&state, Permission::Schedule, "schedule.create")
        .await?;
    let AppJson(body) = body?;
    if let Some(name) = &body.name {
        super::extract::check_name("schedule name", name)?;
    }
    let input = body.into_input().map_err(SchedulesError::from)?;
    let org = caller.principal.org_id;
    let created = match schedules::create(
        &state.pool,
        &state.settings,
        org,
        input,
        caller.principal.user_id,
    )
    .await
    {
        Ok(created) => created,
        Err(error) => return Err(refused(&state, &caller, "schedule.create", error).await),
    };
    audit::record(
        &state.pool,
        &Entry::new(&caller, "schedule.create", Outcome::Success)
            .entity("schedule", created.schedule_id)
            .detail("frequency", created.frequency.clone()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(schedules::view(created))))
}

/// Show a schedule with its next runs. Needs `backup.schedule`.
#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path, description = "The schedule's id")),
    responses(
        (status = 200, body = ScheduleView),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
    ))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<ScheduleId>,
) -> Result<Json<ScheduleView>> {
    caller
        .require(&state, Permission::Schedule, "schedule.show")
        .await?;
    let schedule = schedules::get(&state.pool, caller.principal.org_id, id).await?;
    Ok(Json(schedules::view(schedule)))
}

/// Change a schedule: absent fields keep their value. Needs `backup.schedule`.
#[utoipa::path(put, path = "/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path, description = "The schedule's id")),
    request_body = ScheduleBody,
    responses(
        (status = 200, body = ScheduleView),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 409, response = problems::Conflict),
        (status = 413, response = problems::TooLarge),
    ))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<ScheduleId>,
    body: Body<ScheduleBody>,
) -> Result<Json<ScheduleView>> {
    caller
        .require(&state, Permission::Schedule, "schedule.update")
        .await?;
    let AppJson(body) = body?;
    if let Some(name) = &body.name {
        super::extract::check_name("schedule name", name)?;
    }
    let input = body.into_input().map_err(SchedulesError::from)?;
    let org = caller.principal.org_id;
    let updated = match schedules::update(&state.pool, &state.settings, org, id, input).await {
        Ok(updated) => updated,
        Err(error) => return Err(refused(&state, &caller, "schedule.update", error).await),
    };
    audit::record(
        &state.pool,
        &Entry::new(&caller, "schedule.update", Outcome::Success).entity("schedule", id),
    )
    .await;
    Ok(Json(schedules::view(updated)))
}

/// A schedule, deleted.
#[derive(Serialize, ToSchema)]
struct ScheduleDeleted {
    schedule_id: ScheduleId,
    /// `true`.
    deleted: bool,
}

/// Delete a schedule (its backups stay). Needs `backup.schedule`.
#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path, description = "The schedule's id")),
    responses(
        (status = 200, body = ScheduleDeleted),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<ScheduleId>,
) -> Result<Json<ScheduleDeleted>> {
    caller
        .require(&state, Permission::Schedule, "schedule.delete")
        .await?;
    schedules::delete(&state.pool, caller.principal.org_id, id).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "schedule.delete", Outcome::Success).entity("schedule", id),
    )
    .await;
    Ok(Json(ScheduleDeleted {
        schedule_id: id,
        deleted: true,
    }))
}
