//! Organizations as the tenant database knows them (the configured org table).

use orgbackup_engine::{QualifiedName, TenancyConfig, quote_ident};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Org {
    pub org_id: Uuid,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("no organization has the id or name `{0}`; `orgbackup orgs` lists them")]
    NotFound(String),
    #[error(
        "reading organizations from {table}: {source}; check tenancy.org_table, org_table_key and org_name_column"
    )]
    Sql {
        table: String,
        #[source]
        source: sqlx::Error,
    },
}

fn select_sql(tenancy: &TenancyConfig) -> (QualifiedName, String) {
    let default_schema = tenancy
        .schemas
        .first()
        .map(String::as_str)
        .unwrap_or("public");
    let table = QualifiedName::parse(&tenancy.org_table, default_schema);
    let sql = format!(
        "SELECT {key}::uuid AS org_id, {name}::text AS name FROM {table}",
        key = quote_ident(&tenancy.org_table_key),
        name = quote_ident(&tenancy.org_name_column),
        table = table.quoted(),
    );
    (table, sql)
}

pub async fn list(pool: &PgPool, tenancy: &TenancyConfig) -> Result<Vec<Org>, OrgError> {
    let (table, sql) = select_sql(tenancy);
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql} ORDER BY 2")))
        .fetch_all(pool)
        .await
        .map_err(|source| OrgError::Sql {
            table: table.to_string(),
            source,
        })
}

/// Finds an org by its id or its exact name.
pub async fn resolve(
    pool: &PgPool,
    tenancy: &TenancyConfig,
    id_or_name: &str,
) -> Result<Org, OrgError> {
    let (table, sql) = select_sql(tenancy);
    let key = quote_ident(&tenancy.org_table_key);
    let name = quote_ident(&tenancy.org_name_column);
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{sql} WHERE {key}::text = $1 OR {name}::text = $1 LIMIT 2"
    )))
    .bind(id_or_name)
    .fetch_all(pool)
    .await
    .map_err(|source| OrgError::Sql {
        table: table.to_string(),
        source,
    })?
    .into_iter()
    .next()
    .ok_or_else(|| OrgError::NotFound(id_or_name.to_string()))
}
