//! `/api/v1/schedules`: the org's backup schedules, each shown with its next five runs (UTC and
//! the schedule's local time). Every route takes `backup.schedule`.

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::permissions::Permission;
use orgbackup_service::schedules::timing::parse_time_of_day;
use orgbackup_service::schedules::{
    self, ScheduleError, ScheduleInput, ScheduleView, SchedulesError,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(list).post(create))
        .route("/schedules/{id}", get(show).put(update).delete(delete))
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    name: Option<String>,
    /// hourly, daily, weekly, monthly or custom.
    frequency: Option<String>,
    /// `HH:MM`, local.
    time_of_day: Option<String>,
    day_of_week: Option<i64>,
    day_of_month: Option<i64>,
    timezone: Option<String>,
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

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "schedule.list")
        .await?;
    let views: Vec<ScheduleView> = schedules::list(&state.pool, caller.principal.org_id)
        .await?
        .into_iter()
        .map(schedules::view)
        .collect();
    Ok(Json(json!({ "data": views })))
}

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

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<ScheduleView>> {
    caller
        .require(&state, Permission::Schedule, "schedule.show")
        .await?;
    let schedule = schedules::get(&state.pool, caller.principal.org_id, id).await?;
    Ok(Json(schedules::view(schedule)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
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

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "schedule.delete")
        .await?;
    schedules::delete(&state.pool, caller.principal.org_id, id).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "schedule.delete", Outcome::Success).entity("schedule", id),
    )
    .await;
    Ok(Json(json!({"schedule_id": id, "deleted": true})))
}
