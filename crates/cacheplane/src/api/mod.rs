//! Dispatch from action to `control`, one file per API family, and the one mapping from domain errors to AWS
//! error codes.

mod catalog;
mod ha;
mod migration;
mod parameter_groups;
mod replication_groups;
mod snapshots;
mod users;

use control::ControlError;
use wire::input::Request;
use wire::{ApiError, ErrorCode};

/// Runs one decoded request and returns the response document.
pub async fn dispatch(
    c: &control::Control,
    request: Request,
    request_id: &str,
) -> Result<String, ApiError> {
    match request {
        Request::CreateReplicationGroup(i) => replication_groups::create(c, *i, request_id),
        Request::DescribeReplicationGroups(i) => replication_groups::describe(c, i, request_id),
        Request::DeleteReplicationGroup(i) => replication_groups::delete(c, i, request_id),
        Request::DescribeCacheClusters(i) => {
            replication_groups::describe_cache_clusters(c, i, request_id)
        }
        Request::DeleteCacheCluster(i) => {
            replication_groups::delete_cache_cluster(c, i, request_id).await
        }
        Request::DescribeEvents(i) => catalog::describe_events(c, i, request_id),
        Request::AddTagsToResource(i) => catalog::add_tags(c, i, request_id),
        Request::RemoveTagsFromResource(i) => catalog::remove_tags(c, i, request_id),
        Request::ListTagsForResource(i) => catalog::list_tags(c, i, request_id),
        Request::DescribeCacheEngineVersions(i) => {
            catalog::describe_engine_versions(c, i, request_id)
        }
        Request::ModifyReplicationGroup(i) => replication_groups::modify(c, *i, request_id).await,
        Request::TestMigration(i) => migration::test_migration(c, i, request_id),
        Request::StartMigration(i) => migration::start_migration(c, i, request_id).await,
        Request::CompleteMigration(i) => migration::complete_migration(c, i, request_id).await,
        Request::TestFailover(i) => ha::test_failover(c, i, request_id),
        Request::ModifyReplicationGroupShardConfiguration(i) => {
            replication_groups::modify_shards(c, i, request_id).await
        }
        Request::IncreaseReplicaCount(i) => ha::increase_replica_count(c, i.into(), request_id),
        Request::DecreaseReplicaCount(i) => ha::decrease_replica_count(c, i.into(), request_id),
        Request::RebootCacheCluster(i) => ha::reboot_cache_cluster(c, i, request_id),
        Request::CreateUser(i) => users::create_user(c, i, request_id),
        Request::ModifyUser(i) => users::modify_user(c, i, request_id),
        Request::DeleteUser(i) => users::delete_user(c, &i.user_id, request_id),
        Request::DescribeUsers(i) => users::describe_users(c, i, request_id),
        Request::CreateUserGroup(i) => users::create_user_group(c, i, request_id),
        Request::ModifyUserGroup(i) => users::modify_user_group(c, i, request_id),
        Request::DeleteUserGroup(i) => users::delete_user_group(c, &i.user_group_id, request_id),
        Request::DescribeUserGroups(i) => users::describe_user_groups(c, i, request_id),
        Request::CreateSnapshot(i) => snapshots::create_snapshot(c, i, request_id),
        Request::DescribeSnapshots(i) => snapshots::describe_snapshots(c, i, request_id),
        Request::CopySnapshot(i) => snapshots::copy_snapshot(c, i, request_id).await,
        Request::DeleteSnapshot(i) => snapshots::delete_snapshot(c, &i.snapshot_name, request_id),
        Request::CreateCacheSubnetGroup(i) => {
            let g = c.create_cache_subnet_group(i).map_err(to_api_error)?;
            Ok(wire::output::envelope(
                "CreateCacheSubnetGroup",
                request_id,
                |w| g.write_as("CacheSubnetGroup", w),
            ))
        }
        Request::ModifyCacheSubnetGroup(i) => {
            let g = c.modify_cache_subnet_group(i).map_err(to_api_error)?;
            Ok(wire::output::envelope(
                "ModifyCacheSubnetGroup",
                request_id,
                |w| g.write_as("CacheSubnetGroup", w),
            ))
        }
        Request::DeleteCacheSubnetGroup(i) => {
            c.delete_cache_subnet_group(&i.cache_subnet_group_name)
                .map_err(to_api_error)?;
            Ok(wire::output::envelope_empty(
                "DeleteCacheSubnetGroup",
                request_id,
            ))
        }
        Request::CreateCacheCluster(i) => {
            let cc = c.create_cache_cluster(*i).map_err(to_api_error)?;
            Ok(wire::output::envelope(
                "CreateCacheCluster",
                request_id,
                |w| cc.write(w),
            ))
        }
        Request::ModifyCacheCluster(i) => {
            let cc = c.modify_cache_cluster(*i).await.map_err(to_api_error)?;
            Ok(wire::output::envelope(
                "ModifyCacheCluster",
                request_id,
                |w| cc.write(w),
            ))
        }
        Request::ListAllowedNodeTypeModifications(i) => {
            let (up, down) = c
                .list_allowed_node_type_modifications(i)
                .await
                .map_err(to_api_error)?;
            Ok(wire::output::envelope(
                "ListAllowedNodeTypeModifications",
                request_id,
                |w| {
                    w.str_list("ScaleUpModifications", "member", &up);
                    w.str_list("ScaleDownModifications", "member", &down);
                },
            ))
        }
        Request::DescribeReservedCacheNodes(i) => {
            c.describe_reserved_cache_nodes(i).map_err(to_api_error)?;
            Ok(empty_page(
                request_id,
                "DescribeReservedCacheNodes",
                "ReservedCacheNodes",
            ))
        }
        Request::DescribeReservedCacheNodesOfferings(i) => {
            c.describe_reserved_cache_nodes_offerings(i)
                .map_err(to_api_error)?;
            Ok(empty_page(
                request_id,
                "DescribeReservedCacheNodesOfferings",
                "ReservedCacheNodesOfferings",
            ))
        }
        Request::DescribeServiceUpdates(i) => {
            c.describe_service_updates(i).map_err(to_api_error)?;
            Ok(empty_page(
                request_id,
                "DescribeServiceUpdates",
                "ServiceUpdates",
            ))
        }
        Request::DescribeUpdateActions(i) => {
            c.describe_update_actions(i).map_err(to_api_error)?;
            Ok(empty_page(
                request_id,
                "DescribeUpdateActions",
                "UpdateActions",
            ))
        }
        Request::DescribeCacheSecurityGroups(i) => {
            c.describe_cache_security_groups(i).map_err(to_api_error)?;
            Ok(empty_page(
                request_id,
                "DescribeCacheSecurityGroups",
                "CacheSecurityGroups",
            ))
        }
        Request::CreateCacheParameterGroup(i) => parameter_groups::create(c, i, request_id),
        Request::ModifyCacheParameterGroup(i) => parameter_groups::modify(c, i, request_id),
        Request::ResetCacheParameterGroup(i) => parameter_groups::reset(c, i, request_id),
        Request::DeleteCacheParameterGroup(i) => {
            parameter_groups::delete(c, &i.cache_parameter_group_name, request_id)
        }
        Request::DescribeCacheParameterGroups(i) => {
            parameter_groups::describe_groups(c, i, request_id)
        }
        Request::DescribeCacheParameters(i) => {
            parameter_groups::describe_parameters(c, i, request_id)
        }
        Request::DescribeEngineDefaultParameters(i) => {
            parameter_groups::describe_engine_defaults(c, i, request_id)
        }
        Request::DescribeCacheSubnetGroups(i) => {
            let (groups, marker) = c.describe_cache_subnet_groups(i).map_err(to_api_error)?;
            Ok(wire::output::envelope(
                "DescribeCacheSubnetGroups",
                request_id,
                |w| {
                    wire::output::write_page(
                        w,
                        marker.as_deref(),
                        "CacheSubnetGroups",
                        &groups,
                        |g, w| g.write_as("CacheSubnetGroup", w),
                    )
                },
            ))
        }
    }
}

/// The answer of a Describe action whose list is empty (nothing of its kind exists here).
fn empty_page(request_id: &str, action: &str, list: &str) -> String {
    wire::output::envelope(action, request_id, |w| w.empty(list))
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
