//! Errors as people read them.

/// An error and its causes on one line, each cause once: our error types often quote their
/// source in their own message, and `{:#}` would repeat it.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

#[cfg(test)]
mod error_chain_tests {
    use super::*;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(io)
            .context("writing x: disk on fire")
            .context("backup failed");
        assert_eq!(
            error_chain(&error),
            "backup failed: writing x: disk on fire"
        );
    }
}
