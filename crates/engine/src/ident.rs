//! SQL identifiers. Every table and column name in generated SQL comes from the catalog and goes
//! through [`quote_ident`], so a table called `"Weird ""Name"""` or `select` is always safe.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Quotes an identifier the way PostgreSQL's `quote_ident` does, but always (quoting a name that
/// would not need it is harmless and keeps the generated SQL uniform).
pub fn quote_ident(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for ch in name.chars() {
        if ch == '"' {
            quoted.push('"');
        }
        quoted.push(ch);
    }
    quoted.push('"');
    quoted
}

/// A schema-qualified relation name as the catalog spells it (unquoted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Parses `schema.table` (or `table`, taking `default_schema`). Names with dots must be
    /// configured with an explicit schema; this is for configuration, not for user input to SQL.
    pub fn parse(text: &str, default_schema: &str) -> Self {
        match text.split_once('.') {
            Some((schema, name)) => Self::new(schema, name),
            None => Self::new(default_schema, text),
        }
    }

    /// The name quoted for SQL: `"schema"."name"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_doubles_embedded_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("We\"ird"), "\"We\"\"ird\"");
        assert_eq!(quote_ident("a b.c"), "\"a b.c\"");
    }

    #[test]
    fn qualified_name_parses_with_and_without_schema() {
        assert_eq!(
            QualifiedName::parse("cmis.orgs", "public"),
            QualifiedName::new("cmis", "orgs")
        );
        assert_eq!(
            QualifiedName::parse("orgs", "cmis"),
            QualifiedName::new("cmis", "orgs")
        );
        assert_eq!(QualifiedName::new("s", "t\"x").quoted(), "\"s\".\"t\"\"x\"");
    }
}
