//! Domain errors. Each variant is one thing a caller did wrong (or one internal failure); the API edge maps
//! them to AWS codes and statuses in one exhaustive `match`.

/// What went wrong, in the domain's words. Messages are complete sentences a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("ReplicationGroup not found: {0}")]
    ReplicationGroupNotFound(String),
    #[error("Replication group {0} already exists.")]
    ReplicationGroupAlreadyExists(String),
    #[error("Replication group {id} is not in the available state (it is {status}).")]
    InvalidReplicationGroupState { id: String, status: String },
    /// `InvalidReplicationGroupState` with AWS's own message for the case.
    #[error("{0}")]
    GroupStateMessage(String),
    #[error("{0}")]
    InvalidCacheClusterState(String),
    #[error("CacheCluster not found: {0}")]
    CacheClusterNotFound(String),
    #[error("{0}")]
    CacheClusterAlreadyExists(String),
    #[error("CacheParameterGroup {0} not found.")]
    CacheParameterGroupNotFound(String),
    #[error("Parameter group {0} already exists.")]
    CacheParameterGroupAlreadyExists(String),
    #[error("{0}")]
    CacheParameterGroupQuotaExceeded(String),
    #[error("{0}")]
    InvalidCacheParameterGroupState(String),
    #[error("{0}")]
    CacheSubnetGroupNotFound(String),
    #[error("Cache subnet group {0} already exists.")]
    CacheSubnetGroupAlreadyExists(String),
    #[error("{0}")]
    CacheSubnetGroupInUse(String),
    #[error("{0}")]
    CacheSubnetGroupQuotaExceeded(String),
    #[error("{0}")]
    CacheSubnetQuotaExceeded(String),
    #[error("{0}")]
    InvalidSubnet(String),
    #[error("{0}")]
    SubnetInUse(String),
    #[error("{0}")]
    ReservedCacheNodeNotFound(String),
    #[error("{0}")]
    ReservedCacheNodesOfferingNotFound(String),
    #[error("{0}")]
    ServiceUpdateNotFound(String),
    #[error("{0}")]
    SnapshotNotFound(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    TagNotFound(String),
    #[error("{0}")]
    TagQuotaPerResourceExceeded(String),
    #[error("{0}")]
    UserGroupNotFound(String),
    #[error("{0}")]
    NodeQuotaForCustomerExceeded(String),
    #[error("{0}")]
    InsufficientCacheClusterCapacity(String),
    #[error("{0}")]
    NodeGroupNotFound(String),
    #[error("{0}")]
    NodeGroupsPerReplicationGroupQuotaExceeded(String),
    #[error("{0}")]
    NodeQuotaForClusterExceeded(String),
    #[error("{0}")]
    TestFailoverNotAvailable(String),
    #[error("{0}")]
    ApiCallRateForCustomerExceeded(String),
    #[error("{0}")]
    ReplicationGroupAlreadyUnderMigration(String),
    #[error("{0}")]
    ReplicationGroupNotUnderMigration(String),
    /// The migration is not healthy enough for what was asked (`CompleteMigration` while not in sync).
    #[error("{0}")]
    MigrationHealth(String),
    #[error("{0}")]
    UserNotFound(String),
    #[error("{0}")]
    UserAlreadyExists(String),
    #[error("{0}")]
    UserGroupAlreadyExists(String),
    #[error("{0}")]
    DuplicateUserName(String),
    #[error("{0}")]
    DefaultUserRequired(String),
    #[error("{0}")]
    DefaultUserAssociatedToUserGroup(String),
    #[error("{0}")]
    InvalidUserState(String),
    #[error("{0}")]
    InvalidUserGroupState(String),
    #[error("{0}")]
    UserQuotaExceeded(String),
    #[error("{0}")]
    UserGroupQuotaExceeded(String),
    #[error("{0}")]
    SnapshotAlreadyExists(String),
    #[error("{0}")]
    InvalidSnapshotState(String),
    #[error("{0}")]
    SnapshotQuotaExceeded(String),
    #[error("{0}")]
    SnapshotFeatureNotSupported(String),
    /// A failure of ours (store, filesystem, engine). Logged in full; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for ControlError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(format!("store: {e}"))
    }
}

impl From<serde_json::Error> for ControlError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("store encoding: {e}"))
    }
}

impl From<engine::EngineError> for ControlError {
    fn from(e: engine::EngineError) -> Self {
        Self::Internal(format!("engine: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, ControlError>;

/// Shorthand for `InvalidParameterValue`.
pub fn invalid(msg: impl Into<String>) -> ControlError {
    ControlError::InvalidParameterValue(msg.into())
}

/// Shorthand for `InvalidParameterCombination`.
pub fn combination(msg: impl Into<String>) -> ControlError {
    ControlError::InvalidParameterCombination(msg.into())
}

/// Refuses a parameter of a feature not built yet, naming the feature.
pub fn not_yet(param: &str, feature: &str) -> ControlError {
    combination(format!(
        "{param} is not supported yet: Cacheplane does not implement {feature} in this version."
    ))
}
