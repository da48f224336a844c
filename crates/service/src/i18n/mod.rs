//! Every word the service shows people, in English and Arabic: web pages, the human `message` of
//! API problems and notifications (email, webhook, in-app). One Fluent catalog holds them all, so
//! a translator works in one format and one test checks every text in both languages.
//!
//! The catalog is `crates/service/locales/<lang>/`, one file per area:
//!
//! - `pages.ftl`: the web UI; ids are the page's words (`backups-title`, `status-completed`).
//! - `problems.ftl`: `problem-<code>` for each API problem code, underscores written as hyphens
//!   (`not_found` -> `problem-not-found`), and `problem-other` for a code without a message.
//! - `notifications.ftl`: `notification-<event>-subject` and `-lead` per event (`backup_completed`
//!   -> `notification-backup-completed-subject`), and the lines and units of their bodies.
//!
//! The files of a language are loaded into one bundle, so an id is unique across areas (a test
//! checks it, and that both languages have the same ids per file). Files per area keep each one
//! short and let a change to notifications be reviewed without the pages around it; the id
//! prefixes keep areas apart inside the bundle.
//!
//! Arabic plurals take the six CLDR categories (zero, one, two, few, many, other), chosen by
//! Fluent; numbers, sizes and dates of pages are written the way each language writes them
//! ([`number`], [`bytes`], [`date`]).

mod catalog;
mod format;
mod locale;

pub use catalog::{count, has_message, message, message_with};
pub use format::{bytes, date, grouped, number};
pub use locale::{Locale, UnknownLocale};
