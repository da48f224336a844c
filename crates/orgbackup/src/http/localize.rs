//! Adds a translated, human `message` (English or Arabic, from `Accept-Language`) to every
//! problem response; `detail` keeps the specifics in English for logs and support. The messages
//! are the catalog's `problem-<code>` (`crates/service/locales/<lang>/problems.ftl`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use orgbackup_service::i18n::{self, Locale};

/// The catalog id of a problem code's message: `not_found` -> `problem-not-found`.
fn message_id(code: &str) -> String {
    format!("problem-{}", code.replace('_', "-"))
}

/// The human message of a problem `code`, or a general one for a code without its own.
pub fn message(code: &str, locale: Locale) -> String {
    let id = message_id(code);
    if i18n::has_message(locale, &id) {
        i18n::message(locale, &id)
    } else {
        i18n::message(locale, "problem-other")
    }
}

/// The request's language: Arabic when its first `Accept-Language` is Arabic, else English.
fn requested_locale(request: &Request) -> Locale {
    let arabic = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().to_ascii_lowercase().starts_with("ar"));
    if arabic { Locale::Ar } else { Locale::En }
}

pub async fn localize(request: Request, next: Next) -> Response {
    let locale = requested_locale(&request);
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut problem) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let code = problem["code"].as_str().unwrap_or_default().to_string();
    problem["message"] = message(&code, locale).into();
    if locale == Locale::Ar {
        parts.headers.insert(
            header::CONTENT_LANGUAGE,
            "ar".parse().expect("valid header"),
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(problem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literal that `rest` starts with (after whitespace), if it looks like a code.
    fn code_at(rest: &str) -> Option<&str> {
        let literal = rest.trim_start().strip_prefix('"')?.split('"').next()?;
        let is_code =
            !literal.is_empty() && literal.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        is_code.then_some(literal)
    }

    /// Every code the HTTP modules answer with, read from their source: `code: "…"`,
    /// `rejected("…", …)` and the `(StatusCode::…, "…")` pairs of the error type.
    fn codes_in_source() -> Vec<String> {
        let sources = [
            include_str!("error.rs"),
            include_str!("backups.rs"),
            include_str!("restores.rs"),
            include_str!("upload.rs"),
            include_str!("extract.rs"),
            include_str!("idempotency.rs"),
            include_str!("audit_log.rs"),
            include_str!("auth.rs"),
            include_str!("notifications.rs"),
            include_str!("keys.rs"),
            include_str!("retention.rs"),
            include_str!("storage.rs"),
            include_str!("schedules.rs"),
        ];
        let mut codes = Vec::new();
        for source in sources {
            for marker in ["code: ", "rejected("] {
                for (at, _) in source.match_indices(marker) {
                    codes.extend(code_at(&source[at + marker.len()..]));
                }
            }
            for line in source.lines().filter(|l| l.contains("(StatusCode::")) {
                if let Some((_, rest)) = line.split_once(", ") {
                    codes.extend(code_at(rest));
                }
            }
        }
        let mut codes: Vec<String> = codes.into_iter().map(str::to_string).collect();
        codes.sort();
        codes.dedup();
        codes
    }

    #[test]
    fn every_problem_code_has_an_english_and_an_arabic_message() {
        let codes = codes_in_source();
        assert!(codes.len() >= 15, "the scan found too few codes: {codes:?}");
        for code in &codes {
            let id = message_id(code);
            assert_ne!(
                id, "problem-other",
                "the general message's id is taken by a code"
            );
            for locale in Locale::ALL {
                assert!(
                    i18n::has_message(locale, &id),
                    "problem code `{code}` has no `{id}` in {}/problems.ftl",
                    locale.as_str()
                );
            }
            assert!(
                message(code, Locale::Ar)
                    .chars()
                    .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
                "the Arabic message of `{code}` is not in Arabic"
            );
        }
    }
}
