//! Progress on the terminal: bars when stderr is a terminal, nothing otherwise (so logs and CI
//! output stay clean).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orgbackup_engine::{BackupProgress, Progress, RestoreProgress};
pub use orgbackup_service::errors::error_chain;

/// Tables done out of tables to do, for backups and restores.
pub struct TableBar {
    bar: ProgressBar,
}

impl TableBar {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tables  {msg}",
            )
            .expect("valid template"),
        );
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for TableBar {
    fn backup(&self, p: &BackupProgress) {
        self.bar.set_length(p.tables_total as u64);
        self.bar.set_position(p.tables_done as u64);
        self.bar.set_message(format!(
            "{} rows, {}{}",
            p.rows,
            human_bytes(p.bytes_read),
            p.current_table
                .as_deref()
                .map(|t| format!("  {t}"))
                .unwrap_or_default()
        ));
    }

    fn restore(&self, p: &RestoreProgress) {
        self.bar.set_length(p.tables_total as u64);
        self.bar.set_position(p.tables_done as u64);
        self.bar.set_message(format!(
            "{}: {} rows{}",
            p.phase,
            p.rows,
            p.current_table
                .as_deref()
                .map(|t| format!("  {t}"))
                .unwrap_or_default()
        ));
    }
}

pub fn bytes_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes_picks_a_readable_unit() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(5 << 30), "5.0 GiB");
    }
}
