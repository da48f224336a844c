//! Which organization a tenant row belongs to, decided once per table from the catalog and the
//! configuration, and the SQL that finds an org's rows.
//!
//! The rule (docs in README, "Ownership"):
//! 1. A table with an org column belongs to the org *directly*. A NULL in a nullable org column
//!    means the row is *shared* by every org: in no backup, never written or deleted by a restore,
//!    always a valid parent.
//! 2. Otherwise, when a path of NOT NULL foreign keys leads to a NOT NULL org column, the shortest
//!    such path is taken (ties by key name): every row has exactly one org (`Through`).
//! 3. Otherwise a row belongs to the org when ANY of its foreign keys into tenant tables reaches
//!    the org (`AnyPath`); a row whose paths reach different orgs is *ambiguous*: in no backup,
//!    counted and reported. Rows that reach no org are in no backup either; `discover --scan`
//!    counts them and `discover` warns about every such table.
//! 4. `tenancy.ownership` pins a table to one named key when the default is wrong.

use crate::catalog::{CatalogTable, ForeignKey};
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::{QualifiedName, quote_ident};
use crate::tenancy::TenancyConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How the rows of one table are tied to an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ownership {
    /// The table has the org column itself.
    Direct {
        column: String,
        column_type: String,
        /// NULL rows are shared by every org.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        nullable: bool,
    },
    /// Rows belong to the org of the parent row they reference through `foreign_key`, a path of
    /// NOT NULL keys ending at a NOT NULL org column: every row has exactly one org.
    Through {
        foreign_key: String,
        parent: QualifiedName,
    },
    /// No such path: a row belongs to the org any of these paths reaches, unless two of them
    /// reach different orgs.
    AnyPath { paths: Vec<OwnershipPath> },
}

/// One foreign key (or declared relation) a table's rows may belong to an org through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipPath {
    pub foreign_key: String,
    pub parent: QualifiedName,
}

impl Ownership {
    /// True when some rows of the table may belong to no org (or be shared): the ownership
    /// depends on a nullable column or path.
    pub fn nullable(&self) -> bool {
        match self {
            Ownership::Direct { nullable, .. } => *nullable,
            Ownership::Through { .. } => false,
            Ownership::AnyPath { .. } => true,
        }
    }

    /// The foreign keys this ownership follows, with their parents.
    pub fn paths(&self) -> Vec<OwnershipPath> {
        match self {
            Ownership::Direct { .. } => Vec::new(),
            Ownership::Through {
                foreign_key,
                parent,
            } => vec![OwnershipPath {
                foreign_key: foreign_key.clone(),
                parent: parent.clone(),
            }],
            Ownership::AnyPath { paths } => paths.clone(),
        }
    }

    /// One line for people: `column org_id`, `through app.tasks (fk)`, ...
    pub fn describe(&self) -> String {
        match self {
            Ownership::Direct {
                column,
                nullable: false,
                ..
            } => format!("column {column}"),
            Ownership::Direct {
                column,
                nullable: true,
                ..
            } => format!("column {column} (nullable: NULL rows are shared)"),
            Ownership::Through {
                foreign_key,
                parent,
            } => format!("through {parent} ({foreign_key})"),
            Ownership::AnyPath { paths } => format!(
                "through any of {} (nullable path)",
                paths
                    .iter()
                    .map(|p| format!("{} ({})", p.parent, p.foreign_key))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Decides the ownership of every candidate table; `None` = global (no path to an org).
pub(crate) fn decide(
    tables: &[CatalogTable],
    org_table: &QualifiedName,
    config: &TenancyConfig,
    default_schema: &str,
) -> Result<Vec<Option<Ownership>>, Error> {
    let n = tables.len();
    let position = |name: &QualifiedName| tables.iter().position(|t| &t.name == name);
    let pinned: Vec<Option<usize>> = pinned_keys(tables, config, default_schema)?;

    // 1. Direct owners.
    let mut owners: Vec<Option<Ownership>> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if pinned[i].is_some() {
                return None;
            }
            direct_ownership(t, org_table, config)
        })
        .collect();
    let direct: Vec<bool> = owners.iter().map(Option::is_some).collect();

    // Foreign keys into other candidate tables (self-references never carry ownership).
    let parent_of = |fk: &ForeignKey| position(&fk.references);
    let edges = |i: usize| -> Vec<(usize, usize)> {
        tables[i]
            .foreign_keys
            .iter()
            .enumerate()
            .filter(|(_, fk)| fk.references != tables[i].name)
            .filter_map(|(k, fk)| parent_of(fk).map(|p| (k, p)))
            .collect()
    };

    // 2. Tenant tables: those with any path to a direct one; `rank` = its shortest length.
    let mut rank: Vec<Option<usize>> = direct.iter().map(|d| d.then_some(0)).collect();
    for level in 1..=n {
        let mut changed = false;
        for i in 0..n {
            if rank[i].is_some() {
                continue;
            }
            let reachable = match pinned[i] {
                Some(k) => parent_of(&tables[i].foreign_keys[k])
                    .is_some_and(|p| rank[p].is_some_and(|r| r < level)),
                None => edges(i)
                    .iter()
                    .any(|&(_, p)| rank[p].is_some_and(|r| r < level)),
            };
            if reachable {
                rank[i] = Some(level);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (i, pin) in pinned.iter().enumerate() {
        if let Some(k) = pin
            && rank[i].is_none()
        {
            return Err(Error::Config(format!(
                "tenancy.ownership pins {} to `{}`, which leads to no organization; name a key whose parent is a tenant table",
                tables[i].name, tables[i].foreign_keys[*k].name
            )));
        }
    }

    // 3. Strict paths: NOT NULL keys to strict tables, level by level (shortest first).
    let mut strict: Vec<bool> = owners
        .iter()
        .map(|o| {
            matches!(
                o,
                Some(Ownership::Direct {
                    nullable: false,
                    ..
                })
            )
        })
        .collect();
    loop {
        let before = strict.clone();
        let mut changed = false;
        for i in 0..n {
            if before[i] || direct[i] || rank[i].is_none() {
                continue;
            }
            let candidates: Vec<(usize, usize)> = match pinned[i] {
                Some(k) => parent_of(&tables[i].foreign_keys[k])
                    .map(|p| vec![(k, p)])
                    .unwrap_or_default(),
                None => edges(i),
            };
            let best = candidates
                .into_iter()
                .filter(|&(k, p)| tables[i].foreign_keys[k].not_null && before[p])
                .min_by(|a, b| {
                    tables[i].foreign_keys[a.0]
                        .name
                        .cmp(&tables[i].foreign_keys[b.0].name)
                });
            if let Some((k, p)) = best {
                owners[i] = Some(Ownership::Through {
                    foreign_key: tables[i].foreign_keys[k].name.clone(),
                    parent: tables[p].name.clone(),
                });
                strict[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // 4. The rest: any path. First every key to a strict table or to a table nearer the org
    //    (rank decreases along them, so they cannot form a loop), then the other keys into
    //    tenant tables unless they would close a loop of ownership.
    let loose: Vec<usize> = (0..n)
        .filter(|&i| owners[i].is_none() && rank[i].is_some())
        .collect();
    let mut chosen: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for &i in &loose {
        chosen[i] = match pinned[i] {
            Some(k) => parent_of(&tables[i].foreign_keys[k])
                .map(|p| vec![(k, p)])
                .unwrap_or_default(),
            None => edges(i)
                .into_iter()
                .filter(|&(_, p)| strict[p] || rank[p].is_some_and(|r| Some(r) < rank[i]))
                .collect(),
        };
    }
    let mut order = loose.clone();
    order.sort_by_key(|&i| (rank[i], tables[i].name.clone()));
    for &i in &order {
        if pinned[i].is_some() {
            continue;
        }
        for (k, p) in edges(i) {
            if chosen[i].contains(&(k, p)) || rank[p].is_none() {
                continue;
            }
            if !reaches(&chosen, p, i) {
                chosen[i].push((k, p));
            }
        }
    }
    for &i in &loose {
        let mut paths: Vec<OwnershipPath> = chosen[i]
            .iter()
            .map(|&(k, p)| OwnershipPath {
                foreign_key: tables[i].foreign_keys[k].name.clone(),
                parent: tables[p].name.clone(),
            })
            .collect();
        paths.sort_by(|a, b| a.foreign_key.cmp(&b.foreign_key));
        owners[i] = Some(Ownership::AnyPath { paths });
    }
    Ok(owners)
}

/// True when `from` reaches `to` along the chosen ownership keys.
fn reaches(chosen: &[Vec<(usize, usize)>], from: usize, to: usize) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        if v == to {
            return true;
        }
        if seen.insert(v) {
            stack.extend(chosen[v].iter().map(|&(_, p)| p));
        }
    }
    false
}

fn direct_ownership(
    table: &CatalogTable,
    org_table: &QualifiedName,
    config: &TenancyConfig,
) -> Option<Ownership> {
    let by_name = config
        .org_column_names()
        .find_map(|name| table.columns.iter().find(|c| c.name == name));
    let by_key = || {
        table
            .foreign_keys
            .iter()
            .filter(|fk| &fk.references == org_table && fk.columns.len() == 1)
            .filter(|fk| fk.referenced_columns[0] == config.org_table_key)
            .min_by_key(|fk| (!fk.not_null, fk.name.clone()))
            .and_then(|fk| table.columns.iter().find(|c| c.name == fk.columns[0]))
    };
    by_name.or_else(by_key).map(|col| Ownership::Direct {
        column: col.name.clone(),
        column_type: col.data_type.clone(),
        nullable: !col.not_null,
    })
}

/// `tenancy.ownership`: the key each pinned table is owned through (index into its keys).
fn pinned_keys(
    tables: &[CatalogTable],
    config: &TenancyConfig,
    default_schema: &str,
) -> Result<Vec<Option<usize>>, Error> {
    let mut pinned = vec![None; tables.len()];
    for (table, key) in &config.ownership {
        let name = QualifiedName::parse(table, default_schema);
        let Some(i) = tables.iter().position(|t| t.name == name) else {
            return Err(Error::Config(format!(
                "tenancy.ownership names `{table}`, which is not a table of tenancy.schemas"
            )));
        };
        let Some(k) = tables[i].foreign_keys.iter().position(|fk| &fk.name == key) else {
            let known: Vec<&str> = tables[i]
                .foreign_keys
                .iter()
                .map(|fk| fk.name.as_str())
                .collect();
            return Err(Error::Config(format!(
                "tenancy.ownership pins `{table}` to `{key}`, which is none of its foreign keys or declared relations (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        pinned[i] = Some(k);
    }
    Ok(pinned)
}

impl TenantSchema {
    /// The table as a relation to read or change: `ONLY` for inheritance parents (their children
    /// are tables of their own), the whole tree for partitioned tables (read through the parent).
    pub fn relation(&self, index: usize) -> String {
        let table = &self.tables[index];
        if table.partitioned {
            table.name.quoted()
        } else {
            format!("ONLY {}", table.name.quoted())
        }
    }

    /// A boolean SQL expression, over `alias`, true for the rows of table `index` that belong to
    /// the org named by the session setting (set per transaction, so no id is ever spliced into
    /// SQL). Shared, unowned and ambiguous rows are never the org's.
    pub fn org_filter(&self, index: usize, alias: &str) -> String {
        self.belongs(index, alias, 0)
    }

    /// Rows of table `index` whose paths reach the org AND another org: in no backup. `None` for
    /// tables where a row has one org by construction.
    pub fn ambiguous_filter(&self, index: usize, alias: &str) -> Option<String> {
        let Ownership::AnyPath { paths } = &self.tables[index].ownership else {
            return None;
        };
        Some(format!(
            "({}) AND ({})",
            self.any_path(index, paths, alias, 0, Reach::Org),
            self.any_path(index, paths, alias, 0, Reach::OtherOrg)
        ))
    }

    /// Rows of table `index` owned by some org (for `discover --scan`).
    pub fn owned_filter(&self, index: usize, alias: &str) -> String {
        self.owned(index, alias, 0)
    }

    /// Rows of table `index` whose paths reach two or more different orgs (for
    /// `discover --scan`); `None` when that cannot happen.
    pub fn ambiguous_any_org_filter(&self, index: usize, alias: &str) -> Option<String> {
        let Ownership::AnyPath { paths } = &self.tables[index].ownership else {
            return None;
        };
        (paths.len() > 1).then(|| {
            format!(
                "(SELECT count(DISTINCT o) FROM (VALUES {}) v(o)) > 1",
                self.path_orgs(index, paths, alias, 0)
            )
        })
    }

    fn belongs(&self, index: usize, alias: &str, depth: usize) -> String {
        match &self.tables[index].ownership {
            Ownership::Direct {
                column,
                column_type,
                ..
            } => format!(
                "{alias}.{} = current_setting({})::{column_type}",
                quote_ident(column),
                quote_literal(&self.org_setting)
            ),
            Ownership::Through {
                foreign_key,
                parent,
            } => self.path_in(index, foreign_key, parent, alias, depth, Reach::Org),
            Ownership::AnyPath { paths } => format!(
                "({}) AND NOT ({})",
                self.any_path(index, paths, alias, depth, Reach::Org),
                self.any_path(index, paths, alias, depth, Reach::OtherOrg)
            ),
        }
    }

    /// Rows that belong to an org other than the session's.
    fn other(&self, index: usize, alias: &str, depth: usize) -> String {
        match &self.tables[index].ownership {
            Ownership::Direct {
                column,
                column_type,
                ..
            } => format!(
                "{alias}.{} <> current_setting({})::{column_type}",
                quote_ident(column),
                quote_literal(&self.org_setting)
            ),
            Ownership::Through {
                foreign_key,
                parent,
            } => self.path_exists(index, foreign_key, parent, alias, depth, Reach::OtherOrg),
            Ownership::AnyPath { paths } => format!(
                "({}) AND NOT ({})",
                self.any_path(index, paths, alias, depth, Reach::OtherOrg),
                self.any_path(index, paths, alias, depth, Reach::Org)
            ),
        }
    }

    fn owned(&self, index: usize, alias: &str, depth: usize) -> String {
        match &self.tables[index].ownership {
            Ownership::Direct { column, .. } => {
                format!("{alias}.{} IS NOT NULL", quote_ident(column))
            }
            Ownership::Through {
                foreign_key,
                parent,
            } => self.path_exists(index, foreign_key, parent, alias, depth, Reach::AnyOrg),
            Ownership::AnyPath { paths } => {
                self.any_path(index, paths, alias, depth, Reach::AnyOrg)
            }
        }
    }

    fn any_path(
        &self,
        index: usize,
        paths: &[OwnershipPath],
        alias: &str,
        depth: usize,
        reach: Reach,
    ) -> String {
        if paths.is_empty() {
            return "false".into();
        }
        paths
            .iter()
            .map(|p| match reach {
                // IN (semi-join, hashed) for the org's own rows; EXISTS (index lookups) where
                // the parent side is every other org's rows.
                Reach::Org => self.path_in(index, &p.foreign_key, &p.parent, alias, depth, reach),
                _ => self.path_exists(index, &p.foreign_key, &p.parent, alias, depth, reach),
            })
            .map(|s| format!("({s})"))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    fn parent_filter(&self, parent: usize, alias: &str, depth: usize, reach: Reach) -> String {
        match reach {
            Reach::Org => self.belongs(parent, alias, depth),
            Reach::OtherOrg => self.other(parent, alias, depth),
            Reach::AnyOrg => self.owned(parent, alias, depth),
        }
    }

    fn key(&self, index: usize, foreign_key: &str) -> &ForeignKey {
        self.tables[index]
            .foreign_keys
            .iter()
            .find(|fk| fk.name == foreign_key)
            .expect("ownership names one of the table's foreign keys")
    }

    fn path_in(
        &self,
        index: usize,
        foreign_key: &str,
        parent: &QualifiedName,
        alias: &str,
        depth: usize,
        reach: Reach,
    ) -> String {
        let fk = self.key(index, foreign_key);
        let parent_index = self
            .table_index(parent)
            .expect("ownership parent is a tenant table");
        let parent_alias = format!("p{}", depth + 1);
        let own: Vec<String> = fk
            .columns
            .iter()
            .map(|c| format!("{alias}.{}", quote_ident(c)))
            .collect();
        let theirs: Vec<String> = fk
            .referenced_columns
            .iter()
            .map(|c| format!("{parent_alias}.{}", quote_ident(c)))
            .collect();
        format!(
            "({}) IN (SELECT {} FROM {} {parent_alias} WHERE {})",
            own.join(", "),
            theirs.join(", "),
            self.relation(parent_index),
            self.parent_filter(parent_index, &parent_alias, depth + 1, reach)
        )
    }

    fn path_exists(
        &self,
        index: usize,
        foreign_key: &str,
        parent: &QualifiedName,
        alias: &str,
        depth: usize,
        reach: Reach,
    ) -> String {
        let fk = self.key(index, foreign_key);
        let parent_index = self
            .table_index(parent)
            .expect("ownership parent is a tenant table");
        let parent_alias = format!("p{}", depth + 1);
        format!(
            "EXISTS (SELECT 1 FROM {} {parent_alias} WHERE {} AND {})",
            self.relation(parent_index),
            key_equals(fk, &parent_alias, alias),
            self.parent_filter(parent_index, &parent_alias, depth + 1, reach)
        )
    }

    /// `(org of path 1), (org of path 2), ...` as text, for a VALUES list.
    fn path_orgs(
        &self,
        index: usize,
        paths: &[OwnershipPath],
        alias: &str,
        depth: usize,
    ) -> String {
        paths
            .iter()
            .map(|p| {
                let fk = self.key(index, &p.foreign_key);
                let parent_index = self
                    .table_index(&p.parent)
                    .expect("ownership parent is a tenant table");
                let parent_alias = format!("p{}", depth + 1);
                format!(
                    "((SELECT {} FROM {} {parent_alias} WHERE {} LIMIT 1))",
                    self.org_of(parent_index, &parent_alias, depth + 1),
                    self.relation(parent_index),
                    key_equals(fk, &parent_alias, alias)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The org of a row of table `index` as text (NULL when none or ambiguous).
    fn org_of(&self, index: usize, alias: &str, depth: usize) -> String {
        match &self.tables[index].ownership {
            Ownership::Direct { column, .. } => format!("{alias}.{}::text", quote_ident(column)),
            ownership => format!(
                "(SELECT CASE WHEN count(DISTINCT o) = 1 THEN min(o) END FROM (VALUES {}) v(o))",
                self.path_orgs(index, &ownership.paths(), alias, depth)
            ),
        }
    }
}

/// `parent.r1 = child.c1 AND ...` for a foreign key from `alias` to `parent_alias`.
fn key_equals(fk: &ForeignKey, parent_alias: &str, alias: &str) -> String {
    fk.columns
        .iter()
        .zip(&fk.referenced_columns)
        .map(|(c, r)| {
            format!(
                "{parent_alias}.{} = {alias}.{}",
                quote_ident(r),
                quote_ident(c)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[derive(Clone, Copy)]
enum Reach {
    /// The org in the session setting.
    Org,
    /// Any org but that one.
    OtherOrg,
    /// Any org at all.
    AnyOrg,
}

/// A SQL string literal.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// What `discover --scan` counts for one tenant table, across every org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipScan {
    pub table: QualifiedName,
    pub rows: u64,
    /// Rows no org owns: shared rows (NULL org column) and rows whose nullable paths reach no
    /// org. They are in no backup.
    pub unowned: u64,
    /// Rows whose paths reach two different orgs: in no backup.
    pub ambiguous: u64,
}

/// Counts, per tenant table, the rows no org owns and the ambiguous ones. Reads every row of
/// every table whose ownership can leave rows out (the others are counted as owned), so it is
/// opt-in. Runs without an org setting: it reads across orgs, which RLS must allow the role.
pub async fn scan(
    conn: &mut sqlx::PgConnection,
    schema: &TenantSchema,
) -> Result<Vec<OwnershipScan>, Error> {
    let mut out = Vec::with_capacity(schema.tables.len());
    for (index, table) in schema.tables.iter().enumerate() {
        let (unowned, ambiguous) = if table.ownership.nullable() {
            (
                format!("NOT ({})", schema.owned_filter(index, "t")),
                schema
                    .ambiguous_any_org_filter(index, "t")
                    .unwrap_or_else(|| "false".into()),
            )
        } else {
            ("false".into(), "false".into())
        };
        let sql = format!(
            "SELECT count(*), count(*) FILTER (WHERE {unowned}), count(*) FILTER (WHERE {ambiguous}) FROM {} t",
            schema.relation(index)
        );
        let (rows, unowned, ambiguous): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        out.push(OwnershipScan {
            table: table.name.clone(),
            rows: rows as u64,
            unowned: unowned as u64,
            ambiguous: ambiguous as u64,
        });
    }
    Ok(out)
}
