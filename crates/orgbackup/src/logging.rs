//! The log on stderr: readable lines, or one JSON object per line (`log.format = "json"`) for log
//! collectors. `ORGBACKUP_LOG` filters events (`info`, `orgbackup_service=debug`, ...).

use orgbackup_service::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_env("ORGBACKUP_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,sqlx::query=error"));
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Text => lines.init(),
        // The event's fields at the top level, and the fields of the spans it happened in (the
        // job's id and org, for example) under `spans`.
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}
