//! When a schedule runs: pure arithmetic on a [`ScheduleSpec`], no database.
//!
//! The rules, all evaluated on the wall clock of the schedule's IANA time zone:
//!
//! - **hourly** runs every real hour at the local minute of `time_of_day` (its hour is ignored).
//!   A clock that goes back repeats an hour, and that hour runs twice; a clock that jumps ahead
//!   skips an hour of wall clock time but not of real time, so no run is lost. In a zone whose
//!   offset changes by half an hour the gap between two runs is 30 or 90 minutes once.
//! - **daily** runs every day at `time_of_day`; **weekly** on `day_of_week` (0 = Sunday ..
//!   6 = Saturday); **monthly** on `day_of_month` (1..31), and on the month's last day when the
//!   month is shorter (31 runs on Feb 28 or 29, Apr 30, ...).
//! - A local time that does not exist (the clock jumps ahead over it) runs at the first instant
//!   after the gap: 02:30 on the day New York springs forward runs at 03:00 EDT.
//! - A local time that happens twice (the clock goes back) runs once, at its first occurrence:
//!   01:30 on the day New York falls back runs at 01:30 EDT, not again at 01:30 EST.
//! - **custom** runs when its five-field cron expression (minute hour day-of-month month
//!   day-of-week, evaluated by `croner`) matches. A fixed time follows the two rules above; a
//!   wildcard or step in the minute or hour matches every real occurrence.
//! - `time_of_day` is whole minutes and defaults to 00:00. Fields a frequency does not use are
//!   ignored.
//!
//! A schedule that missed runs (the service was down) runs once: the scheduler asks for the next
//! run after *now*, not after the missed one.

pub use crate::config::plans::Frequency;
use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use std::str::FromStr;

impl FromStr for Frequency {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Frequency::ALL
            .into_iter()
            .find(|f| f.as_str() == text)
            .ok_or_else(|| ScheduleError::UnknownFrequency(text.to_string()))
    }
}

/// When a schedule runs, as stored in `backup_schedules`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub frequency: Frequency,
    /// Local time of day; for hourly only its minute counts. `None` = 00:00.
    pub time_of_day: Option<NaiveTime>,
    /// 0 = Sunday .. 6 = Saturday (weekly).
    pub day_of_week: Option<i16>,
    /// 1..31 (monthly); past the month's end the month's last day.
    pub day_of_month: Option<i16>,
    /// IANA name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Five fields (custom).
    pub cron_expression: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown frequency `{0}`: use hourly, daily, weekly, monthly or custom")]
    UnknownFrequency(String),
    #[error(
        "unknown time zone `{0}`: use an IANA name such as `UTC`, `Europe/Berlin` or `America/New_York`"
    )]
    UnknownZone(String),
    #[error("a weekly schedule needs day_of_week: 0 = Sunday, 1 = Monday, ..., 6 = Saturday")]
    MissingWeekday,
    #[error("day_of_week {0} is out of range: use 0 = Sunday, 1 = Monday, ..., 6 = Saturday")]
    WeekdayOutOfRange(i64),
    #[error(
        "a monthly schedule needs day_of_month: 1 to 31 (past the month's end it runs on the last day)"
    )]
    MissingDayOfMonth,
    #[error(
        "day_of_month {0} is out of range: use 1 to 31 (31 runs on the last day of shorter months)"
    )]
    DayOfMonthOutOfRange(i64),
    #[error("time_of_day `{0}` is not a time of day: use HH:MM, e.g. 02:30")]
    BadTime(String),
    #[error(
        "a custom schedule needs cron_expression: five fields, minute hour day-of-month month day-of-week, e.g. `30 2 * * 1-5`"
    )]
    MissingCron,
    #[error(
        "cron expression `{expression}` is not valid: {reason}; use five fields, minute hour day-of-month month day-of-week, e.g. `30 2 * * 1-5`"
    )]
    BadCron { expression: String, reason: String },
    #[error("this schedule never runs again after {0}: its cron expression matches no later time")]
    NoNextRun(DateTime<Utc>),
}

/// Parses `HH:MM` (or `HH:MM:00`) into a time of day in whole minutes.
pub fn parse_time_of_day(text: &str) -> Result<NaiveTime, ScheduleError> {
    let bad = || ScheduleError::BadTime(text.to_string());
    let time = NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M:%S"))
        .map_err(|_| bad())?;
    if time.second() != 0 || time.nanosecond() != 0 {
        return Err(bad());
    }
    Ok(time)
}

/// A checked schedule: the zone resolved and the cron expression parsed once.
enum Rule {
    Hourly { minute: u32 },
    Daily { time: NaiveTime },
    Weekly { weekday: u32, time: NaiveTime },
    Monthly { day: u32, time: NaiveTime },
    Cron(Box<Cron>),
}

struct Compiled {
    zone: Tz,
    rule: Rule,
}

impl ScheduleSpec {
    /// Checks every field the frequency uses; the error says what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.compile().map(|_| ())
    }

    /// The spec with the fields its frequency does not use cleared (what is stored).
    pub fn normalized(mut self) -> Self {
        let f = self.frequency;
        if f == Frequency::Custom {
            self.time_of_day = None;
        } else {
            self.cron_expression = None;
            self.time_of_day = Some(self.time_of_day.unwrap_or(NaiveTime::MIN));
        }
        if f != Frequency::Weekly {
            self.day_of_week = None;
        }
        if f != Frequency::Monthly {
            self.day_of_month = None;
        }
        self
    }

    pub fn zone(&self) -> Result<Tz, ScheduleError> {
        self.timezone
            .parse::<Tz>()
            .map_err(|_| ScheduleError::UnknownZone(self.timezone.clone()))
    }

    fn compile(&self) -> Result<Compiled, ScheduleError> {
        let zone = self.zone()?;
        let time = match self.time_of_day {
            Some(time) if time.second() != 0 || time.nanosecond() != 0 => {
                return Err(ScheduleError::BadTime(time.to_string()));
            }
            Some(time) => time,
            None => NaiveTime::MIN,
        };
        let rule = match self.frequency {
            Frequency::Hourly => Rule::Hourly {
                minute: time.minute(),
            },
            Frequency::Daily => Rule::Daily { time },
            Frequency::Weekly => {
                let day = self.day_of_week.ok_or(ScheduleError::MissingWeekday)?;
                if !(0..=6).contains(&day) {
                    return Err(ScheduleError::WeekdayOutOfRange(day.into()));
                }
                Rule::Weekly {
                    weekday: day as u32,
                    time,
                }
            }
            Frequency::Monthly => {
                let day = self.day_of_month.ok_or(ScheduleError::MissingDayOfMonth)?;
                if !(1..=31).contains(&day) {
                    return Err(ScheduleError::DayOfMonthOutOfRange(day.into()));
                }
                Rule::Monthly {
                    day: day as u32,
                    time,
                }
            }
            Frequency::Custom => {
                let expression = self
                    .cron_expression
                    .as_deref()
                    .filter(|e| !e.trim().is_empty())
                    .ok_or(ScheduleError::MissingCron)?;
                Rule::Cron(Box::new(parse_cron(expression)?))
            }
        };
        Ok(Compiled { zone, rule })
    }
}

/// Five fields only: a seconds field would allow backups every second, a year field is never
/// needed for a recurring backup.
fn parse_cron(expression: &str) -> Result<Cron, ScheduleError> {
    let bad = |reason: String| ScheduleError::BadCron {
        expression: expression.to_string(),
        reason,
    };
    if expression.split_whitespace().count() != 5 && !expression.trim().starts_with('@') {
        return Err(bad(format!(
            "it has {} fields, not 5",
            expression.split_whitespace().count()
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| bad(e.to_string()))
}

/// The first run strictly after `after`.
pub fn next_run_after(
    spec: &ScheduleSpec,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, ScheduleError> {
    spec.compile()?.next_after(after)
}

/// The next `n` runs after `after`, in order.
pub fn upcoming(
    spec: &ScheduleSpec,
    after: DateTime<Utc>,
    n: usize,
) -> Result<Vec<DateTime<Utc>>, ScheduleError> {
    let compiled = spec.compile()?;
    let mut runs = Vec::with_capacity(n);
    let mut cursor = after;
    for _ in 0..n {
        cursor = compiled.next_after(cursor)?;
        runs.push(cursor);
    }
    Ok(runs)
}

impl Compiled {
    fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
        let zone = self.zone;
        let none = || ScheduleError::NoNextRun(after);
        match &self.rule {
            Rule::Hourly { minute } => {
                // Real minutes, not wall clock ones: every real hour has exactly one instant whose
                // local minute is `minute`, except around a half-hour offset change.
                let start = after.with_second(0).and_then(|t| t.with_nanosecond(0));
                let start = start.ok_or_else(none)?;
                (1..=180)
                    .map(|m| start + TimeDelta::minutes(m))
                    .find(|t| t.with_timezone(&zone).minute() == *minute)
                    .ok_or_else(none)
            }
            Rule::Cron(cron) => cron
                .find_next_occurrence(&after.with_timezone(&zone), false)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| none()),
            Rule::Daily { time } => first_local_after(zone, after, 366, |_| Some(*time)),
            Rule::Weekly { weekday, time } => first_local_after(zone, after, 366, |date| {
                (date.weekday().num_days_from_sunday() == *weekday).then_some(*time)
            }),
            Rule::Monthly { day, time } => first_local_after(zone, after, 800, |date| {
                (date.day() == (*day).min(last_day_of_month(date))).then_some(*time)
            }),
        }
    }
}

/// The first instant after `after` at which one of the following `days` local dates (from the
/// day before `after`'s) has a run, `run_on` giving that date's local time, if any.
fn first_local_after(
    zone: Tz,
    after: DateTime<Utc>,
    days: u64,
    run_on: impl Fn(NaiveDate) -> Option<NaiveTime>,
) -> Result<DateTime<Utc>, ScheduleError> {
    // A day earlier: a run moved forward out of a gap may still lie ahead.
    let first = after.with_timezone(&zone).date_naive() - Days::new(1);
    (0..days)
        .filter_map(|offset| first.checked_add_days(Days::new(offset)))
        .filter_map(|date| run_on(date).map(|time| resolve_local(zone, date.and_time(time))))
        .find(|instant| *instant > after)
        .ok_or(ScheduleError::NoNextRun(after))
}

/// The instant of a local time: the first of two when the clock goes back, the first instant
/// after the gap when the clock jumps over it.
fn resolve_local(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut candidate = local;
    loop {
        match zone.from_local_datetime(&candidate) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return t.with_timezone(&Utc);
            }
            // Gaps are whole minutes long in every zone of the tz database since 1970, so the
            // first whole minute that exists is where the gap ends.
            LocalResult::None => {
                candidate = candidate.with_second(0).unwrap_or(candidate) + TimeDelta::minutes(1)
            }
        }
    }
}

fn last_day_of_month(date: NaiveDate) -> u32 {
    let first = date.with_day(1).expect("every month has a first day");
    (first + Months::new(1) - Days::new(1)).day()
}

#[cfg(test)]
mod tests;
