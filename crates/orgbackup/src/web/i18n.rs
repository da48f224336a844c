//! Every word the web UI shows, from Fluent files (`crates/orgbackup/locales/{en,ar}.ftl`), with Arabic
//! plural categories (zero, one, two, few, many, other) chosen by Fluent's CLDR rules, and numbers,
//! sizes and dates written the way each language writes them.
//!
//! Templates call `t.t(KEY)`, `t.count(KEY, n)` (the message selects on `$count` and shows `$n`,
//! the number already formatted for the language), `t.with(KEY, NAME, value)` and
//! `t.of(FAMILY, value)` for keys built from stored values (`status-completed`).

use chrono::{DateTime, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use orgbackup_engine::Compatibility;
use orgbackup_service::locale::Locale;
use std::sync::OnceLock;

const ENGLISH: &str = include_str!("../../locales/en.ftl");
const ARABIC: &str = include_str!("../../locales/ar.ftl");

fn bundle(locale: Locale) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 2]> = OnceLock::new();
    let bundles = BUNDLES.get_or_init(|| {
        Locale::ALL.map(|locale| {
            let (source, tag) = match locale {
                Locale::En => (ENGLISH, "en"),
                Locale::Ar => (ARABIC, "ar"),
            };
            let resource = FluentResource::try_new(source.to_string())
                .unwrap_or_else(|(_, errors)| panic!("{tag}.ftl does not parse: {errors:?}"));
            let mut bundle =
                FluentBundle::new_concurrent(vec![tag.parse().expect("a valid language tag")]);
            // Templates isolate user text with <bdi>; Fluent's own isolation marks would show up
            // in copied text and attribute values.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .expect("message ids are unique (checked by a test)");
            bundle
        })
    });
    &bundles[match locale {
        Locale::En => 0,
        Locale::Ar => 1,
    }]
}

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

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let bundle = bundle(self.locale);
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::error!(key, locale = self.lang(), "missing translation");
            return key.to_string();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::error!(key, ?errors, "translation could not be formatted");
        }
        text.into_owned()
    }

    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// A message with one text argument `{ $name }`.
    pub fn with(&self, key: &str, name: &str, value: &str) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// A message about `count` things: `$count` selects the plural form, `$n` shows the number.
    pub fn count(&self, key: &str, count: impl Value<i64>) -> String {
        let count = count.get();
        let mut args = FluentArgs::new();
        args.set("count", FluentValue::from(count));
        args.set("n", FluentValue::from(self.number(count)));
        self.format(key, Some(&args))
    }

    /// Digits and grouping of the language: 1,234,567 / ١٬٢٣٤٬٥٦٧.
    pub fn number(&self, value: impl Value<i64>) -> String {
        let value = value.get();
        let digits = value.unsigned_abs().to_string();
        let separator = match self.locale {
            Locale::En => ',',
            Locale::Ar => '\u{066C}',
        };
        let mut grouped = String::new();
        if value < 0 {
            grouped.push('-');
        }
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(separator);
            }
            grouped.push(digit);
        }
        self.digits(&grouped)
    }

    /// Latin digits replaced by Arabic-Indic ones in Arabic.
    fn digits(&self, text: &str) -> String {
        match self.locale {
            Locale::En => text.to_string(),
            Locale::Ar => text
                .chars()
                .map(|c| match c.to_digit(10) {
                    Some(d) => char::from_u32(0x0660 + d).expect("Arabic-Indic digits exist"),
                    None if c == '.' => '\u{066B}',
                    None => c,
                })
                .collect(),
        }
    }

    /// A byte count in decimal units (as plan quotas are given): "1.2 GB" / "١٫٢ غيغابايت".
    pub fn bytes(&self, bytes: impl Value<i64>) -> String {
        let bytes = bytes.get();
        const UNITS: [&str; 5] = ["bytes-b", "bytes-kb", "bytes-mb", "bytes-gb", "bytes-tb"];
        let mut value = bytes.max(0) as f64;
        let mut unit = 0;
        while value >= 1000.0 && unit < UNITS.len() - 1 {
            value /= 1000.0;
            unit += 1;
        }
        let shown = if unit == 0 || value >= 100.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.1}")
        };
        self.with(UNITS[unit], "n", &self.digits(&shown))
    }

    /// "25 Nov 2026, 06:10 UTC" / "٢٥ نوفمبر ٢٠٢٦، ٠٦:١٠ UTC".
    pub fn date(&self, at: impl Value<DateTime<Utc>>) -> String {
        use chrono::Datelike;
        let at = &at.get();
        let month = self.t(&format!("month-{}", at.month()));
        let text = match self.locale {
            Locale::En => format!(
                "{} {month} {}, {} UTC",
                at.day(),
                at.year(),
                at.format("%H:%M")
            ),
            Locale::Ar => format!(
                "{} {month} {}، {} UTC",
                at.day(),
                at.year(),
                at.format("%H:%M")
            ),
        };
        self.digits(&text)
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

    /// The English and Arabic text of an API problem code (shared with the API's messages).
    pub fn problem(&self, code: &str) -> String {
        crate::http::problem_message(code, self.locale == Locale::Ar).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(source: &str) -> BTreeSet<String> {
        source
            .lines()
            .filter(|l| !l.starts_with([' ', '#', '\t']) && l.contains(" ="))
            .map(|l| l.split(" =").next().unwrap().trim().to_string())
            .collect()
    }

    #[test]
    fn no_message_is_defined_twice() {
        for (name, source) in [("en", ENGLISH), ("ar", ARABIC)] {
            let mut seen = BTreeSet::new();
            for line in source.lines() {
                if !line.starts_with([' ', '#', '\t']) && line.contains(" =") {
                    let key = line.split(" =").next().unwrap().trim();
                    assert!(seen.insert(key), "`{key}` is defined twice in {name}.ftl");
                }
            }
        }
    }

    #[test]
    fn both_languages_have_exactly_the_same_messages() {
        let (en, ar) = (keys(ENGLISH), keys(ARABIC));
        assert!(en.len() > 50, "{} messages", en.len());
        let only_en: Vec<_> = en.difference(&ar).collect();
        let only_ar: Vec<_> = ar.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in ar.ftl: {only_en:?}");
        assert!(only_ar.is_empty(), "missing in en.ftl: {only_ar:?}");
    }

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
                    bundle(locale).get_message(key).is_some(),
                    "`{key}` is not in {}.ftl",
                    locale.as_str()
                );
            }
        }
    }

    #[test]
    fn arabic_plurals_take_all_six_forms() {
        let t = Tr::new(Locale::Ar);
        let forms: Vec<String> = [0, 1, 2, 3, 11, 100]
            .into_iter()
            .map(|n| t.count("backups-count", n))
            .collect();
        assert_eq!(
            forms,
            [
                "لا توجد نسخ احتياطية",
                "نسخة احتياطية واحدة",
                "نسختان احتياطيتان",
                "٣ نسخ احتياطية",
                "١١ نسخة احتياطية",
                "١٠٠ نسخة احتياطية",
            ]
        );
        let en = Tr::new(Locale::En);
        assert_eq!(en.count("backups-count", 1), "1 backup");
        assert_eq!(en.count("backups-count", 1234), "1,234 backups");
    }

    #[test]
    fn numbers_sizes_and_dates_follow_the_language() {
        let (en, ar) = (Tr::new(Locale::En), Tr::new(Locale::Ar));
        assert_eq!(en.number(2074234), "2,074,234");
        assert_eq!(ar.number(2074234), "٢٬٠٧٤٬٢٣٤");
        assert_eq!(en.bytes(1_240_000_000), "1.2 GB");
        assert_eq!(ar.bytes(1_240_000_000), "١٫٢ غيغابايت");
        assert_eq!(en.bytes(512), "512 B");
        let at: DateTime<Utc> = "2026-11-25T06:10:00Z".parse().unwrap();
        assert_eq!(en.date(at), "25 Nov 2026, 06:10 UTC");
        assert_eq!(ar.date(at), "٢٥ نوفمبر ٢٠٢٦، ٠٦:١٠ UTC");
    }
}
