//! Request input at the edge: JSON bodies, query strings and path parameters. Every failure to
//! parse them answers `application/problem+json` with a stable code (never axum's plain-text
//! rejections), and text holding a NUL byte is refused here, once for every route, since
//! PostgreSQL text cannot store one (it used to surface as a 500 from the database).
//!
//! Limits (documented in README, API section): a JSON body is at most [`MAX_JSON_BODY`] bytes
//! (413 past it), any string in it at most [`MAX_STRING_CHARS`] characters, and a name at most
//! [`MAX_NAME_CHARS`].

use super::error::AppError;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest JSON body accepted (uploads stream and have limits of their own).
pub const MAX_JSON_BODY: usize = 1 << 20;
/// The longest string accepted anywhere in a JSON body.
pub const MAX_STRING_CHARS: usize = 8192;
/// The longest name (of a backup, schedule, key or storage connection).
pub const MAX_NAME_CHARS: usize = 200;

/// A handler's JSON body, taken as a `Result` so permission checks can come before it.
pub(crate) type Body<T> = Result<AppJson<T>, AppError>;

/// `Json<T>` whose rejections are problems: 415 without a JSON content type, 413 past
/// [`MAX_JSON_BODY`], 422 `invalid_body` for bad syntax or shape, 422 `nul_byte` for a NUL in
/// any string (keys included), 422 `string_too_long` past [`MAX_STRING_CHARS`].
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(AppError::Invalid {
                code: "invalid_body",
                message: "the body must be JSON, sent with `Content-Type: application/json`".into(),
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Parses a JSON body as [`AppJson`] does, for handlers that take the bytes themselves.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    check_json_text(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| AppError::Invalid {
        code: "invalid_body",
        message: format!("the body is not valid JSON of the expected shape: {e}"),
    })
}

fn body_rejection(rejection: BytesRejection) -> AppError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge(format!(
            "the request body is larger than {MAX_JSON_BODY} bytes"
        ))
    } else {
        AppError::Invalid {
            code: "invalid_body",
            message: rejection.body_text(),
        }
    }
}

/// Walks a JSON document without building it, refusing NUL bytes and overlong strings. Invalid
/// JSON passes: the typed parse that follows reports it with its position.
fn check_json_text(bytes: &[u8]) -> Result<(), AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match deserializer.deserialize_any(TextCheck) {
        Err(error) if error.is_data() => {
            let message = error.to_string();
            let code = if message.contains("NUL") {
                "nul_byte"
            } else {
                "string_too_long"
            };
            Err(AppError::Invalid {
                code,
                message: message.split(" at line").next().unwrap_or_default().into(),
            })
        }
        _ => Ok(()),
    }
}

struct TextCheck;

impl TextCheck {
    fn check<E: de::Error>(text: &str) -> Result<(), E> {
        if text.contains('\0') {
            Err(E::custom(
                "a text field contains a NUL byte (\\u0000), which text cannot hold; remove it",
            ))
        } else if text.chars().count() > MAX_STRING_CHARS {
            Err(E::custom(format!(
                "a text field is longer than {MAX_STRING_CHARS} characters"
            )))
        } else {
            Ok(())
        }
    }
}

impl<'de> de::Deserialize<'de> for TextCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextCheck)
    }
}

impl<'de> Visitor<'de> for TextCheck {
    type Value = TextCheck;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self, E> {
        Self::check(text).map(|()| TextCheck)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(TextCheck)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(TextCheck)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(TextCheck)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(TextCheck)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(TextCheck)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<TextCheck>()?.is_some() {}
        Ok(TextCheck)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<TextCheck>()?.is_some() {
            map.next_value::<TextCheck>()?;
        }
        Ok(TextCheck)
    }
}

/// `Query<T>` whose rejection is a 422 `invalid_query` problem.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AppQuery(q.0))
            .map_err(|rejection: QueryRejection| AppError::Invalid {
                code: "invalid_query",
                message: rejection.body_text(),
            })
    }
}

/// `Path<T>` whose rejection is a 422 `invalid_path` problem (e.g. an id that is not a UUID).
pub struct AppPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AppPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| AppPath(p.0))
            .map_err(|rejection: PathRejection| AppError::Invalid {
                code: "invalid_path",
                message: rejection.body_text(),
            })
    }
}

/// Refuses, for every route (API and web), a request whose path or query string decodes to text
/// with a NUL byte (`%00`), before any handler or database sees it.
pub async fn refuse_nul_in_uri(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let in_path = percent_decodes_to_nul(uri.path().as_bytes());
    let in_query = uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k.contains('\0') || v.contains('\0'))
    });
    if in_path || in_query {
        return AppError::Invalid {
            code: "nul_byte",
            message: format!(
                "the request's {} contains a NUL byte (%00), which text cannot hold; remove it",
                if in_path { "path" } else { "query string" }
            ),
        }
        .into_response();
    }
    next.run(request).await
}

fn percent_decodes_to_nul(path: &[u8]) -> bool {
    path.windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// Checks a name a user gives (trimmed): not empty, at most [`MAX_NAME_CHARS`] characters, no
/// control characters. `what` names the field in the message.
pub fn check_name(what: &str, name: &str) -> Result<(), AppError> {
    let name = name.trim();
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!("is longer than {MAX_NAME_CHARS} characters"))
    } else if name.chars().any(char::is_control) {
        Some("contains a control character".to_string())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(AppError::Invalid {
            code: "invalid_name",
            message: format!(
                "the {what} {problem}; give a name of 1 to {MAX_NAME_CHARS} characters"
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(json: &str) -> Option<&'static str> {
        match check_json_text(json.as_bytes()) {
            Err(AppError::Invalid { code, .. }) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn nul_bytes_are_found_in_any_string_and_escaped_backslashes_are_not_nul() {
        assert_eq!(code(r#"{"name": "a\u0000b"}"#), Some("nul_byte"));
        assert_eq!(code(r#"{"a": [1, {"b\u0000": 2}]}"#), Some("nul_byte"));
        assert_eq!(code(r#"{"name": "a\\u0000b"}"#), None);
        assert_eq!(code(r#"{"name": "ok", "n": [1, 2.5, null, true]}"#), None);
        let long = format!(r#"{{"name": "{}"}}"#, "x".repeat(MAX_STRING_CHARS + 1));
        assert_eq!(code(&long), Some("string_too_long"));
    }

    #[test]
    fn percent_encoded_nul_is_found_in_paths() {
        assert!(percent_decodes_to_nul(b"/api/v1/storage/connections/a%00b"));
        assert!(!percent_decodes_to_nul(
            b"/api/v1/storage/connections/a%200"
        ));
    }

    #[test]
    fn names_are_bounded() {
        assert!(check_name("name", "Nightly").is_ok());
        assert!(check_name("name", "  ").is_err());
        assert!(check_name("name", &"n".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name("name", "a\u{7}b").is_err());
    }
}
