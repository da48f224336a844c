//! Every text a notification shows (email subject and body, webhook `message`), in English and
//! Arabic, in one place. Texts are rendered from the event's `data`; a missing key only drops the
//! line that would show it.

use super::event::Event;
use crate::i18n::Locale;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// Title (subject) and lead sentence of each event, per language.
fn texts(event: Event, locale: Locale) -> (&'static str, &'static str) {
    use Event::*;
    match (locale, event) {
        (Locale::En, BackupCompleted) => (
            "Backup completed",
            "The backup finished successfully and is ready to download or restore.",
        ),
        (Locale::En, BackupFailed) => (
            "Backup failed",
            "The backup could not be completed; no partial file was kept.",
        ),
        (Locale::En, RestoreStarted) => (
            "Restore started",
            "A restore of your organization's data has started.",
        ),
        (Locale::En, RestoreCompleted) => (
            "Restore completed",
            "The restore finished successfully. It can be rolled back for a limited time.",
        ),
        (Locale::En, RestoreFailed) => (
            "Restore failed",
            "The restore failed and no data was changed.",
        ),
        (Locale::En, RestoreRolledBack) => (
            "Restore rolled back",
            "The restore was rolled back: the data is as it was before the restore.",
        ),
        (Locale::En, BackupExpiring) => (
            "Backup expiring soon",
            "This backup will be deleted by the retention policy unless it is pinned.",
        ),
        (Locale::En, StorageQuotaWarning) => (
            "Storage quota warning",
            "Your backups use a large share of your plan's storage. Delete old backups or upgrade the plan.",
        ),
        (Locale::Ar, BackupCompleted) => (
            "اكتمل النسخ الاحتياطي",
            "اكتملت النسخة الاحتياطية بنجاح وهي جاهزة للتنزيل أو الاستعادة.",
        ),
        (Locale::Ar, BackupFailed) => (
            "فشل النسخ الاحتياطي",
            "تعذّر إكمال النسخة الاحتياطية، ولم يُحتفظ بأي ملف جزئي.",
        ),
        (Locale::Ar, RestoreStarted) => ("بدأت الاستعادة", "بدأت استعادة بيانات مؤسستك."),
        (Locale::Ar, RestoreCompleted) => (
            "اكتملت الاستعادة",
            "اكتملت الاستعادة بنجاح، ويمكن التراجع عنها لفترة محدودة.",
        ),
        (Locale::Ar, RestoreFailed) => ("فشلت الاستعادة", "فشلت الاستعادة ولم تتغير أي بيانات."),
        (Locale::Ar, RestoreRolledBack) => (
            "تم التراجع عن الاستعادة",
            "تم التراجع عن الاستعادة: عادت البيانات كما كانت قبلها.",
        ),
        (Locale::Ar, BackupExpiring) => (
            "نسخة احتياطية ستنتهي قريبًا",
            "ستحذف سياسة الاحتفاظ هذه النسخة الاحتياطية ما لم تُثبَّت.",
        ),
        (Locale::En, StorageConnectionExpired) => (
            "Storage connection needs reconnecting",
            "The storage provider no longer accepts this connection (access revoked or expired). Backups to it fail until you connect it again.",
        ),
        (Locale::Ar, StorageConnectionExpired) => (
            "اتصال التخزين يحتاج إلى إعادة ربط",
            "لم يعد مزوّد التخزين يقبل هذا الاتصال (أُلغي الوصول أو انتهت صلاحيته). ستفشل النسخ الاحتياطية إليه حتى تعيد ربطه.",
        ),
        (Locale::Ar, StorageQuotaWarning) => (
            "تحذير من سعة التخزين",
            "تستخدم نسخك الاحتياطية جزءًا كبيرًا من مساحة التخزين في خطتك. احذف النسخ القديمة أو رقِّ خطتك.",
        ),
    }
}

/// Labels of the detail lines, and the other fixed words.
struct Words {
    organization: &'static str,
    backup: &'static str,
    backup_id: &'static str,
    restore_id: &'static str,
    size: &'static str,
    rows: &'static str,
    expires: &'static str,
    storage_used: &'static str,
    of: &'static str,
    error: &'static str,
    test: &'static str,
    signature: &'static str,
    units: [&'static str; 5],
}

const ENGLISH: Words = Words {
    organization: "Organization",
    backup: "Backup",
    backup_id: "Backup id",
    restore_id: "Restore id",
    size: "Size",
    rows: "Rows",
    expires: "Expires",
    storage_used: "Storage used",
    of: "of",
    error: "Error",
    test: "Test",
    signature: "Sent by orgbackup.",
    units: ["B", "KB", "MB", "GB", "TB"],
};

const ARABIC: Words = Words {
    organization: "المؤسسة",
    backup: "النسخة الاحتياطية",
    backup_id: "معرّف النسخة الاحتياطية",
    restore_id: "معرّف الاستعادة",
    size: "الحجم",
    rows: "عدد الصفوف",
    expires: "تاريخ الانتهاء",
    storage_used: "المساحة المستخدمة",
    of: "من",
    error: "الخطأ",
    test: "اختبار",
    signature: "أُرسلت بواسطة خدمة orgbackup.",
    units: ["بايت", "كيلوبايت", "ميغابايت", "غيغابايت", "تيرابايت"],
};

fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::En => &ENGLISH,
        Locale::Ar => &ARABIC,
    }
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

/// `1234567` -> `1,234,567`.
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Decimal units, as plan quotas are stated (500 MB = 500,000,000 bytes).
pub fn size(bytes: u64, locale: Locale) -> String {
    let units = words(locale).units;
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} {}", units[0])
    } else {
        format!("{value:.1} {}", units[unit])
    }
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

pub fn render(event: Event, locale: Locale, data: &Value) -> Message {
    let w = words(locale);
    let (title, lead) = texts(event, locale);
    let bytes = |key| number(data, key).map(|n| size(n.max(0.0) as u64, locale));
    let percent = number(data, "percent").map(|p| format!("{}%", p.round() as i64));

    let mut subject = String::new();
    if data.get("test").and_then(Value::as_bool) == Some(true) {
        subject.push_str(&format!("[{}] ", w.test));
    }
    if let Some(org) = text(data, "org_name") {
        subject.push_str(&format!("{org}: "));
    }
    subject.push_str(title);
    let subject_detail = match event {
        Event::StorageQuotaWarning => percent.clone(),
        Event::StorageConnectionExpired => text(data, "connection"),
        _ => text(data, "backup_name"),
    };
    if let Some(detail) = subject_detail {
        subject.push_str(&format!(" ({detail})"));
    }

    let mut lines = vec![lead.to_string(), String::new()];
    let mut line = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            lines.push(format!("{label}: {value}"));
        }
    };
    line(w.organization, text(data, "org_name"));
    line(w.backup, text(data, "backup_name"));
    line(w.backup_id, text(data, "backup_id"));
    line(w.restore_id, text(data, "restore_id"));
    line(w.size, bytes("size_bytes"));
    line(
        w.rows,
        number(data, "rows").map(|n| grouped(n.max(0.0) as u64)),
    );
    line(w.expires, text(data, "expires_at").map(|d| date(&d)));
    let used = match (bytes("used_bytes"), bytes("quota_bytes")) {
        (Some(used), Some(quota)) => Some(format!("{used} {} {quota}", w.of)),
        (Some(used), None) => Some(used),
        _ => None,
    };
    let used = match (used, &percent) {
        (Some(used), Some(p)) => Some(format!("{used} ({p})")),
        (None, Some(p)) => Some(p.clone()),
        (used, None) => used,
    };
    line(w.storage_used, used);
    line(w.error, text(data, "error"));
    lines.push(String::new());
    lines.push(w.signature.to_string());
    Message {
        subject,
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
}
