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
