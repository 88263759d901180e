//! Cache subnet groups.

use serde::{Deserialize, Serialize};

/// The subnet group every account has.
pub const DEFAULT: &str = "default";

/// A cache subnet group made by `CreateCacheSubnetGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetGroup {
    /// Lower-cased, as AWS stores it.
    pub name: String,
    pub description: String,
    /// Subnet ids, in the order given.
    pub subnets: Vec<String>,
}
