//! The Fluent bundles of the catalog, one per language, loaded once, and the lookups on them.
//! A missing id or a formatting error is logged and shows the id (or what could be formatted)
//! instead of failing the page, email or response that asked for it.

use super::Locale;
use super::format::number;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::OnceLock;

/// The catalog's files: the area, its English source and its Arabic source.
const FILES: [(&str, &str, &str); 3] = [
    (
        "pages",
        include_str!("../../locales/en/pages.ftl"),
        include_str!("../../locales/ar/pages.ftl"),
    ),
    (
        "problems",
        include_str!("../../locales/en/problems.ftl"),
        include_str!("../../locales/ar/problems.ftl"),
    ),
    (
        "notifications",
        include_str!("../../locales/en/notifications.ftl"),
        include_str!("../../locales/ar/notifications.ftl"),
    ),
];

fn source(locale: Locale, english: &'static str, arabic: &'static str) -> &'static str {
    match locale {
        Locale::En => english,
        Locale::Ar => arabic,
    }
}

fn load(locale: Locale) -> FluentBundle<FluentResource> {
    let tag = locale.as_str();
    let mut bundle = FluentBundle::new_concurrent(vec![tag.parse().expect("a valid language tag")]);
    // Pages isolate user text with <bdi>, and emails are plain text; Fluent's own isolation marks
    // would show up in copied text, attribute values and subjects.
    bundle.set_use_isolating(false);
    for (area, english, arabic) in FILES {
        let resource = FluentResource::try_new(source(locale, english, arabic).to_string())
            .unwrap_or_else(|(_, errors)| panic!("{tag}/{area}.ftl does not parse: {errors:?}"));
        bundle
            .add_resource(resource)
            .unwrap_or_else(|errors| panic!("{tag}/{area}.ftl repeats an id: {errors:?}"));
    }
    bundle
}

fn bundle(locale: Locale) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 2]> = OnceLock::new();
    let bundles = BUNDLES.get_or_init(|| Locale::ALL.map(load));
    &bundles[match locale {
        Locale::En => 0,
        Locale::Ar => 1,
    }]
}

fn format(locale: Locale, id: &str, args: Option<&FluentArgs>) -> String {
    let bundle = bundle(locale);
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        tracing::error!(id, locale = locale.as_str(), "missing translation");
        return id.to_string();
    };
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::error!(id, ?errors, "translation could not be formatted");
    }
    text.into_owned()
}

/// Whether the catalog has `id` in `locale`: for ids built from codes that may have no message
/// of their own, and for tests of the ids the edges build.
pub fn has_message(locale: Locale, id: &str) -> bool {
    bundle(locale).has_message(id)
}

pub fn message(locale: Locale, id: &str) -> String {
    format(locale, id, None)
}

/// A message with text arguments: `("name", "nightly")` fills `{ $name }`.
pub fn message_with(locale: Locale, id: &str, args: &[(&str, &str)]) -> String {
    let mut fluent = FluentArgs::with_capacity(args.len());
    for &(name, value) in args {
        fluent.set(name, FluentValue::from(value));
    }
    format(locale, id, Some(&fluent))
}

/// A message about `count` things: `$count` selects the plural form, `$n` shows the number
/// written the language's way.
pub fn count(locale: Locale, id: &str, count: i64) -> String {
    let mut args = FluentArgs::new();
    args.set("count", FluentValue::from(count));
    args.set("n", FluentValue::from(number(locale, count)));
    format(locale, id, Some(&args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// The ids a file defines, each with the variables (`$name`) its text uses, read line by
    /// line: an entry starts at a line that is neither indented nor a comment.
    fn entries(file: &str, source: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut entries = BTreeMap::<String, BTreeSet<String>>::new();
        let mut current = None;
        for line in source.lines() {
            if line.starts_with('#') {
                continue;
            }
            let text = if !line.starts_with([' ', '\t']) && line.contains(" =") {
                let (id, text) = line.split_once(" =").unwrap();
                let id = id.trim().to_string();
                assert!(
                    entries.insert(id.clone(), BTreeSet::new()).is_none(),
                    "`{id}` is defined twice in {file}"
                );
                current = Some(id);
                text
            } else {
                line
            };
            let Some(id) = &current else { continue };
            for (at, _) in text.match_indices('$') {
                let name: String = text[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                entries.get_mut(id).unwrap().insert(name);
            }
        }
        entries
    }

    #[test]
    fn both_languages_have_the_same_ids_with_the_same_variables_in_each_file() {
        for (area, english, arabic) in FILES {
            let en = entries(&format!("en/{area}.ftl"), english);
            let ar = entries(&format!("ar/{area}.ftl"), arabic);
            assert!(en.len() > 10, "{area}: {} messages", en.len());
            let only_en: Vec<_> = en.keys().filter(|id| !ar.contains_key(*id)).collect();
            let only_ar: Vec<_> = ar.keys().filter(|id| !en.contains_key(*id)).collect();
            assert!(only_en.is_empty(), "missing in ar/{area}.ftl: {only_en:?}");
            assert!(only_ar.is_empty(), "missing in en/{area}.ftl: {only_ar:?}");
            for (id, variables) in &en {
                assert_eq!(variables, &ar[id], "the variables of `{id}` ({area}.ftl)");
            }
        }
    }

    #[test]
    fn every_file_parses_and_no_id_is_in_two_files() {
        for locale in Locale::ALL {
            let mut seen = BTreeMap::new();
            for (area, english, arabic) in FILES {
                let source = source(locale, english, arabic);
                if let Err((_, errors)) = FluentResource::try_new(source.to_string()) {
                    panic!("{}/{area}.ftl does not parse: {errors:?}", locale.as_str());
                }
                for id in entries(area, source).into_keys() {
                    if let Some(other) = seen.insert(id.clone(), area) {
                        panic!("`{id}` is in both {other}.ftl and {area}.ftl");
                    }
                }
            }
            // Loading panics on any of the above too; every id is then found.
            assert!(seen.keys().all(|id| has_message(locale, id)));
        }
    }

    /// The edges build `problem-…` and `notification-…` ids at run time: their files hold only
    /// ids of their prefix, so a reader knows where each one lives.
    #[test]
    fn problems_and_notifications_keep_to_their_prefix() {
        for (area, english, _) in FILES {
            let prefix = match area {
                "problems" => "problem-",
                "notifications" => "notification-",
                _ => continue,
            };
            for id in entries(area, english).into_keys() {
                assert!(id.starts_with(prefix), "`{id}` in {area}.ftl");
            }
        }
    }

    #[test]
    fn arabic_plurals_take_all_six_forms() {
        let forms: Vec<String> = [0, 1, 2, 3, 11, 100]
            .into_iter()
            .map(|n| count(Locale::Ar, "backups-count", n))
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
        assert_eq!(count(Locale::En, "backups-count", 1), "1 backup");
        assert_eq!(count(Locale::En, "backups-count", 1234), "1,234 backups");
    }

    #[test]
    fn arguments_fill_variables_and_a_missing_id_shows_itself() {
        let args = [("value", "Acme")];
        assert_eq!(
            message_with(Locale::En, "notification-line-organization", &args),
            "Organization: Acme"
        );
        assert_eq!(
            message_with(Locale::Ar, "notification-line-organization", &args),
            "المؤسسة: Acme",
            "no isolation marks around the value"
        );
        assert_eq!(message(Locale::En, "problem-not-found"), "Not found.");
        assert_eq!(message(Locale::Ar, "no-such-id"), "no-such-id");
    }
}
