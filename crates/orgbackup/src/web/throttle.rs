//! Sign-in throttling per account and per client address, counted in PostgreSQL
//! (`sign_in_attempts`) so that every server process sees the same attempts.
//!
//! An attempt is recorded (committed) before the password is checked and then counted: concurrent
//! guesses see each other, so a burst cannot slip past the limit. A refused attempt is removed
//! again (being refused does not extend the lockout); a failed one stays; a successful sign-in
//! clears its account's failures (the address keeps its count).

use orgbackup_service::config::HttpSettings;
use sqlx::PgPool;

/// Whether a sign-in attempt may go on to the password check.
pub enum Attempt {
    /// Recorded as attempt `id`: report the outcome with [`succeeded`] (or leave it a failure).
    Allowed { id: i64 },
    /// Too many recent failures: try again in `retry_after` seconds.
    Refused { retry_after: u64 },
}

/// Records an attempt on `account` (an email, compared case-insensitively) from `address`, and
/// says whether it may be checked.
pub async fn begin(
    pool: &PgPool,
    limits: &HttpSettings,
    account: &str,
    address: Option<&str>,
) -> Result<Attempt, sqlx::Error> {
    let account = account.trim().to_lowercase();
    let window = i32::try_from(limits.sign_in_window_seconds).unwrap_or(i32::MAX);
    sqlx::query(
        "DELETE FROM sign_in_attempts WHERE attempted_at < now() - make_interval(secs => $1)",
    )
    .bind(f64::from(window))
    .execute(pool)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sign_in_attempts (account, address) VALUES ($1, $2) RETURNING attempt_id",
    )
    .bind(&account)
    .bind(address)
    .fetch_one(pool)
    .await?;
    // Seconds until the attempt that holds the count at the limit ages out of the window (0: the
    // count, this attempt included, is within the limit).
    let wait = |column: &'static str, value: Option<String>, limit: u32| {
        let sql = format!(
            "SELECT ceil(extract(epoch FROM attempted_at + make_interval(secs => $2) - now()))::bigint
               FROM sign_in_attempts
              WHERE {column} = $1 AND attempted_at >= now() - make_interval(secs => $2)
              ORDER BY attempted_at DESC, attempt_id DESC OFFSET $3 LIMIT 1"
        );
        async move {
            let Some(value) = value else {
                return Ok::<i64, sqlx::Error>(0);
            };
            let wait: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .bind(f64::from(window))
                .bind(i64::from(limit))
                .fetch_optional(pool)
                .await?;
            Ok(wait.unwrap_or(0))
        }
    };
    let account_wait = wait("account", Some(account), limits.sign_in_account_failures).await?;
    let address_wait = wait(
        "address",
        address.map(str::to_string),
        limits.sign_in_address_failures,
    )
    .await?;
    let retry_after = account_wait.max(address_wait);
    if retry_after <= 0 {
        return Ok(Attempt::Allowed { id });
    }
    sqlx::query("DELETE FROM sign_in_attempts WHERE attempt_id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(Attempt::Refused {
        retry_after: retry_after.max(1) as u64,
    })
}

/// A sign-in succeeded: its attempt is not a failure, and the account's failures are forgiven.
pub async fn succeeded(pool: &PgPool, id: i64, account: &str) -> Result<(), sqlx::Error> {
    let account = account.trim().to_lowercase();
    sqlx::query("DELETE FROM sign_in_attempts WHERE attempt_id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    sqlx::query("UPDATE sign_in_attempts SET account = NULL WHERE account = $1")
        .bind(account)
        .execute(pool)
        .await?;
    Ok(())
}
