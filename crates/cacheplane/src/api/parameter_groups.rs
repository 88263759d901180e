//! The cache parameter group actions.

use wire::output::{CacheParameterGroupDetails, EngineDefaults, EngineDefaultsResult};

handlers! {
    CreateCacheParameterGroup(c, i) => c.create_cache_parameter_group(i),
    ModifyCacheParameterGroup(c, i) => c.modify_cache_parameter_group(i),
    ResetCacheParameterGroup(c, i) => c.reset_cache_parameter_group(i),
    DeleteCacheParameterGroup(c, i) => c.delete_cache_parameter_group(&i.cache_parameter_group_name),
    DescribeCacheParameterGroups(c, i) => c.describe_cache_parameter_groups(i),
    DescribeCacheParameters(c, i) => c.describe_cache_parameters(i).map(|p| CacheParameterGroupDetails {
        marker: p.marker,
        parameters: p.parameters,
        cache_node_type_specific_parameters: p.node_type_specific,
    }),
    DescribeEngineDefaultParameters(c, i) => c.describe_engine_default_parameters(i).map(|p| EngineDefaultsResult {
        engine_defaults: EngineDefaults {
            cache_parameter_group_family: p.family,
            details: CacheParameterGroupDetails {
                marker: p.marker,
                parameters: p.parameters,
                cache_node_type_specific_parameters: p.node_type_specific,
            },
        },
    }),
}
