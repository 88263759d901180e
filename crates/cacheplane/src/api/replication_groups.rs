//! CreateReplicationGroup, DescribeReplicationGroups, ModifyReplicationGroup, DeleteReplicationGroup,
//! DescribeCacheClusters, DeleteCacheCluster.

use control::Control;
use wire::input::{
    CreateReplicationGroup, DeleteCacheCluster, DeleteReplicationGroup, DescribeCacheClusters,
    DescribeReplicationGroups, ModifyReplicationGroup, ModifyReplicationGroupShardConfiguration,
};
use wire::output::{envelope, write_page};
use wire::ApiError;

use super::to_api_error;

pub fn create(c: &Control, input: CreateReplicationGroup, rid: &str) -> Result<String, ApiError> {
    let g = c.create_replication_group(input).map_err(to_api_error)?;
    Ok(envelope("CreateReplicationGroup", rid, |w| g.write(w)))
}

pub fn describe(
    c: &Control,
    input: DescribeReplicationGroups,
    rid: &str,
) -> Result<String, ApiError> {
    let (groups, marker) = c.describe_replication_groups(input).map_err(to_api_error)?;
    Ok(envelope("DescribeReplicationGroups", rid, |w| {
        write_page(
            w,
            marker.as_deref(),
            "ReplicationGroups",
            &groups,
            |x, w| x.write(w),
        )
    }))
}

pub async fn modify(
    c: &Control,
    input: ModifyReplicationGroup,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c
        .modify_replication_group(input)
        .await
        .map_err(to_api_error)?;
    Ok(envelope("ModifyReplicationGroup", rid, |w| g.write(w)))
}

pub async fn modify_shards(
    c: &Control,
    input: ModifyReplicationGroupShardConfiguration,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c
        .modify_shard_configuration(input)
        .await
        .map_err(to_api_error)?;
    Ok(envelope(
        "ModifyReplicationGroupShardConfiguration",
        rid,
        |w| g.write(w),
    ))
}

pub fn delete(c: &Control, input: DeleteReplicationGroup, rid: &str) -> Result<String, ApiError> {
    let g = c.delete_replication_group(input).map_err(to_api_error)?;
    Ok(envelope("DeleteReplicationGroup", rid, |w| g.write(w)))
}

pub fn describe_cache_clusters(
    c: &Control,
    input: DescribeCacheClusters,
    rid: &str,
) -> Result<String, ApiError> {
    let (clusters, marker) = c.describe_cache_clusters(input).map_err(to_api_error)?;
    Ok(envelope("DescribeCacheClusters", rid, |w| {
        write_page(w, marker.as_deref(), "CacheClusters", &clusters, |x, w| {
            x.write(w)
        })
    }))
}

pub async fn delete_cache_cluster(
    c: &Control,
    input: DeleteCacheCluster,
    rid: &str,
) -> Result<String, ApiError> {
    let cc = c.delete_cache_cluster(input).await.map_err(to_api_error)?;
    Ok(envelope("DeleteCacheCluster", rid, |w| cc.write(w)))
}
