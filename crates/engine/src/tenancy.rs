//! How tenancy is laid out in the database. Every name is configuration: the defaults describe
//! CMIS (schema `cmis`, column `org_id`, orgs in `cmis.orgs`), but any shared-schema layout works.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenancyConfig {
    /// Schemas whose tables are searched for tenant data.
    pub schemas: Vec<String>,
    /// The column that names a row's organization in directly owned tables.
    pub org_column: String,
    /// More org column names, tried after `org_column`, for databases whose schemas spell it
    /// differently (e.g. `tenant_id` in one schema, `"tenantId"` in another).
    pub org_columns: Vec<String>,
    /// An explicit ownership path for tables whose default is wrong: `schema.table` -> the name
    /// of the foreign key (or declared relation) its rows belong to the org through.
    pub ownership: BTreeMap<String, String>,
    /// Relations that carry tenancy without a FOREIGN KEY constraint (Rails-style schemas,
    /// partitioned tables without FKs): `schema.table(column, ...) -> schema.table(column, ...)`.
    pub relations: Vec<String>,
    /// The organizations table (`schema.table`); it is the root of tenancy, never backed up as data.
    pub org_table: String,
    /// The key column of `org_table`.
    pub org_table_key: String,
    /// The column of `org_table` shown to people as the organization's name.
    pub org_name_column: String,
    /// The session setting that row-level security policies read.
    pub org_setting: String,
    /// Tables (`schema.table`) never backed up even if they carry the org column.
    pub exclude_tables: Vec<String>,
    /// Category name -> table patterns (`*` matches any run of characters), tried in order of
    /// the category names; the first match wins. Explicit `schema.table` entries win over patterns.
    pub categories: BTreeMap<String, Vec<String>>,
    /// Columns that hold paths of files on disk belonging to the row (e.g. uploaded media).
    pub file_references: Vec<FileReference>,
    /// Where each org's files live under the files root, `{org_id}` standing for the org's id
    /// (CMIS: `{org_id}/`). A backup skips, and a restore never writes, a referenced path outside
    /// it, so a row pointing at another org's file cannot read or overwrite it. Empty: no such
    /// layout, any path inside the files root is accepted.
    pub files_prefix: String,
}

/// A column whose values are paths, relative to the files root, of files owned by the row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileReference {
    /// `schema.table`
    pub table: String,
    pub column: String,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        let categories = [
            (
                "analytics",
                &["analytic*", "*_metrics", "*_events", "report*"][..],
            ),
            ("campaigns", &["campaign*", "ad_*", "ads"][..]),
            ("media", &["media*", "asset*", "file*"][..]),
            ("posts", &["post*", "comment*", "tag*"][..]),
            ("settings", &["setting*", "*_settings", "preference*"][..]),
        ]
        .into_iter()
        .map(|(name, patterns)| {
            (
                name.to_string(),
                patterns.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect();
        Self {
            schemas: vec!["cmis".into()],
            org_column: "org_id".into(),
            org_columns: Vec::new(),
            ownership: BTreeMap::new(),
            relations: Vec::new(),
            org_table: "cmis.orgs".into(),
            org_table_key: "org_id".into(),
            org_name_column: "name".into(),
            org_setting: "app.current_org_id".into(),
            exclude_tables: Vec::new(),
            categories,
            file_references: vec![FileReference {
                table: "cmis.media_assets".into(),
                column: "storage_path".into(),
            }],
            files_prefix: "{org_id}/".into(),
        }
    }
}

impl TenancyConfig {
    /// Every org column name, in the order they are tried.
    pub fn org_column_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.org_column.as_str()).chain(
            self.org_columns
                .iter()
                .map(String::as_str)
                .filter(|c| *c != self.org_column),
        )
    }
}

/// A relation declared in configuration: `child(columns) -> parent(columns)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredRelation {
    pub table: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced_columns: Vec<String>,
}

impl DeclaredRelation {
    /// Parses `schema.table(col, ...) -> schema.table(col, ...)`; `schema.table.col ->
    /// schema.table.col` is accepted for single columns.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (from, to) = text.split_once("->").ok_or_else(|| {
            format!("relation `{text}`: expected `schema.table(column) -> schema.table(column)`")
        })?;
        let side = |part: &str| -> Result<(String, Vec<String>), String> {
            let part = part.trim();
            if let Some((table, rest)) = part.split_once('(') {
                let columns = rest.strip_suffix(')').ok_or_else(|| {
                    format!("relation `{text}`: `{part}` lacks its closing parenthesis")
                })?;
                let columns: Vec<String> = columns
                    .split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect();
                if columns.is_empty() {
                    return Err(format!("relation `{text}`: `{part}` names no column"));
                }
                Ok((table.trim().to_string(), columns))
            } else {
                let (table, column) = part.rsplit_once('.').ok_or_else(|| {
                    format!("relation `{text}`: `{part}` must be `schema.table.column`")
                })?;
                Ok((table.to_string(), vec![column.to_string()]))
            }
        };
        let (table, columns) = side(from)?;
        let (references, referenced_columns) = side(to)?;
        if columns.len() != referenced_columns.len() {
            return Err(format!(
                "relation `{text}`: {} columns refer to {} columns",
                columns.len(),
                referenced_columns.len()
            ));
        }
        Ok(Self {
            table,
            columns,
            references,
            referenced_columns,
        })
    }

    /// The name the relation goes by in discovery output and in `ownership`.
    pub fn name(&self) -> String {
        format!(
            "{}({}) -> {}({})",
            self.table,
            self.columns.join(", "),
            self.references,
            self.referenced_columns.join(", ")
        )
    }
}

/// Matches `name` against a pattern where `*` stands for any run of characters.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{DeclaredRelation, glob_match};

    #[test]
    fn relations_parse_in_both_spellings() {
        let r = DeclaredRelation::parse("app.comments(post_id) -> app.posts(id)").unwrap();
        assert_eq!(r.table, "app.comments");
        assert_eq!(r.columns, ["post_id"]);
        assert_eq!(r.references, "app.posts");
        assert_eq!(r.referenced_columns, ["id"]);
        let r = DeclaredRelation::parse("app.comments.post_id->app.posts.id").unwrap();
        assert_eq!(
            (r.table.as_str(), r.references.as_str()),
            ("app.comments", "app.posts")
        );
        assert!(DeclaredRelation::parse("app.comments(a, b) -> app.posts(id)").is_err());
        assert!(DeclaredRelation::parse("app.comments").is_err());
    }

    #[test]
    fn glob_matches_prefix_suffix_and_middle() {
        assert!(glob_match("ad_*", "ad_sets"));
        assert!(!glob_match("ad_*", "ads"));
        assert!(glob_match("ads", "ads"));
        assert!(glob_match("*_events", "analytics_events"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abde"));
        assert!(glob_match("*", "anything"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
