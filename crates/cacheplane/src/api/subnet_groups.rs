//! CreateCacheSubnetGroup, ModifyCacheSubnetGroup, DeleteCacheSubnetGroup, DescribeCacheSubnetGroups.

handlers! {
    CreateCacheSubnetGroup(c, i) => c.create_cache_subnet_group(i),
    ModifyCacheSubnetGroup(c, i) => c.modify_cache_subnet_group(i),
    DeleteCacheSubnetGroup(c, i) => c.delete_cache_subnet_group(&i.cache_subnet_group_name),
    DescribeCacheSubnetGroups(c, i) => c.describe_cache_subnet_groups(i),
}
