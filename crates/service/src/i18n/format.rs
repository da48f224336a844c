//! Numbers, sizes and dates the way each language writes them on pages: Arabic uses
//! Arabic-Indic digits, its own thousands and decimal separators and Arabic month names.

use super::Locale;
use super::catalog::{message, message_with};
use chrono::{DateTime, Datelike, Utc};

/// The digits of `value` grouped by thousands with commas: `1234567` -> `1,234,567`.
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Digits and grouping of the language: 1,234,567 / ١٬٢٣٤٬٥٦٧.
pub fn number(locale: Locale, value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let grouped = grouped(value.unsigned_abs());
    let grouped = match locale {
        Locale::En => grouped,
        Locale::Ar => grouped.replace(',', "\u{066C}"),
    };
    digits(locale, &format!("{sign}{grouped}"))
}

/// Latin digits and the decimal point replaced by Arabic-Indic ones in Arabic.
fn digits(locale: Locale, text: &str) -> String {
    match locale {
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
pub fn bytes(locale: Locale, bytes: i64) -> String {
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
    message_with(locale, UNITS[unit], &[("n", &digits(locale, &shown))])
}

/// "25 Nov 2026, 06:10 UTC" / "٢٥ نوفمبر ٢٠٢٦، ٠٦:١٠ UTC".
pub fn date(locale: Locale, at: DateTime<Utc>) -> String {
    let month = message(locale, &format!("month-{}", at.month()));
    let comma = match locale {
        Locale::En => ",",
        Locale::Ar => "،",
    };
    let text = format!(
        "{} {month} {}{comma} {} UTC",
        at.day(),
        at.year(),
        at.format("%H:%M")
    );
    digits(locale, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sizes_and_dates_follow_the_language() {
        use Locale::{Ar, En};
        assert_eq!(number(En, 2074234), "2,074,234");
        assert_eq!(number(Ar, 2074234), "٢٬٠٧٤٬٢٣٤");
        assert_eq!(number(En, -1000), "-1,000");
        assert_eq!(number(En, 999), "999");
        assert_eq!(bytes(En, 1_240_000_000), "1.2 GB");
        assert_eq!(bytes(Ar, 1_240_000_000), "١٫٢ غيغابايت");
        assert_eq!(bytes(En, 512), "512 B");
        let at: DateTime<Utc> = "2026-11-25T06:10:00Z".parse().unwrap();
        assert_eq!(date(En, at), "25 Nov 2026, 06:10 UTC");
        assert_eq!(date(Ar, at), "٢٥ نوفمبر ٢٠٢٦، ٠٦:١٠ UTC");
    }
}
