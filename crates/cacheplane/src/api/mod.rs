//! Dispatch from action to `control`, and the one mapping from domain errors to AWS error codes. The match over
//! [`Request`] is made from wire's one list of actions ([`wire::with_actions!`]); each action's handler (one file
//! per API family, declared with [`handlers!`]) is the `control` call that answers it, whose answer becomes the
//! action's output ([`wire::Action::Output`]), written as the response document.

use control::{Control, ControlError};
use wire::input::Request;
use wire::{ApiError, ErrorCode};

/// An action's handler: the `control` call that answers it.
trait Handler: wire::Action + Sized {
    async fn handle(self, c: &Control) -> Result<Self::Output, ControlError>;
}

/// Declares the handlers of actions, each `Input(c, i) => call`: `call` (which may `.await`) answers the input
/// `i` with `c`, the `Control`; its value becomes the action's output (`Into`).
macro_rules! handlers {
    ($( $name:ident($c:ident, $i:ident) => $call:expr ),* $(,)?) => {
        $(
            impl super::Handler for wire::input::$name {
                async fn handle(
                    self,
                    $c: &control::Control,
                ) -> Result<Self::Output, control::ControlError> {
                    let $i = self;
                    $call.map(Into::into)
                }
            }
        )*
    };
}

mod catalog;
mod ha;
mod migration;
mod parameter_groups;
mod replication_groups;
mod snapshots;
mod subnet_groups;
mod users;

/// The dispatch, from [`wire::with_actions!`]'s list.
macro_rules! dispatch_all {
    (@take boxed $i:ident) => { *$i };
    (@take $i:ident) => { $i };
    (
        implemented { $( $(#[$boxed:ident])? $name:ident => $output:ident ),* $(,)? }
        refused { $( $refused:ident ),* $(,)? }
    ) => {
        /// Runs one decoded request and returns the response document.
        pub async fn dispatch(c: &Control, request: Request, request_id: &str) -> Result<String, ApiError> {
            match request {
                $( Request::$name(i) => respond(c, dispatch_all!(@take $($boxed)? i), request_id).await, )*
            }
        }
    };
}

wire::with_actions!(dispatch_all);

/// Answers one action: its handler's output in the response document, or its error.
async fn respond<A: Handler>(c: &Control, input: A, request_id: &str) -> Result<String, ApiError> {
    let output = input.handle(c).await.map_err(to_api_error)?;
    Ok(wire::encode::respond(A::NAME, request_id, &output))
}

/// The one mapping from domain errors to wire errors. An internal error is logged in full and answered with a
/// generic message.
pub fn to_api_error(e: ControlError) -> ApiError {
    let (code, message) = match e {
        ControlError::InvalidParameterValue(m) => (ErrorCode::InvalidParameterValue, m),
        ControlError::InvalidParameterCombination(m) => (ErrorCode::InvalidParameterCombination, m),
        e @ ControlError::ReplicationGroupNotFound(_) => {
            (ErrorCode::ReplicationGroupNotFound, e.to_string())
        }
        e @ ControlError::ReplicationGroupAlreadyExists(_) => {
            (ErrorCode::ReplicationGroupAlreadyExists, e.to_string())
        }
        e @ ControlError::InvalidReplicationGroupState { .. } => {
            (ErrorCode::InvalidReplicationGroupState, e.to_string())
        }
        ControlError::GroupStateMessage(m) => (ErrorCode::InvalidReplicationGroupState, m),
        ControlError::InvalidCacheClusterState(m) => (ErrorCode::InvalidCacheClusterState, m),
        e @ ControlError::CacheClusterNotFound(_) => {
            (ErrorCode::CacheClusterNotFound, e.to_string())
        }
        e @ ControlError::CacheParameterGroupNotFound(_) => {
            (ErrorCode::CacheParameterGroupNotFound, e.to_string())
        }
        e @ ControlError::CacheParameterGroupAlreadyExists(_) => {
            (ErrorCode::CacheParameterGroupAlreadyExists, e.to_string())
        }
        ControlError::CacheParameterGroupQuotaExceeded(m) => {
            (ErrorCode::CacheParameterGroupQuotaExceeded, m)
        }
        ControlError::InvalidCacheParameterGroupState(m) => {
            (ErrorCode::InvalidCacheParameterGroupState, m)
        }
        ControlError::CacheSubnetGroupNotFound(m) => (ErrorCode::CacheSubnetGroupNotFound, m),
        ControlError::CacheClusterAlreadyExists(m) => (ErrorCode::CacheClusterAlreadyExists, m),
        e @ ControlError::CacheSubnetGroupAlreadyExists(_) => {
            (ErrorCode::CacheSubnetGroupAlreadyExists, e.to_string())
        }
        ControlError::CacheSubnetGroupInUse(m) => (ErrorCode::CacheSubnetGroupInUse, m),
        ControlError::CacheSubnetGroupQuotaExceeded(m) => {
            (ErrorCode::CacheSubnetGroupQuotaExceeded, m)
        }
        ControlError::CacheSubnetQuotaExceeded(m) => (ErrorCode::CacheSubnetQuotaExceeded, m),
        ControlError::InvalidSubnet(m) => (ErrorCode::InvalidSubnet, m),
        ControlError::SubnetInUse(m) => (ErrorCode::SubnetInUse, m),
        ControlError::ReservedCacheNodeNotFound(m) => (ErrorCode::ReservedCacheNodeNotFound, m),
        ControlError::ReservedCacheNodesOfferingNotFound(m) => {
            (ErrorCode::ReservedCacheNodesOfferingNotFound, m)
        }
        ControlError::ServiceUpdateNotFound(m) => (ErrorCode::ServiceUpdateNotFound, m),
        ControlError::SnapshotNotFound(m) => (ErrorCode::SnapshotNotFound, m),
        ControlError::InvalidArn(m) => (ErrorCode::InvalidArn, m),
        ControlError::TagNotFound(m) => (ErrorCode::TagNotFound, m),
        ControlError::TagQuotaPerResourceExceeded(m) => (ErrorCode::TagQuotaPerResourceExceeded, m),
        ControlError::UserGroupNotFound(m) => (ErrorCode::UserGroupNotFound, m),
        ControlError::NodeQuotaForCustomerExceeded(m) => {
            (ErrorCode::NodeQuotaForCustomerExceeded, m)
        }
        ControlError::InsufficientCacheClusterCapacity(m) => {
            (ErrorCode::InsufficientCacheClusterCapacity, m)
        }
        ControlError::NodeGroupNotFound(m) => (ErrorCode::NodeGroupNotFound, m),
        ControlError::NodeGroupsPerReplicationGroupQuotaExceeded(m) => {
            (ErrorCode::NodeGroupsPerReplicationGroupQuotaExceeded, m)
        }
        ControlError::NodeQuotaForClusterExceeded(m) => (ErrorCode::NodeQuotaForClusterExceeded, m),
        ControlError::TestFailoverNotAvailable(m) => (ErrorCode::TestFailoverNotAvailable, m),
        ControlError::ApiCallRateForCustomerExceeded(m) => {
            (ErrorCode::ApiCallRateForCustomerExceeded, m)
        }
        ControlError::ReplicationGroupAlreadyUnderMigration(m) => {
            (ErrorCode::ReplicationGroupAlreadyUnderMigration, m)
        }
        ControlError::ReplicationGroupNotUnderMigration(m) => {
            (ErrorCode::ReplicationGroupNotUnderMigration, m)
        }
        ControlError::MigrationHealth(m) => (ErrorCode::MigrationHealth, m),
        ControlError::UserNotFound(m) => (ErrorCode::UserNotFound, m),
        ControlError::UserAlreadyExists(m) => (ErrorCode::UserAlreadyExists, m),
        ControlError::UserGroupAlreadyExists(m) => (ErrorCode::UserGroupAlreadyExists, m),
        ControlError::DuplicateUserName(m) => (ErrorCode::DuplicateUserName, m),
        ControlError::DefaultUserRequired(m) => (ErrorCode::DefaultUserRequired, m),
        ControlError::DefaultUserAssociatedToUserGroup(m) => {
            (ErrorCode::DefaultUserAssociatedToUserGroup, m)
        }
        ControlError::InvalidUserState(m) => (ErrorCode::InvalidUserState, m),
        ControlError::InvalidUserGroupState(m) => (ErrorCode::InvalidUserGroupState, m),
        ControlError::UserQuotaExceeded(m) => (ErrorCode::UserQuotaExceeded, m),
        ControlError::UserGroupQuotaExceeded(m) => (ErrorCode::UserGroupQuotaExceeded, m),
        ControlError::SnapshotAlreadyExists(m) => (ErrorCode::SnapshotAlreadyExists, m),
        ControlError::InvalidSnapshotState(m) => (ErrorCode::InvalidSnapshotState, m),
        ControlError::SnapshotQuotaExceeded(m) => (ErrorCode::SnapshotQuotaExceeded, m),
        ControlError::SnapshotFeatureNotSupported(m) => (ErrorCode::SnapshotFeatureNotSupported, m),
        ControlError::Internal(detail) => {
            tracing::error!(%detail, "internal failure");
            (
                ErrorCode::InternalFailure,
                "The request processing has failed because of an unknown error.".to_string(),
            )
        }
    };
    ApiError::new(code, message)
}
