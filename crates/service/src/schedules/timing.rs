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
mod tests {
    use super::*;

    fn spec(frequency: Frequency, zone: &str, time: &str) -> ScheduleSpec {
        ScheduleSpec {
            frequency,
            time_of_day: Some(parse_time_of_day(time).unwrap()),
            day_of_week: None,
            day_of_month: None,
            timezone: zone.into(),
            cron_expression: None,
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn runs(spec: &ScheduleSpec, after: &str, n: usize) -> Vec<String> {
        upcoming(spec, utc(after), n)
            .unwrap()
            .into_iter()
            .map(|t| t.with_timezone(&spec.zone().unwrap()).to_rfc3339())
            .collect()
    }

    #[test]
    fn daily_in_new_york_runs_after_the_spring_forward_gap_and_once_in_the_repeated_hour() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
        let gap = spec(Frequency::Daily, "America/New_York", "02:30");
        assert_eq!(
            runs(&gap, "2026-03-07T12:00:00Z", 3),
            [
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00"
            ]
        );
        // 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice and runs once.
        let fold = spec(Frequency::Daily, "America/New_York", "01:30");
        assert_eq!(
            runs(&fold, "2026-10-31T12:00:00Z", 3),
            [
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
                "2026-11-03T01:30:00-05:00"
            ]
        );
        // Asked from between the two 01:30s, the next run is the next day's.
        assert_eq!(
            next_run_after(&fold, utc("2026-11-01T05:45:00Z")).unwrap(),
            utc("2026-11-02T06:30:00Z")
        );
    }

    #[test]
    fn daily_at_an_ordinary_time_keeps_the_local_time_across_both_changes() {
        let daily = spec(Frequency::Daily, "America/New_York", "09:00");
        let utc_runs: Vec<_> = upcoming(&daily, utc("2026-03-07T00:00:00Z"), 3).unwrap();
        assert_eq!(
            utc_runs,
            [
                utc("2026-03-07T14:00:00Z"),
                utc("2026-03-08T13:00:00Z"),
                utc("2026-03-09T13:00:00Z")
            ]
        );
        assert_eq!(
            upcoming(&daily, utc("2026-10-31T00:00:00Z"), 3).unwrap(),
            [
                utc("2026-10-31T13:00:00Z"),
                utc("2026-11-01T14:00:00Z"),
                utc("2026-11-02T14:00:00Z")
            ]
        );
    }

    #[test]
    fn hourly_in_new_york_runs_every_real_hour_through_both_changes() {
        let hourly = spec(Frequency::Hourly, "America/New_York", "07:15");
        // 01:15 EST, then 03:15 EDT: one real hour later, 02:15 never existed.
        assert_eq!(
            runs(&hourly, "2026-03-08T06:00:00Z", 3),
            [
                "2026-03-08T01:15:00-05:00",
                "2026-03-08T03:15:00-04:00",
                "2026-03-08T04:15:00-04:00"
            ]
        );
        // 01:15 EDT and 01:15 EST: the repeated hour is a real hour and runs.
        assert_eq!(
            runs(&hourly, "2026-11-01T04:30:00Z", 3),
            [
                "2026-11-01T01:15:00-04:00",
                "2026-11-01T01:15:00-05:00",
                "2026-11-01T02:15:00-05:00"
            ]
        );
    }

    #[test]
    fn hourly_in_kolkata_runs_at_the_local_minute_of_a_half_hour_offset() {
        let hourly = spec(Frequency::Hourly, "Asia/Kolkata", "00:00");
        let after = utc("2026-05-01T10:00:00Z");
        assert_eq!(
            upcoming(&hourly, after, 3).unwrap(),
            [
                utc("2026-05-01T10:30:00Z"),
                utc("2026-05-01T11:30:00Z"),
                utc("2026-05-01T12:30:00Z")
            ]
        );
        assert_eq!(
            runs(&hourly, "2026-05-01T10:00:00Z", 1),
            ["2026-05-01T16:00:00+05:30"]
        );
        // Strictly after: a run exactly at `after` is not the next one.
        assert_eq!(
            next_run_after(&hourly, utc("2026-05-01T10:30:00Z")).unwrap(),
            utc("2026-05-01T11:30:00Z")
        );
    }

    #[test]
    fn weekly_in_berlin_keeps_its_local_time_when_summer_time_starts_and_ends() {
        let mut weekly = spec(Frequency::Weekly, "Europe/Berlin", "02:30");
        weekly.day_of_week = Some(0); // Sunday
        // Summer time starts Sunday 2026-03-29 at 02:00 (-> 03:00); ends Sunday 2026-10-25 at
        // 03:00 (-> 02:00).
        assert_eq!(
            runs(&weekly, "2026-03-20T00:00:00Z", 3),
            [
                "2026-03-22T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-04-05T02:30:00+02:00"
            ]
        );
        assert_eq!(
            runs(&weekly, "2026-10-20T00:00:00Z", 2),
            ["2026-10-25T02:30:00+02:00", "2026-11-01T02:30:00+01:00"]
        );
    }

    #[test]
    fn daily_in_sydney_follows_the_southern_hemisphere_changes() {
        // Daylight time ends Sunday 2026-04-05 at 03:00 (-> 02:00) and starts Sunday 2026-10-04
        // at 02:00 (-> 03:00).
        let daily = spec(Frequency::Daily, "Australia/Sydney", "02:15");
        assert_eq!(
            runs(&daily, "2026-04-04T00:00:00Z", 2),
            ["2026-04-05T02:15:00+11:00", "2026-04-06T02:15:00+10:00"]
        );
        assert_eq!(
            runs(&daily, "2026-10-03T00:00:00Z", 2),
            ["2026-10-04T03:00:00+11:00", "2026-10-05T02:15:00+11:00"]
        );
    }

    #[test]
    fn monthly_on_the_31st_runs_on_each_months_last_day_through_a_leap_february() {
        let mut monthly = spec(Frequency::Monthly, "UTC", "23:00");
        monthly.day_of_month = Some(31);
        let dates: Vec<String> = upcoming(&monthly, utc("2027-12-01T00:00:00Z"), 14)
            .unwrap()
            .iter()
            .map(|t| t.format("%Y-%m-%d").to_string())
            .collect();
        assert_eq!(
            dates,
            [
                "2027-12-31",
                "2028-01-31",
                "2028-02-29",
                "2028-03-31",
                "2028-04-30",
                "2028-05-31",
                "2028-06-30",
                "2028-07-31",
                "2028-08-31",
                "2028-09-30",
                "2028-10-31",
                "2028-11-30",
                "2028-12-31",
                "2029-01-31"
            ]
        );
        let feb = upcoming(&monthly, utc("2027-02-01T00:00:00Z"), 1).unwrap();
        assert_eq!(feb, [utc("2027-02-28T23:00:00Z")]);
        monthly.day_of_month = Some(30);
        assert_eq!(
            next_run_after(&monthly, utc("2028-02-01T00:00:00Z")).unwrap(),
            utc("2028-02-29T23:00:00Z")
        );
    }

    #[test]
    fn monthly_in_a_zone_ahead_of_utc_counts_the_local_date() {
        let mut monthly = spec(Frequency::Monthly, "Australia/Sydney", "00:30");
        monthly.day_of_month = Some(1);
        // 00:30 on March 1st in Sydney (+11:00) is still February 28th in UTC.
        assert_eq!(
            next_run_after(&monthly, utc("2026-02-15T00:00:00Z")).unwrap(),
            utc("2026-02-28T13:30:00Z")
        );
    }

    #[test]
    fn custom_cron_runs_in_the_schedules_zone() {
        let custom = ScheduleSpec {
            frequency: Frequency::Custom,
            time_of_day: None,
            day_of_week: None,
            day_of_month: None,
            timezone: "America/New_York".into(),
            cron_expression: Some("30 2 * * 1-5".into()),
        };
        // Friday 2026-03-06, then Monday 2026-03-09 (the weekend, with the change, is skipped).
        assert_eq!(
            runs(&custom, "2026-03-05T12:00:00Z", 2),
            ["2026-03-06T02:30:00-05:00", "2026-03-09T02:30:00-04:00"]
        );
        let sunday = ScheduleSpec {
            cron_expression: Some("30 2 * * 0".into()),
            ..custom.clone()
        };
        // A fixed time in the gap runs right after it, as the built-in frequencies do.
        assert_eq!(
            runs(&sunday, "2026-03-07T12:00:00Z", 1),
            ["2026-03-08T03:00:00-04:00"]
        );
        let every_six_hours = ScheduleSpec {
            cron_expression: Some("0 */6 * * *".into()),
            timezone: "UTC".into(),
            ..custom
        };
        assert_eq!(
            upcoming(&every_six_hours, utc("2026-01-01T01:00:00Z"), 2).unwrap(),
            [utc("2026-01-01T06:00:00Z"), utc("2026-01-01T12:00:00Z")]
        );
    }

    #[test]
    fn invalid_specs_say_what_is_wrong_and_how_to_fix_it() {
        let zone = spec(Frequency::Daily, "Mars/Olympus", "02:00");
        assert_eq!(
            zone.validate(),
            Err(ScheduleError::UnknownZone("Mars/Olympus".into()))
        );
        let weekly = spec(Frequency::Weekly, "UTC", "02:00");
        assert!(
            weekly
                .validate()
                .unwrap_err()
                .to_string()
                .contains("0 = Sunday")
        );
        let weekday = ScheduleSpec {
            day_of_week: Some(7),
            ..weekly
        };
        assert_eq!(weekday.validate(), Err(ScheduleError::WeekdayOutOfRange(7)));
        let monthly = spec(Frequency::Monthly, "UTC", "02:00");
        assert_eq!(monthly.validate(), Err(ScheduleError::MissingDayOfMonth));
        let day = ScheduleSpec {
            day_of_month: Some(32),
            ..monthly
        };
        assert_eq!(day.validate(), Err(ScheduleError::DayOfMonthOutOfRange(32)));
        let custom = spec(Frequency::Custom, "UTC", "00:00");
        assert_eq!(custom.validate(), Err(ScheduleError::MissingCron));
        for (expression, reason) in [
            ("61 * * * *", ""),
            ("* * *", "3 fields"),
            ("0 0 2 * * *", "6 fields"),
            ("0 2 * * funday", ""),
        ] {
            let bad = ScheduleSpec {
                cron_expression: Some(expression.into()),
                ..custom.clone()
            };
            let error = bad.validate().unwrap_err();
            assert!(
                matches!(&error, ScheduleError::BadCron { .. }),
                "{expression}: {error}"
            );
            let text = error.to_string();
            assert!(text.contains(expression) && text.contains(reason), "{text}");
        }
        let february_30th = ScheduleSpec {
            cron_expression: Some("0 0 30 2 *".into()),
            ..custom.clone()
        };
        assert!(matches!(
            next_run_after(&february_30th, utc("2026-01-01T00:00:00Z")),
            Err(ScheduleError::NoNextRun(_))
        ));
        assert!(parse_time_of_day("25:00").is_err());
        assert!(parse_time_of_day("02:30:15").is_err());
        assert_eq!(
            parse_time_of_day("02:30").unwrap(),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap()
        );
        assert_eq!(
            "fortnightly".parse::<Frequency>(),
            Err(ScheduleError::UnknownFrequency("fortnightly".into()))
        );
    }

    #[test]
    fn normalizing_clears_the_fields_a_frequency_does_not_use() {
        let mut weekly = spec(Frequency::Weekly, "UTC", "02:00");
        weekly.day_of_week = Some(1);
        weekly.day_of_month = Some(5);
        weekly.cron_expression = Some("* * * * *".into());
        let stored = weekly.normalized();
        assert_eq!(stored.day_of_week, Some(1));
        assert_eq!(stored.day_of_month, None);
        assert_eq!(stored.cron_expression, None);
        let hourly = ScheduleSpec {
            time_of_day: None,
            ..spec(Frequency::Hourly, "UTC", "00:00")
        }
        .normalized();
        assert_eq!(hourly.time_of_day, Some(NaiveTime::MIN));
    }
}
