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

mod filters;

use crate::catalog::{CatalogTable, ForeignKey};
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::QualifiedName;
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
    let graph = KeyGraph {
        tables,
        pinned: pinned_keys(tables, config, default_schema)?,
    };

    // 1. Direct owners.
    let mut owners: Vec<Option<Ownership>> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if graph.pinned[i].is_some() {
                return None;
            }
            direct_ownership(t, org_table, config)
        })
        .collect();
    let direct: Vec<bool> = owners.iter().map(Option::is_some).collect();

    // 2. Tenant tables: those with any path to a direct one.
    let rank = graph.ranks(&direct);
    graph.check_pins_reach_org(&rank)?;

    // 3. Strict paths: NOT NULL keys to strict tables.
    let strict = graph.choose_strict_paths(&mut owners, &direct, &rank);

    // 4. The rest: any path.
    graph.choose_any_paths(&mut owners, &rank, &strict);
    Ok(owners)
}

/// The candidate tables and the foreign keys between them, the graph ownership is found in.
/// Edges are `(key index in the child's foreign keys, parent's table index)`.
struct KeyGraph<'a> {
    tables: &'a [CatalogTable],
    /// Per table, the key `tenancy.ownership` pins it to.
    pinned: Vec<Option<usize>>,
}

impl KeyGraph<'_> {
    fn parent_of(&self, fk: &ForeignKey) -> Option<usize> {
        self.tables.iter().position(|t| t.name == fk.references)
    }

    /// Foreign keys into other candidate tables (self-references never carry ownership).
    fn edges(&self, i: usize) -> Vec<(usize, usize)> {
        let tables = self.tables;
        tables[i]
            .foreign_keys
            .iter()
            .enumerate()
            .filter(|(_, fk)| fk.references != tables[i].name)
            .filter_map(|(k, fk)| self.parent_of(fk).map(|p| (k, p)))
            .collect()
    }

    /// The edge of the pinned key `k` of table `i`, if its parent is a candidate.
    fn pinned_edge(&self, i: usize, k: usize) -> Vec<(usize, usize)> {
        self.parent_of(&self.tables[i].foreign_keys[k])
            .map(|p| vec![(k, p)])
            .unwrap_or_default()
    }

    /// Per table, the length of its shortest path to a direct owner (0 for those), `None` when
    /// there is none: such a table is global.
    fn ranks(&self, direct: &[bool]) -> Vec<Option<usize>> {
        let tables = self.tables;
        let n = tables.len();
        let mut rank: Vec<Option<usize>> = direct.iter().map(|d| d.then_some(0)).collect();
        for level in 1..=n {
            let mut changed = false;
            for i in 0..n {
                if rank[i].is_some() {
                    continue;
                }
                let reachable = match self.pinned[i] {
                    Some(k) => self
                        .parent_of(&tables[i].foreign_keys[k])
                        .is_some_and(|p| rank[p].is_some_and(|r| r < level)),
                    None => self
                        .edges(i)
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
        rank
    }

    /// A pin that leads nowhere is a configuration mistake, never a silently global table.
    fn check_pins_reach_org(&self, rank: &[Option<usize>]) -> Result<(), Error> {
        let tables = self.tables;
        for (i, pin) in self.pinned.iter().enumerate() {
            if let Some(k) = pin
                && rank[i].is_none()
            {
                return Err(Error::Config(format!(
                    "tenancy.ownership pins {} to `{}`, which leads to no organization; name a key whose parent is a tenant table",
                    tables[i].name, tables[i].foreign_keys[*k].name
                )));
            }
        }
        Ok(())
    }

    /// Gives `Through` ownership along NOT NULL keys to strict tables, level by level (shortest
    /// first, ties by key name). Returns which tables are strict: every row has exactly one org.
    fn choose_strict_paths(
        &self,
        owners: &mut [Option<Ownership>],
        direct: &[bool],
        rank: &[Option<usize>],
    ) -> Vec<bool> {
        let tables = self.tables;
        let n = tables.len();
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
                let candidates: Vec<(usize, usize)> = match self.pinned[i] {
                    Some(k) => self.pinned_edge(i, k),
                    None => self.edges(i),
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
        strict
    }

    /// Gives every other tenant table `AnyPath` ownership. First every key to a strict table or
    /// to a table nearer the org (rank decreases along them, so they cannot form a loop), then
    /// the other keys into tenant tables unless they would close a loop of ownership.
    fn choose_any_paths(
        &self,
        owners: &mut [Option<Ownership>],
        rank: &[Option<usize>],
        strict: &[bool],
    ) {
        let tables = self.tables;
        let n = tables.len();
        let loose: Vec<usize> = (0..n)
            .filter(|&i| owners[i].is_none() && rank[i].is_some())
            .collect();
        let mut chosen: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        for &i in &loose {
            chosen[i] = match self.pinned[i] {
                Some(k) => self.pinned_edge(i, k),
                None => self
                    .edges(i)
                    .into_iter()
                    .filter(|&(_, p)| strict[p] || rank[p].is_some_and(|r| Some(r) < rank[i]))
                    .collect(),
            };
        }
        let mut order = loose.clone();
        order.sort_by_key(|&i| (rank[i], tables[i].name.clone()));
        for &i in &order {
            if self.pinned[i].is_some() {
                continue;
            }
            for (k, p) in self.edges(i) {
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
    }
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
