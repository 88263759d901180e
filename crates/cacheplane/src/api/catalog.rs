//! DescribeEvents, the tags, DescribeCacheEngineVersions, ListAllowedNodeTypeModifications, and the Describe
//! actions whose list is always empty here (reserved nodes, service updates, security groups).

handlers! {
    DescribeEvents(c, i) => c.describe_events(i),
    AddTagsToResource(c, i) => c.add_tags_to_resource(i),
    RemoveTagsFromResource(c, i) => c.remove_tags_from_resource(i),
    ListTagsForResource(c, i) => c.list_tags_for_resource(i),
    DescribeCacheEngineVersions(c, i) => c.describe_cache_engine_versions(i),
    ListAllowedNodeTypeModifications(c, i) => c.list_allowed_node_type_modifications(i).await,
    DescribeReservedCacheNodes(c, i) => c.describe_reserved_cache_nodes(i),
    DescribeReservedCacheNodesOfferings(c, i) => c.describe_reserved_cache_nodes_offerings(i),
    DescribeServiceUpdates(c, i) => c.describe_service_updates(i),
    DescribeUpdateActions(c, i) => c.describe_update_actions(i),
    DescribeCacheSecurityGroups(c, i) => c.describe_cache_security_groups(i),
}
