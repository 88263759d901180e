//! Customers' cache parameter groups (the default ones are not stored).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A cache parameter group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterGroup {
    /// Lower-cased, as AWS stores it.
    pub name: String,
    pub family: String,
    pub description: String,
    /// Values set by `ModifyCacheParameterGroup` (and not reset since), by parameter name.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}
