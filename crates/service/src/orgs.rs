//! Organizations as the tenant database knows them (the configured org table).

use crate::ids::OrgId;
use orgbackup_engine::{QualifiedName, TenancyConfig, quote_ident};
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Org {
    pub org_id: OrgId,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("no organization has the id or name `{0}`; `orgbackup orgs` lists them")]
    NotFound(String),
    #[error("{} organizations are named `{name}`: {}; give the id instead", .matches.len(), .matches.iter().map(|o| format!("{} ({})", o.org_id, o.name)).collect::<Vec<_>>().join(", "))]
    Ambiguous { name: String, matches: Vec<Org> },
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

/// Finds an org by its id first; by its exact name only when no id matches (so `--org <id of B>`
/// is B even when another org is *named* like B's id); a name several orgs share is an error
/// listing them.
pub async fn resolve(
    pool: &PgPool,
    tenancy: &TenancyConfig,
    id_or_name: &str,
) -> Result<Org, OrgError> {
    let (table, sql) = select_sql(tenancy);
    let key = quote_ident(&tenancy.org_table_key);
    let name = quote_ident(&tenancy.org_name_column);
    let sql_error = |source| OrgError::Sql {
        table: table.to_string(),
        source,
    };
    let by_id: Option<Org> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql} WHERE {key}::text = $1")))
            .bind(id_or_name)
            .fetch_optional(pool)
            .await
            .map_err(sql_error)?;
    if let Some(org) = by_id {
        return Ok(org);
    }
    let mut by_name: Vec<Org> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{sql} WHERE {name}::text = $1 ORDER BY 1 LIMIT 20"
    )))
    .bind(id_or_name)
    .fetch_all(pool)
    .await
    .map_err(sql_error)?;
    match by_name.len() {
        0 => Err(OrgError::NotFound(id_or_name.to_string())),
        1 => Ok(by_name.remove(0)),
        _ => Err(OrgError::Ambiguous {
            name: id_or_name.to_string(),
            matches: by_name,
        }),
    }
}
