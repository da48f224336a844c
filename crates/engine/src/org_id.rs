//! The engine's name for an organization: its value of the tenant column, as text.
//!
//! The tenant column can be of any SQL type (uuid, bigint, text, ...): the engine never parses an
//! org id, it binds it as text and casts it to the column's type in SQL (`{key}::text = $1`, the
//! org setting of row-level security). A service with typed ids converts its own id into this one.

use serde::{Deserialize, Serialize};

/// An organization's value of the tenant column, as text; cast to the column's type in SQL.
/// Serialized as that text (in the archive manifest and in restore plans).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for OrgId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for OrgId {
    fn from(id: &str) -> Self {
        Self(id.to_string())
    }
}

impl From<OrgId> for String {
    fn from(id: OrgId) -> Self {
        id.0
    }
}

impl AsRef<str> for OrgId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for OrgId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for OrgId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_id_is_its_text_in_json() {
        let id = OrgId::from("42");
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!("42"));
        let back: OrgId = serde_json::from_value(serde_json::json!("42")).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string(), "42");
        assert_eq!(id, "42");
    }
}
