//! Reads tables, columns, keys and foreign keys of some schemas from `pg_catalog`.
//! Only raw facts here; what they mean for tenancy is decided in `discovery`.

use crate::ident::QualifiedName;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

#[derive(Clone, Debug)]
pub(crate) struct CatalogTable {
    pub oid: i64,
    pub name: QualifiedName,
    pub partitioned: bool,
    pub columns: Vec<Column>,
    pub primary_key: Option<Vec<String>>,
    pub unique_keys: Vec<Vec<String>>,
    pub unique_indexes: Vec<UniqueIndex>,
    pub foreign_keys: Vec<ForeignKey>,
}

/// A unique index that no column list describes: partial (`WHERE ...`), on expressions
/// (`lower(email)`), or `NULLS NOT DISTINCT`. Its SQL is today's catalog's, over the table's
/// bare column names; it is never stored in an archive (whose text would be untrusted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UniqueIndex {
    pub name: String,
    /// The key's elements: a column name or an expression, as `pg_get_indexdef` spells them.
    pub elements: Vec<String>,
    /// The type of each element.
    pub element_types: Vec<String>,
    pub predicate: Option<String>,
    pub nulls_not_distinct: bool,
    /// Every column the elements and the predicate read.
    pub columns: Vec<String>,
}

/// One column as the catalog describes it; part of every backup's schema snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `format_type` spelling, e.g. `numeric(12,2)`, `timestamp with time zone`.
    pub data_type: String,
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `always` / `by default` for identity columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Stored generated columns are never backed up nor written; they are recomputed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generated: bool,
    /// The sequence behind a serial or identity column, moved forward on restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
}

/// A foreign key as part of the schema snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references: QualifiedName,
    pub referenced_columns: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deferrable: bool,
    /// Whether every column of the key is NOT NULL (a nullable key can leave rows unreachable).
    pub not_null: bool,
    /// Declared in configuration (`tenancy.relations`), not a constraint: PostgreSQL does not
    /// enforce it, so a restore checks it like any other parent but never needs to defer it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declared: bool,
}

#[derive(sqlx::FromRow)]
struct TableRow {
    oid: i64,
    schema: String,
    name: String,
    kind: String,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    table_oid: i64,
    name: String,
    data_type: String,
    not_null: bool,
    default_expr: Option<String>,
    identity: String,
    generated: String,
    sequence: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ConstraintRow {
    name: String,
    kind: String,
    table_oid: i64,
    columns: Vec<String>,
    ref_schema: Option<String>,
    ref_table: Option<String>,
    ref_columns: Vec<String>,
    deferrable: bool,
}

/// Loads every ordinary and partitioned table of `schemas` (partitions are read through their
/// parent, so they are not listed), with columns in order, keys and outgoing foreign keys.
pub(crate) async fn load(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Vec<CatalogTable>, sqlx::Error> {
    let mut tables = load_tables(conn, schemas).await?;
    let oids: Vec<i64> = tables.iter().map(|t| t.oid).collect();
    // Columns come first: whether a foreign key is NOT NULL is read from them.
    add_columns(conn, &oids, &mut tables).await?;
    add_constraints(conn, &oids, &mut tables).await?;
    // After the constraints, so a unique index with a constraint's columns is listed once.
    add_unique_indexes(conn, &oids, &mut tables).await?;
    add_special_unique_indexes(conn, &oids, &mut tables).await?;
    Ok(tables)
}

/// The tables alone, without columns or keys yet.
async fn load_tables(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Vec<CatalogTable>, sqlx::Error> {
    let table_rows: Vec<TableRow> = sqlx::query_as(
        "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name,
                c.relkind::text AS kind
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          ORDER BY n.nspname, c.relname",
    )
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await?;
    let tables = table_rows
        .into_iter()
        .map(|row| CatalogTable {
            oid: row.oid,
            name: QualifiedName::new(row.schema, row.name),
            partitioned: row.kind == "p",
            columns: Vec::new(),
            primary_key: None,
            unique_keys: Vec::new(),
            unique_indexes: Vec::new(),
            foreign_keys: Vec::new(),
        })
        .collect();
    Ok(tables)
}

fn table_mut(tables: &mut [CatalogTable], oid: i64) -> Option<&mut CatalogTable> {
    tables.iter_mut().find(|t| t.oid == oid)
}

async fn add_columns(
    conn: &mut PgConnection,
    oids: &[i64],
    tables: &mut [CatalogTable],
) -> Result<(), sqlx::Error> {
    let column_rows: Vec<ColumnRow> = sqlx::query_as(
        "SELECT a.attrelid::int8 AS table_oid, a.attname::text AS name,
                format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null,
                CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default_expr,
                a.attidentity::text AS identity, a.attgenerated::text AS generated,
                pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) AS sequence
           FROM pg_attribute a
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = ANY($1::int8[]::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attrelid, a.attnum",
    )
    .bind(oids)
    .fetch_all(&mut *conn)
    .await?;
    for row in column_rows {
        let Some(table) = table_mut(tables, row.table_oid) else {
            continue;
        };
        table.columns.push(Column {
            name: row.name,
            data_type: row.data_type,
            not_null: row.not_null,
            default: row.default_expr,
            identity: match row.identity.as_str() {
                "a" => Some("always".into()),
                "d" => Some("by default".into()),
                _ => None,
            },
            generated: !row.generated.is_empty(),
            sequence: row.sequence,
        });
    }
    Ok(())
}

/// Primary keys, UNIQUE constraints and foreign keys.
async fn add_constraints(
    conn: &mut PgConnection,
    oids: &[i64],
    tables: &mut [CatalogTable],
) -> Result<(), sqlx::Error> {
    // conparentid = 0 skips the copies of a partitioned table's constraints on its partitions.
    let constraint_rows: Vec<ConstraintRow> = sqlx::query_as(
        "SELECT con.conname::text AS name, con.contype::text AS kind, con.conrelid::int8 AS table_oid,
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                       ORDER BY k.ord) AS columns,
                rn.nspname::text AS ref_schema, rc.relname::text AS ref_table,
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                       ORDER BY k.ord) AS ref_columns,
                con.condeferrable AS deferrable
           FROM pg_constraint con
           LEFT JOIN pg_class rc ON rc.oid = con.confrelid
           LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
          WHERE con.conrelid = ANY($1::int8[]::oid[]) AND con.contype IN ('p', 'u', 'f')
            AND con.conparentid = 0
          ORDER BY con.conrelid, con.contype, con.conname",
    )
    .bind(oids)
    .fetch_all(&mut *conn)
    .await?;
    for row in constraint_rows {
        let Some(table) = table_mut(tables, row.table_oid) else {
            continue;
        };
        match row.kind.as_str() {
            "p" => table.primary_key = Some(row.columns),
            "u" => table.unique_keys.push(row.columns),
            _ => {
                let not_null = row.columns.iter().all(|c| {
                    table
                        .columns
                        .iter()
                        .any(|col| &col.name == c && col.not_null)
                });
                table.foreign_keys.push(ForeignKey {
                    name: row.name,
                    columns: row.columns,
                    references: QualifiedName::new(
                        row.ref_schema.unwrap_or_default(),
                        row.ref_table.unwrap_or_default(),
                    ),
                    referenced_columns: row.ref_columns,
                    deferrable: row.deferrable,
                    not_null,
                    declared: false,
                });
            }
        }
    }
    Ok(())
}

async fn add_unique_indexes(
    conn: &mut PgConnection,
    oids: &[i64],
    tables: &mut [CatalogTable],
) -> Result<(), sqlx::Error> {
    // Unique indexes that back no constraint bind rows as much as UNIQUE constraints do (a
    // restore must plan them). Partial and expression indexes are left out: they constrain
    // only some rows or computed values, which no column list describes.
    let index_rows: Vec<(i64, Vec<String>)> = sqlx::query_as(
        "SELECT i.indrelid::int8,
                ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(num, ord)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
                       ORDER BY k.ord)
           FROM pg_index i
          WHERE i.indrelid = ANY($1::int8[]::oid[]) AND i.indisunique AND NOT i.indisprimary
            AND i.indpred IS NULL AND i.indexprs IS NULL
            AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
          ORDER BY i.indrelid, i.indexrelid",
    )
    .bind(oids)
    .fetch_all(&mut *conn)
    .await?;
    for (oid, columns) in index_rows {
        if let Some(table) = table_mut(tables, oid)
            && !table.unique_keys.contains(&columns)
        {
            table.unique_keys.push(columns);
        }
    }
    Ok(())
}

/// Unique indexes that no column list describes (see [`UniqueIndex`]).
async fn add_special_unique_indexes(
    conn: &mut PgConnection,
    oids: &[i64],
    tables: &mut [CatalogTable],
) -> Result<(), sqlx::Error> {
    let special_rows: Vec<UniqueIndexRow> = sqlx::query_as(
        "SELECT i.indrelid::int8 AS table_oid, c.relname::text AS name,
                ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                        FROM generate_series(1, i.indnkeyatts::int) k ORDER BY k) AS elements,
                ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                       WHERE a.attrelid = i.indexrelid AND a.attnum BETWEEN 1 AND i.indnkeyatts
                       ORDER BY a.attnum) AS element_types,
                pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
                coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
                ARRAY(SELECT DISTINCT a.attname::text FROM pg_depend d
                        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                       WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                         AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0) AS columns
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = ANY($1::int8[]::oid[]) AND i.indisunique AND NOT i.indisprimary
            AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL
                 OR coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false))
          ORDER BY i.indrelid, c.relname",
    )
    .bind(oids)
    .fetch_all(&mut *conn)
    .await?;
    for row in special_rows {
        if let Some(table) = table_mut(tables, row.table_oid) {
            table.unique_indexes.push(UniqueIndex {
                name: row.name,
                elements: row.elements,
                element_types: row.element_types,
                predicate: row.predicate,
                nulls_not_distinct: row.nulls_not_distinct,
                columns: row.columns,
            });
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct UniqueIndexRow {
    table_oid: i64,
    name: String,
    elements: Vec<String>,
    element_types: Vec<String>,
    predicate: Option<String>,
    nulls_not_distinct: bool,
    columns: Vec<String>,
}
