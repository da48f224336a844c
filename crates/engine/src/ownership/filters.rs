//! The SQL that finds an org's rows (and, for `discover --scan`, everyone's), built from each
//! table's [`Ownership`] by following its paths up to the org column.

use super::{Ownership, OwnershipPath, quote_literal};
use crate::catalog::ForeignKey;
use crate::discovery::TenantSchema;
use crate::ident::{QualifiedName, quote_ident};

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
