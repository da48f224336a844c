//! The catalog's words (`orgbackup_service::i18n`) as templates call them.
//!
//! Templates call `t.t(KEY)`, `t.count(KEY, n)` (the message selects on `$count` and shows `$n`,
//! the number already formatted for the language), `t.with(KEY, NAME, value)` and
//! `t.of(FAMILY, value)` for keys built from stored values (`status-completed`).

use chrono::{DateTime, Utc};
use orgbackup_engine::Compatibility;
use orgbackup_service::i18n::{self, Locale};

/// A value however many references deep templates hand it over (askama passes fields, loop
/// items and `if let` bindings at different depths).
pub trait Value<T> {
    fn get(&self) -> T;
}

impl Value<i64> for i64 {
    fn get(&self) -> i64 {
        *self
    }
}

impl Value<DateTime<Utc>> for DateTime<Utc> {
    fn get(&self) -> DateTime<Utc> {
        *self
    }
}

impl Value<Compatibility> for Compatibility {
    fn get(&self) -> Compatibility {
        *self
    }
}

impl Value<Option<DateTime<Utc>>> for Option<DateTime<Utc>> {
    fn get(&self) -> Option<DateTime<Utc>> {
        *self
    }
}

impl<T, V: Value<T> + ?Sized> Value<T> for &V {
    fn get(&self) -> T {
        (**self).get()
    }
}

/// The UI's words in one language. Cheap to copy into every template.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub locale: Locale,
}

impl Tr {
    pub fn new(locale: Locale) -> Self {
        Self { locale }
    }

    pub fn lang(&self) -> &'static str {
        self.locale.as_str()
    }

    pub fn dir(&self) -> &'static str {
        self.locale.direction()
    }

    pub fn t(&self, key: &str) -> String {
        i18n::message(self.locale, key)
    }

    /// A message with one text argument `{ $name }`.
    pub fn with(&self, key: &str, name: &str, value: &str) -> String {
        i18n::message_with(self.locale, key, &[(name, value)])
    }

    /// A message about `count` things: `$count` selects the plural form, `$n` shows the number.
    pub fn count(&self, key: &str, count: impl Value<i64>) -> String {
        i18n::count(self.locale, key, count.get())
    }

    /// Digits and grouping of the language: 1,234,567 / ١٬٢٣٤٬٥٦٧.
    pub fn number(&self, value: impl Value<i64>) -> String {
        i18n::number(self.locale, value.get())
    }

    /// A byte count in decimal units (as plan quotas are given): "1.2 GB" / "١٫٢ غيغابايت".
    pub fn bytes(&self, bytes: impl Value<i64>) -> String {
        i18n::bytes(self.locale, bytes.get())
    }

    /// "25 Nov 2026, 06:10 UTC" / "٢٥ نوفمبر ٢٠٢٦، ٠٦:١٠ UTC".
    pub fn date(&self, at: impl Value<DateTime<Utc>>) -> String {
        i18n::date(self.locale, at.get())
    }

    pub fn date_opt(&self, at: impl Value<Option<DateTime<Utc>>>) -> String {
        at.get().map(|at| self.date(at)).unwrap_or_default()
    }

    /// `compatible`, `warnings` or `incompatible`: the CSS class and message key of a status.
    pub fn compat_key(&self, status: impl Value<Compatibility>) -> &'static str {
        match status.get() {
            Compatibility::Compatible => "compatible",
            Compatibility::Warnings => "warnings",
            Compatibility::Incompatible => "incompatible",
        }
    }

    pub fn compat(&self, status: impl Value<Compatibility>) -> String {
        self.of("compat", self.compat_key(status))
    }

    /// The message `<family>-<value>`, e.g. `status-completed`: for values stored as text.
    pub fn of(&self, family: &str, value: impl std::fmt::Display) -> String {
        self.t(&format!("{family}-{value}"))
    }

    /// The message of an API problem code (the API's `message` of the same code).
    pub fn problem(&self, code: &str) -> String {
        crate::http::problem_message(code, self.locale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    // long: the key families the pages build at run time are listed here, one line each
    /// Every key of a `t.t`, `t.count` or `t.with` call in the templates and the web code
    /// exists in both languages (formatting a missing key returns the key itself).
    #[test]
    fn every_key_the_pages_use_is_translated() {
        let mut used = BTreeSet::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        // Folders too: the restore wizard is one module per step (`src/web/restore/`).
        let mut folders = vec![dir.join("templates"), dir.join("src/web")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    sources.push(std::fs::read_to_string(path).unwrap());
                }
            }
        }
        for source in &sources {
            for marker in ["t.t(\"", "t.count(\"", "t.with(\""] {
                for (at, _) in source.match_indices(marker) {
                    let rest = &source[at + marker.len()..];
                    used.insert(rest[..rest.find('"').unwrap()].to_string());
                }
            }
        }
        assert!(used.len() > 30, "found only {used:?}");
        // Keys the pages build at run time.
        use orgbackup_service::states::{
            BackupOrigin, BackupStatus, ConnectionStatus, KeyStatus, RestoreStatus,
        };
        let states = [
            (
                "status",
                BackupStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            ),
            (
                "type",
                BackupOrigin::ALL.iter().map(|s| s.as_str()).collect(),
            ),
            (
                "restore-status",
                RestoreStatus::ALL.iter().map(|s| s.as_str()).collect(),
            ),
            (
                "key-status",
                KeyStatus::ALL.iter().map(|s| s.as_str()).collect(),
            ),
            (
                "connection-status",
                ConnectionStatus::ALL.iter().map(|s| s.as_str()).collect(),
            ),
        ];
        for (prefix, values) in states {
            used.extend(values.iter().map(|v| format!("{prefix}-{v}")));
        }
        let families = [
            "plan-free",
            "plan-basic",
            "plan-pro",
            "plan-enterprise",
            "bytes-b",
            "bytes-kb",
            "bytes-mb",
            "bytes-gb",
            "bytes-tb",
        ];
        used.extend(families.map(str::to_string));
        let prefixed: [(&str, &[&str]); 6] = [
            ("compat", &["compatible", "warnings", "incompatible"]),
            ("action", &["default", "skip", "replace", "merge"]),
            ("outcome", &["success", "failure", "denied"]),
            (
                "frequency",
                &["hourly", "daily", "weekly", "monthly", "custom"],
            ),
            ("weekday", &["0", "1", "2", "3", "4", "5", "6"]),
            (
                "provider",
                &["local", "s3", "google_drive", "onedrive", "dropbox"],
            ),
        ];
        for (prefix, values) in prefixed {
            used.extend(values.iter().map(|v| format!("{prefix}-{v}")));
        }
        used.extend(
            orgbackup_service::notifications::ALL_EVENTS
                .iter()
                .map(|e| format!("event-{}", e.as_str())),
        );
        used.extend((1..=12).map(|m| format!("month-{m}")));
        for locale in Locale::ALL {
            for key in &used {
                assert!(
                    i18n::has_message(locale, key),
                    "`{key}` is not in {}/pages.ftl",
                    locale.as_str()
                );
            }
        }
    }
}
