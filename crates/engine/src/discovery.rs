//! Decides which tables hold an organization's rows, how to find those rows, in which order tables
//! depend on each other, and which category each table belongs to.
//!
//! A table belongs to an org *directly* when it has the org column (or a foreign key to the org
//! table), or *through* a foreign key to a table that belongs to an org, followed as far as needed
//! (`post_comments -> posts -> org_id`). Everything else is *global* (shared by all orgs): never
//! backed up, never written; foreign keys into global tables are recorded so restore can check them.

use crate::catalog::{self, CatalogTable, Column, ForeignKey};
use crate::error::Error;
use crate::ident::{QualifiedName, quote_ident};
pub use crate::ownership::{Ownership, OwnershipPath};
use crate::tenancy::{DeclaredRelation, TenancyConfig, glob_match};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::collections::{BTreeSet, HashMap};

/// A table holding tenant rows, with its schema snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTable {
    pub name: QualifiedName,
    pub category: String,
    pub ownership: Ownership,
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_keys: Vec<Vec<String>>,
    /// Partial, expression and `NULLS NOT DISTINCT` unique indexes, from today's catalog only:
    /// never written to (nor read from) an archive.
    #[serde(skip)]
    pub unique_indexes: Vec<crate::catalog::UniqueIndex>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioned: bool,
    /// Tables that reference each other in a cycle share a group number; restore handles them
    /// together (deferred checks or a second pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_group: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_referencing: bool,
}

impl TenantTable {
    /// Columns that a backup stores: every column but stored generated ones.
    pub fn stored_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.generated)
    }
}

/// The tenant tables of a database in dependency order (parents before children).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantSchema {
    pub org_table: QualifiedName,
    pub org_table_key: String,
    pub org_setting: String,
    pub tables: Vec<TenantTable>,
    pub global_tables: Vec<QualifiedName>,
}

/// The tables a backup or restore of some categories covers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Selection {
    /// Indexes into `TenantSchema::tables`, in dependency order.
    pub tables: Vec<usize>,
    /// The categories asked for (all categories when none were named).
    pub categories: Vec<String>,
    /// Tables outside those categories that were added because selected tables reference them.
    pub added_for_dependencies: Vec<QualifiedName>,
}

/// Discovers the tenant tables of the configured schemas.
#[tracing::instrument(skip_all)]
pub async fn discover(
    conn: &mut PgConnection,
    config: &TenancyConfig,
) -> Result<TenantSchema, Error> {
    let default_schema = config
        .schemas
        .first()
        .map(String::as_str)
        .unwrap_or("public");
    let org_table = QualifiedName::parse(&config.org_table, default_schema);
    let mut schemas = config.schemas.clone();
    if !schemas.contains(&org_table.schema) {
        schemas.push(org_table.schema.clone());
    }
    let tables = catalog::load(conn, &schemas).await?;
    for schema in &config.schemas {
        if !tables.iter().any(|t| &t.name.schema == schema) {
            return Err(Error::Config(format!(
                "schema `{schema}` has no tables (or does not exist); check tenancy.schemas"
            )));
        }
    }
    let Some(org) = tables.iter().find(|t| t.name == org_table) else {
        return Err(Error::Config(format!(
            "the organizations table `{org_table}` was not found; set tenancy.org_table to `schema.table`"
        )));
    };
    if !org.columns.iter().any(|c| c.name == config.org_table_key) {
        return Err(Error::Config(format!(
            "the organizations table `{org_table}` has no column `{}`; set tenancy.org_table_key",
            config.org_table_key
        )));
    }
    let excluded: Vec<QualifiedName> = config
        .exclude_tables
        .iter()
        .map(|t| QualifiedName::parse(t, default_schema))
        .collect();
    let mut candidates: Vec<CatalogTable> = tables
        .into_iter()
        .filter(|t| t.name != org_table && !excluded.contains(&t.name))
        .filter(|t| config.schemas.contains(&t.name.schema))
        .collect();
    declare_relations(&mut candidates, config, default_schema)?;
    build(candidates, org_table, config, default_schema)
}

/// Adds `tenancy.relations` to the tables' foreign keys, checked against the catalog.
fn declare_relations(
    tables: &mut [CatalogTable],
    config: &TenancyConfig,
    default_schema: &str,
) -> Result<(), Error> {
    for text in &config.relations {
        let relation = DeclaredRelation::parse(text).map_err(Error::Config)?;
        let child = QualifiedName::parse(&relation.table, default_schema);
        let parent = QualifiedName::parse(&relation.references, default_schema);
        let has_columns = |table: &CatalogTable, columns: &[String]| {
            columns
                .iter()
                .all(|c| table.columns.iter().any(|col| &col.name == c))
        };
        if !tables
            .iter()
            .any(|t| t.name == parent && has_columns(t, &relation.referenced_columns))
        {
            return Err(Error::Config(format!(
                "tenancy.relations `{text}`: {parent} is not a table of tenancy.schemas with columns {}",
                relation.referenced_columns.join(", ")
            )));
        }
        let Some(table) = tables
            .iter_mut()
            .find(|t| t.name == child && has_columns(t, &relation.columns))
        else {
            return Err(Error::Config(format!(
                "tenancy.relations `{text}`: {child} is not a table of tenancy.schemas with columns {}",
                relation.columns.join(", ")
            )));
        };
        let not_null = relation.columns.iter().all(|c| {
            table
                .columns
                .iter()
                .any(|col| &col.name == c && col.not_null)
        });
        table.foreign_keys.push(ForeignKey {
            name: relation.name(),
            columns: relation.columns.clone(),
            references: parent,
            referenced_columns: relation.referenced_columns.clone(),
            deferrable: true,
            not_null,
            declared: true,
        });
    }
    Ok(())
}

fn build(
    candidates: Vec<CatalogTable>,
    org_table: QualifiedName,
    config: &TenancyConfig,
    default_schema: &str,
) -> Result<TenantSchema, Error> {
    let ownership = crate::ownership::decide(&candidates, &org_table, config, default_schema)?;
    let (tenant, global): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .zip(ownership)
        .partition(|(_, owner)| owner.is_some());
    let tenant: Vec<(CatalogTable, Ownership)> = tenant
        .into_iter()
        .map(|(t, o)| (t, o.expect("partitioned on is_some")))
        .collect();

    let names: Vec<QualifiedName> = tenant.iter().map(|(t, _)| t.name.clone()).collect();
    let edges: Vec<Vec<usize>> = tenant
        .iter()
        .map(|(t, _)| {
            t.foreign_keys
                .iter()
                .filter_map(|fk| names.iter().position(|n| *n == fk.references))
                .collect()
        })
        .collect();
    // Edges a row cannot be written without: a NOT NULL foreign key checked at once. Inside a
    // cycle they decide the order of its tables (the other edges are deferred or set later).
    let hard_edges: Vec<Vec<usize>> = tenant
        .iter()
        .map(|(t, _)| {
            t.foreign_keys
                .iter()
                .filter(|fk| fk.not_null && !fk.deferrable)
                .filter_map(|fk| names.iter().position(|n| *n == fk.references))
                .collect()
        })
        .collect();
    let components = strongly_connected_components(&edges);

    let mut tables = Vec::with_capacity(tenant.len());
    let mut order = Vec::with_capacity(tenant.len());
    let mut cycle_groups = 0;
    for component in components {
        let component = order_cycle_members(component, &hard_edges, &names);
        let group = (component.len() > 1).then(|| {
            cycle_groups += 1;
            cycle_groups
        });
        for index in component {
            order.push((index, group));
        }
    }
    let mut slots: Vec<Option<(CatalogTable, Ownership)>> = tenant.into_iter().map(Some).collect();
    let mut categories: HashMap<QualifiedName, String> = HashMap::new();
    for (index, group) in order {
        let (table, ownership) = slots[index].take().expect("each table is ordered once");
        let category = category_for(&table.name, &ownership, &categories, config);
        categories.insert(table.name.clone(), category.clone());
        tables.push(TenantTable {
            self_referencing: table
                .foreign_keys
                .iter()
                .any(|fk| fk.references == table.name),
            name: table.name,
            category,
            ownership,
            columns: table.columns,
            primary_key: table.primary_key,
            unique_keys: table.unique_keys,
            unique_indexes: table.unique_indexes,
            foreign_keys: table.foreign_keys,
            partitioned: table.partitioned,
            cycle_group: group,
        });
    }
    Ok(TenantSchema {
        org_table,
        org_table_key: config.org_table_key.clone(),
        org_setting: config.org_setting.clone(),
        tables,
        global_tables: global.into_iter().map(|(t, _)| t.name).collect(),
    })
}

fn category_for(
    name: &QualifiedName,
    ownership: &Ownership,
    decided: &HashMap<QualifiedName, String>,
    config: &TenancyConfig,
) -> String {
    let full = name.to_string();
    let explicit = config.categories.iter().find(|(_, patterns)| {
        patterns
            .iter()
            .any(|p| p.contains('.') && glob_match(p, &full))
    });
    let by_pattern = || {
        config.categories.iter().find(|(_, patterns)| {
            patterns
                .iter()
                .any(|p| !p.contains('.') && glob_match(p, &name.name))
        })
    };
    if let Some((category, _)) = explicit.or_else(by_pattern) {
        return category.clone();
    }
    if let Some(category) = ownership
        .paths()
        .iter()
        .find_map(|path| decided.get(&path.parent))
    {
        return category.clone();
    }
    name.name.clone()
}

/// Tarjan's algorithm. With edges child -> parent, components come out parents first, which is
/// the order restore inserts in.
/// The tables of one strongly connected component, parents first along `hard_edges` (NOT NULL,
/// immediately checked keys), by name where those edges leave a choice. Hard edges that form a
/// cycle of their own cannot be honoured by any order: their tables come last, by name.
fn order_cycle_members(
    mut component: Vec<usize>,
    hard_edges: &[Vec<usize>],
    names: &[QualifiedName],
) -> Vec<usize> {
    component.sort_by(|a, b| names[*a].cmp(&names[*b]));
    let mut ordered = Vec::with_capacity(component.len());
    while !component.is_empty() {
        // The first table (by name) whose hard parents inside the component are all placed.
        let ready = component.iter().position(|&table| {
            hard_edges[table]
                .iter()
                .all(|parent| *parent == table || !component.contains(parent))
        });
        ordered.push(component.remove(ready.unwrap_or(0)));
    }
    ordered
}

fn strongly_connected_components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut state = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.out
}

impl TenantSchema {
    pub fn table_index(&self, name: &QualifiedName) -> Option<usize> {
        self.tables.iter().position(|t| &t.name == name)
    }

    /// Category names in alphabetical order.
    pub fn categories(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.tables.iter().map(|t| &t.category).collect();
        set.into_iter().cloned().collect()
    }

    /// The tables of `categories` (all when empty) plus every tenant table they reference,
    /// transitively, so that a restore of the selection never lacks a parent row.
    pub fn select(&self, categories: &[String]) -> Result<Selection, Error> {
        let known = self.categories();
        if let Some(unknown) = categories.iter().find(|c| !known.contains(c)) {
            return Err(Error::UnknownCategory {
                category: unknown.clone(),
                known: known.join(", "),
            });
        }
        let wanted: Vec<String> = if categories.is_empty() {
            known
        } else {
            let set: BTreeSet<&String> = categories.iter().collect();
            set.into_iter().cloned().collect()
        };
        let mut included = vec![false; self.tables.len()];
        let mut stack: Vec<usize> = (0..self.tables.len())
            .filter(|&i| wanted.contains(&self.tables[i].category))
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut included[i], true) {
                continue;
            }
            for fk in &self.tables[i].foreign_keys {
                if let Some(parent) = self.table_index(&fk.references)
                    && !included[parent]
                {
                    stack.push(parent);
                }
            }
        }
        let tables: Vec<usize> = (0..self.tables.len()).filter(|&i| included[i]).collect();
        let added_for_dependencies = tables
            .iter()
            .filter(|&&i| !wanted.contains(&self.tables[i].category))
            .map(|&i| self.tables[i].name.clone())
            .collect();
        Ok(Selection {
            tables,
            categories: wanted,
            added_for_dependencies,
        })
    }

    /// The query extraction runs for table `index`: the org's rows, stored columns only (generated
    /// columns are recomputed on restore). Shown by `orgbackup discover --sql` and used by the
    /// benchmark's `psql COPY` baseline, so both read exactly the same rows.
    pub fn extract_query(&self, index: usize) -> String {
        let table = &self.tables[index];
        let columns: Vec<String> = table
            .stored_columns()
            .map(|c| format!("t.{}", quote_ident(&c.name)))
            .collect();
        format!(
            "SELECT {} FROM {} t WHERE {}",
            columns.join(", "),
            self.relation(index),
            self.org_filter(index, "t")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_members_follow_their_not_null_edges_then_their_names() {
        let names: Vec<QualifiedName> = ["a_invoices", "m_middle", "z_accounts"]
            .iter()
            .map(|n| QualifiedName::new("s", *n))
            .collect();
        // a_invoices -> z_accounts (NOT NULL), m_middle -> a_invoices (NOT NULL)
        let hard = vec![vec![2], vec![0], vec![]];
        assert_eq!(order_cycle_members(vec![0, 1, 2], &hard, &names), [2, 0, 1]);
        // No hard edges: by name.
        let none = vec![vec![], vec![], vec![]];
        assert_eq!(order_cycle_members(vec![2, 1, 0], &none, &names), [0, 1, 2]);
        // Hard edges in a cycle of their own: still every table, once.
        let stuck = vec![vec![2], vec![], vec![0]];
        assert_eq!(
            order_cycle_members(vec![0, 1, 2], &stuck, &names),
            [1, 0, 2]
        );
    }

    #[test]
    fn components_come_out_parents_first_and_group_cycles() {
        // 0 -> 1 -> 2, 2 -> 1 (cycle 1-2), 3 -> 0
        let edges = vec![vec![1], vec![2], vec![1], vec![0]];
        let components = strongly_connected_components(&edges);
        let position = |v: usize| components.iter().position(|c| c.contains(&v)).unwrap();
        assert_eq!(components.len(), 3);
        assert_eq!(position(1), position(2));
        assert!(position(1) < position(0));
        assert!(position(0) < position(3));
    }
}
