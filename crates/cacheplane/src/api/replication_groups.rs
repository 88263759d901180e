//! The replication groups and cache clusters: CreateReplicationGroup, DescribeReplicationGroups,
//! ModifyReplicationGroup, ModifyReplicationGroupShardConfiguration, DeleteReplicationGroup, CreateCacheCluster,
//! DescribeCacheClusters, ModifyCacheCluster, DeleteCacheCluster.

handlers! {
    CreateReplicationGroup(c, i) => c.create_replication_group(i),
    DescribeReplicationGroups(c, i) => c.describe_replication_groups(i),
    ModifyReplicationGroup(c, i) => c.modify_replication_group(i).await,
    ModifyReplicationGroupShardConfiguration(c, i) => c.modify_shard_configuration(i).await,
    DeleteReplicationGroup(c, i) => c.delete_replication_group(i),
    CreateCacheCluster(c, i) => c.create_cache_cluster(i),
    DescribeCacheClusters(c, i) => c.describe_cache_clusters(i),
    ModifyCacheCluster(c, i) => c.modify_cache_cluster(i).await,
    DeleteCacheCluster(c, i) => c.delete_cache_cluster(i).await,
}
