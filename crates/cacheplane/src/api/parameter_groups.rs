//! The cache parameter group actions.

use control::Control;
use wire::input::{
    CreateCacheParameterGroup, DescribeCacheParameterGroups, DescribeCacheParameters,
    DescribeEngineDefaultParameters, ModifyCacheParameterGroup, ResetCacheParameterGroup,
};
use wire::output::{envelope, envelope_empty, write_page, write_parameters};
use wire::ApiError;

use super::to_api_error;

pub fn create(c: &Control, i: CreateCacheParameterGroup, rid: &str) -> Result<String, ApiError> {
    let g = c.create_cache_parameter_group(i).map_err(to_api_error)?;
    Ok(envelope("CreateCacheParameterGroup", rid, |w| {
        g.write_as("CacheParameterGroup", w)
    }))
}

pub fn modify(c: &Control, i: ModifyCacheParameterGroup, rid: &str) -> Result<String, ApiError> {
    let name = c.modify_cache_parameter_group(i).map_err(to_api_error)?;
    Ok(envelope("ModifyCacheParameterGroup", rid, |w| {
        w.text("CacheParameterGroupName", &name)
    }))
}

pub fn reset(c: &Control, i: ResetCacheParameterGroup, rid: &str) -> Result<String, ApiError> {
    let name = c.reset_cache_parameter_group(i).map_err(to_api_error)?;
    Ok(envelope("ResetCacheParameterGroup", rid, |w| {
        w.text("CacheParameterGroupName", &name)
    }))
}

pub fn delete(c: &Control, name: &str, rid: &str) -> Result<String, ApiError> {
    c.delete_cache_parameter_group(name).map_err(to_api_error)?;
    Ok(envelope_empty("DeleteCacheParameterGroup", rid))
}

pub fn describe_groups(
    c: &Control,
    i: DescribeCacheParameterGroups,
    rid: &str,
) -> Result<String, ApiError> {
    let (groups, marker) = c.describe_cache_parameter_groups(i).map_err(to_api_error)?;
    Ok(envelope("DescribeCacheParameterGroups", rid, |w| {
        write_page(
            w,
            marker.as_deref(),
            "CacheParameterGroups",
            &groups,
            |g, w| g.write_as("CacheParameterGroup", w),
        )
    }))
}

pub fn describe_parameters(
    c: &Control,
    i: DescribeCacheParameters,
    rid: &str,
) -> Result<String, ApiError> {
    let p = c.describe_cache_parameters(i).map_err(to_api_error)?;
    Ok(envelope("DescribeCacheParameters", rid, |w| {
        write_parameters(w, p.marker.as_deref(), &p.parameters, &p.node_type_specific)
    }))
}

pub fn describe_engine_defaults(
    c: &Control,
    i: DescribeEngineDefaultParameters,
    rid: &str,
) -> Result<String, ApiError> {
    let p = c
        .describe_engine_default_parameters(i)
        .map_err(to_api_error)?;
    Ok(envelope("DescribeEngineDefaultParameters", rid, |w| {
        w.open("EngineDefaults");
        w.text("CacheParameterGroupFamily", &p.family);
        write_parameters(w, p.marker.as_deref(), &p.parameters, &p.node_type_specific);
        w.close("EngineDefaults");
    }))
}
