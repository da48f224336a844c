//! SQL fragments shared by classification and apply. Identifiers come from the catalog and are
//! quoted; values never are spliced in (the org comes from the session setting).

use super::staging::Target;
use crate::ident::quote_ident;

/// The staged value of `column` as today's type (alias `s`).
pub(super) fn staged(target: &Target, column: &str) -> String {
    staged_as(target, column, "s")
}

/// The staged value of `column` as today's type, from the staging row aliased `alias`.
pub(super) fn staged_as(target: &Target, column: &str, alias: &str) -> String {
    let c = target
        .columns
        .iter()
        .find(|c| c.name == column)
        .expect("only staged columns are asked for");
    match &c.today_type {
        Some(today) if *today != c.staging_type => {
            format!("{alias}.{}::{today}", quote_ident(column))
        }
        _ => format!("{alias}.{}", quote_ident(column)),
    }
}

/// `t.k1 = <staged k1> AND ...` for the target's key.
pub(super) fn key_match(target: &Target, live: &str) -> Option<String> {
    let key = target.key.as_ref()?;
    Some(
        key.iter()
            .map(|k| format!("{live}.{} = {}", quote_ident(k), staged(target, k)))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// True when every loaded column of the live row equals the staged one (compared as text, so
/// types without an equality operator, such as json, compare too).
pub(super) fn same_values(target: &Target, live: &str) -> String {
    let parts: Vec<String> = target
        .loaded()
        .map(|c| {
            format!(
                "{live}.{}::text IS NOT DISTINCT FROM ({})::text",
                quote_ident(&c.name),
                staged(target, &c.name)
            )
        })
        .collect();
    if parts.is_empty() {
        "true".into()
    } else {
        parts.join(" AND ")
    }
}

/// The value written for `column` when a conflict is merged: the current value unless NULL; two
/// JSON objects are combined, the current keys winning.
pub(super) fn merged_value(target: &Target, column: &str, live: &str) -> String {
    let current = format!("{live}.{}", quote_ident(column));
    let backup = staged(target, column);
    let today = target
        .columns
        .iter()
        .find(|c| c.name == column)
        .and_then(|c| c.today_type.clone())
        .unwrap_or_default();
    if today == "jsonb" {
        format!(
            "CASE WHEN jsonb_typeof({current}) = 'object' AND jsonb_typeof({backup}) = 'object' THEN {backup} || {current} ELSE coalesce({current}, {backup}) END"
        )
    } else {
        format!("coalesce({current}, {backup})")
    }
}

/// The whole loaded row of the live table (alias `live`) as one text value: a record of the
/// columns' text forms, whose output quotes empty strings and leaves NULLs empty, so two rows
/// have the same image exactly when `same_values` holds. Hashable, so keyless tables match by
/// hash join.
pub(super) fn live_image(target: &Target, live: &str) -> String {
    let parts: Vec<String> = target
        .loaded()
        .map(|c| format!("{live}.{}::text", quote_ident(&c.name)))
        .collect();
    format!("ROW({})::text", parts.join(", "))
}

/// The staged row (alias `alias`) as the same text image as [`live_image`].
pub(super) fn staged_image(target: &Target, alias: &str) -> String {
    let parts: Vec<String> = target
        .loaded()
        .map(|c| format!("({})::text", staged_as(target, &c.name, alias)))
        .collect();
    format!("ROW({})::text", parts.join(", "))
}
