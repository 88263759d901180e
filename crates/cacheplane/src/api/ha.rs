//! TestFailover, IncreaseReplicaCount, DecreaseReplicaCount, RebootCacheCluster.

handlers! {
    TestFailover(c, i) => c.test_failover(i),
    IncreaseReplicaCount(c, i) => c.increase_replica_count(i.into()),
    DecreaseReplicaCount(c, i) => c.decrease_replica_count(i.into()),
    RebootCacheCluster(c, i) => c.reboot_cache_cluster(i),
}
