//! The connection pool and the service's migrations.

use crate::config::{Settings, redact_url};
use crate::ids::OrgId;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("app_schema `{0}` must be a lowercase SQL identifier (letters, digits, _)")]
    BadSchemaName(String),
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; is it running, and is database.url (ORGBACKUP__DATABASE__URL) right?"
    )]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

fn connect_options(settings: &Settings) -> Result<PgConnectOptions, DbError> {
    let schema = &settings.app_schema;
    let valid = !schema.is_empty()
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(DbError::BadSchemaName(schema.clone()));
    }
    let url = settings.database.url.expose_secret();
    let options = PgConnectOptions::from_str(url).map_err(|source| DbError::Connect {
        url: redact_url(url),
        source,
    })?;
    // Unqualified names resolve to the service's own tables; tenant tables are always qualified.
    Ok(options.options([("search_path", format!("{schema},public"))]))
}

/// Connects, creating the database first when `create_database` is set and it does not exist.
pub async fn connect(settings: &Settings, create_database: bool) -> Result<PgPool, DbError> {
    let options = connect_options(settings)?;
    let url = redact_url(settings.database.url.expose_secret());
    if create_database {
        ensure_database(&options)
            .await
            .map_err(|source| DbError::Connect {
                url: url.clone(),
                source,
            })?;
    }
    PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect { url, source })
}

async fn ensure_database(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let mut admin = options.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = orgbackup_engine::quote_ident(&name);
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    Ok(())
}

/// Creates the application schema and applies pending migrations.
/// Connects and brings the service's tables up to date: for commands that use them, so an
/// upgraded binary never meets an older schema.
pub async fn connect_migrated(settings: &Settings) -> Result<PgPool, DbError> {
    let pool = connect(settings, false).await?;
    migrate(&pool, &settings.app_schema).await?;
    Ok(pool)
}

/// Migrations of this build not (successfully) applied to the database: 0 when it is up to date.
pub async fn pending_migrations(pool: &PgPool) -> Result<usize, DbError> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .count())
}

pub async fn migrate(pool: &PgPool, app_schema: &str) -> Result<(), DbError> {
    let quoted = orgbackup_engine::quote_ident(app_schema);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted}"
    )))
    .execute(pool)
    .await?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Begins a transaction in which the service's tables show only `org_id`'s rows.
pub async fn org_transaction(
    pool: &PgPool,
    org_id: OrgId,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.current_org_id', $1, true)")
        .bind(org_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Begins a transaction that sees every org's rows of the service's tables: for the job queue,
/// the scheduler, housekeeping and sign-in, which work across orgs by design. Never for a request
/// made on behalf of one org (that is [`org_transaction`]).
pub async fn system_transaction(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.bypass_org_rls', 'on', true)")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
