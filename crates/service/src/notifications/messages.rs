//! Every text a notification shows (email subject and body, webhook `message`), in English and
//! Arabic, from the catalog's `notification-*` messages (`locales/<lang>/notifications.ftl`).
//! Texts are rendered from the event's `data`; a missing key only drops the line that would show
//! it. Unlike pages, notifications write numbers with Latin digits in both languages.

use super::event::Event;
use crate::i18n::{Locale, grouped, message, message_with};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// The catalog id of an event's `subject` (its title) or `lead` (the body's first sentence):
/// `notification-backup-completed-subject`.
fn event_id(event: Event, part: &str) -> String {
    format!("notification-{}-{part}", event.as_str().replace('_', "-"))
}

fn text(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number given as a JSON number or a numeric string.
fn number(data: &Value, key: &str) -> Option<f64> {
    match data.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Decimal units, as plan quotas are stated (500 MB = 500,000,000 bytes).
pub fn size(bytes: u64, locale: Locale) -> String {
    const UNITS: [&str; 5] = [
        "notification-bytes-b",
        "notification-bytes-kb",
        "notification-bytes-mb",
        "notification-bytes-gb",
        "notification-bytes-tb",
    ];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let shown = if unit == 0 {
        bytes.to_string()
    } else {
        format!("{value:.1}")
    };
    message_with(locale, UNITS[unit], &[("n", &shown)])
}

fn date(value: &str) -> String {
    DateTime::parse_from_rfc3339(value)
        .map(|d| {
            d.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| value.to_string())
}

/// The event's title, then (inside out) its detail, the org's name and the test mark:
/// `[Test] Acme: Backup completed (nightly)`.
fn subject(event: Event, locale: Locale, data: &Value, percent: Option<&str>) -> String {
    let mut subject = message(locale, &event_id(event, "subject"));
    let detail = match event {
        Event::StorageQuotaWarning => percent.map(str::to_string),
        Event::StorageConnectionExpired => text(data, "connection"),
        _ => text(data, "backup_name"),
    };
    if let Some(detail) = detail {
        let args = [("subject", subject.as_str()), ("detail", &detail)];
        subject = message_with(locale, "notification-subject-detail", &args);
    }
    if let Some(org) = text(data, "org_name") {
        let args = [("org", org.as_str()), ("subject", &subject)];
        subject = message_with(locale, "notification-subject-org", &args);
    }
    if data.get("test").and_then(Value::as_bool) == Some(true) {
        subject = message_with(
            locale,
            "notification-subject-test",
            &[("subject", &subject)],
        );
    }
    subject
}

/// `410.0 MB of 500.0 MB (82%)`, or as much of it as the data has.
fn storage_used(locale: Locale, data: &Value, percent: Option<&str>) -> Option<String> {
    let bytes = |key| number(data, key).map(|n| size(n.max(0.0) as u64, locale));
    let used = match (bytes("used_bytes"), bytes("quota_bytes")) {
        (Some(used), Some(quota)) => {
            let args = [("used", used.as_str()), ("quota", &quota)];
            Some(message_with(locale, "notification-used-of-quota", &args))
        }
        (Some(used), None) => Some(used),
        _ => None,
    };
    match (used, percent) {
        (Some(used), Some(percent)) => {
            let args = [("used", used.as_str()), ("percent", percent)];
            Some(message_with(locale, "notification-used-percent", &args))
        }
        (None, Some(percent)) => Some(percent.to_string()),
        (used, None) => used,
    }
}

pub fn render(event: Event, locale: Locale, data: &Value) -> Message {
    let percent = number(data, "percent").map(|p| {
        let n = (p.round() as i64).to_string();
        message_with(locale, "notification-percent", &[("n", &n)])
    });
    let details = [
        ("notification-line-organization", text(data, "org_name")),
        ("notification-line-backup", text(data, "backup_name")),
        ("notification-line-backup-id", text(data, "backup_id")),
        ("notification-line-restore-id", text(data, "restore_id")),
        (
            "notification-line-size",
            number(data, "size_bytes").map(|n| size(n.max(0.0) as u64, locale)),
        ),
        (
            "notification-line-rows",
            number(data, "rows").map(|n| grouped(n.max(0.0) as u64)),
        ),
        (
            "notification-line-expires",
            text(data, "expires_at").map(|d| date(&d)),
        ),
        (
            "notification-line-storage-used",
            storage_used(locale, data, percent.as_deref()),
        ),
        ("notification-line-error", text(data, "error")),
    ];
    let mut lines = vec![message(locale, &event_id(event, "lead")), String::new()];
    for (id, value) in details {
        if let Some(value) = value {
            lines.push(message_with(locale, id, &[("value", &value)]));
        }
    }
    lines.push(String::new());
    lines.push(message(locale, "notification-signature"));
    Message {
        subject: subject(event, locale, data, percent.as_deref()),
        body: lines.join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::event::ALL;
    use serde_json::json;

    fn has_arabic(text: &str) -> bool {
        text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
    }

    #[test]
    fn every_event_has_an_english_and_an_arabic_text() {
        for event in ALL {
            let english = render(event, Locale::En, &json!({}));
            let arabic = render(event, Locale::Ar, &json!({}));
            assert!(!english.subject.is_empty() && !english.body.is_empty());
            assert!(
                !has_arabic(&english.subject) && !has_arabic(&english.body),
                "{event}"
            );
            assert!(
                has_arabic(&arabic.subject) && has_arabic(&arabic.body),
                "the Arabic text of {event} is not Arabic"
            );
            assert_ne!(english.subject, arabic.subject);
        }
    }

    #[test]
    fn numbers_sizes_and_dates_are_readable() {
        let data = json!({
            "org_name": "Acme Global", "backup_name": "nightly", "size_bytes": 1_234_567_890u64,
            "rows": 2_074_234, "expires_at": "2026-11-28T14:05:09Z",
        });
        let message = render(Event::BackupCompleted, Locale::En, &data);
        assert_eq!(message.subject, "Acme Global: Backup completed (nightly)");
        assert!(message.body.contains("Size: 1.2 GB"), "{}", message.body);
        assert!(message.body.contains("Rows: 2,074,234"), "{}", message.body);
        assert!(message.body.contains("Expires: 2026-11-28 14:05 UTC"));
        let arabic = render(Event::BackupCompleted, Locale::Ar, &data);
        assert!(arabic.body.contains("1.2 غيغابايت"), "{}", arabic.body);
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(size(999, Locale::En), "999 B");
    }

    #[test]
    fn the_quota_warning_shows_usage_of_quota_and_percent() {
        let data =
            json!({"used_bytes": 410_000_000u64, "quota_bytes": 500_000_000u64, "percent": 82.0});
        let message = render(Event::StorageQuotaWarning, Locale::En, &data);
        assert_eq!(message.subject, "Storage quota warning (82%)");
        assert!(
            message
                .body
                .contains("Storage used: 410.0 MB of 500.0 MB (82%)"),
            "{}",
            message.body
        );
    }

    #[test]
    fn missing_or_odd_data_only_drops_lines() {
        let message = render(
            Event::BackupFailed,
            Locale::En,
            &json!({"error": "disk full", "size_bytes": null, "rows": "12"}),
        );
        assert_eq!(message.subject, "Backup failed");
        assert!(message.body.contains("Error: disk full"));
        assert!(message.body.contains("Rows: 12"));
        assert!(!message.body.contains("Size"));
        let test = render(Event::BackupFailed, Locale::Ar, &json!({"test": true}));
        assert!(test.subject.starts_with("[اختبار] "), "{}", test.subject);
    }

    #[test]
    fn every_event_has_a_subject_and_a_lead_in_the_catalog() {
        for locale in Locale::ALL {
            for event in ALL {
                for part in ["subject", "lead"] {
                    let id = event_id(event, part);
                    assert!(
                        crate::i18n::has_message(locale, &id),
                        "`{id}` is not in {}/notifications.ftl",
                        locale.as_str()
                    );
                }
            }
        }
    }
}
