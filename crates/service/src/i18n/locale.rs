//! The service's two languages. English is the default; Arabic is written right to left.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    #[default]
    En,
    Ar,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown locale `{0}`; the locales are en and ar")]
pub struct UnknownLocale(pub String);

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Ar];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ar => "ar",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownLocale> {
        match text.trim() {
            "en" => Ok(Locale::En),
            "ar" => Ok(Locale::Ar),
            other => Err(UnknownLocale(other.to_string())),
        }
    }

    /// The HTML `dir` of pages in this language.
    pub fn direction(self) -> &'static str {
        match self {
            Locale::En => "ltr",
            Locale::Ar => "rtl",
        }
    }
}
