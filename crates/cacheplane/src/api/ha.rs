//! TestFailover, IncreaseReplicaCount, DecreaseReplicaCount, RebootCacheCluster.

use control::Control;
use wire::input::{ChangeReplicaCount, RebootCacheCluster, TestFailover};
use wire::output::envelope;
use wire::ApiError;

use super::to_api_error;

pub fn test_failover(c: &Control, input: TestFailover, rid: &str) -> Result<String, ApiError> {
    let g = c.test_failover(input).map_err(to_api_error)?;
    Ok(envelope("TestFailover", rid, |w| g.write(w)))
}

pub fn increase_replica_count(
    c: &Control,
    input: ChangeReplicaCount,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c.increase_replica_count(input).map_err(to_api_error)?;
    Ok(envelope("IncreaseReplicaCount", rid, |w| g.write(w)))
}

pub fn decrease_replica_count(
    c: &Control,
    input: ChangeReplicaCount,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c.decrease_replica_count(input).map_err(to_api_error)?;
    Ok(envelope("DecreaseReplicaCount", rid, |w| g.write(w)))
}

pub fn reboot_cache_cluster(
    c: &Control,
    input: RebootCacheCluster,
    rid: &str,
) -> Result<String, ApiError> {
    let cc = c.reboot_cache_cluster(input).map_err(to_api_error)?;
    Ok(envelope("RebootCacheCluster", rid, |w| cc.write(w)))
}
