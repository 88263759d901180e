//! DescribeEvents, AddTagsToResource, RemoveTagsFromResource, ListTagsForResource, DescribeCacheEngineVersions.

use control::Control;
use wire::input::{
    AddTagsToResource, DescribeCacheEngineVersions, DescribeEvents, ListTagsForResource,
    RemoveTagsFromResource,
};
use wire::output::{envelope, write_page, write_tag_list};
use wire::ApiError;

use super::to_api_error;

pub fn describe_events(c: &Control, input: DescribeEvents, rid: &str) -> Result<String, ApiError> {
    let (events, marker) = c.describe_events(input).map_err(to_api_error)?;
    Ok(envelope("DescribeEvents", rid, |w| {
        write_page(w, marker.as_deref(), "Events", &events, |x, w| x.write(w))
    }))
}

pub fn add_tags(c: &Control, input: AddTagsToResource, rid: &str) -> Result<String, ApiError> {
    let tags = c.add_tags_to_resource(input).map_err(to_api_error)?;
    Ok(envelope("AddTagsToResource", rid, |w| {
        write_tag_list(w, &tags)
    }))
}

pub fn remove_tags(
    c: &Control,
    input: RemoveTagsFromResource,
    rid: &str,
) -> Result<String, ApiError> {
    let tags = c.remove_tags_from_resource(input).map_err(to_api_error)?;
    Ok(envelope("RemoveTagsFromResource", rid, |w| {
        write_tag_list(w, &tags)
    }))
}

pub fn list_tags(c: &Control, input: ListTagsForResource, rid: &str) -> Result<String, ApiError> {
    let tags = c.list_tags_for_resource(input).map_err(to_api_error)?;
    Ok(envelope("ListTagsForResource", rid, |w| {
        write_tag_list(w, &tags)
    }))
}

pub fn describe_engine_versions(
    c: &Control,
    input: DescribeCacheEngineVersions,
    rid: &str,
) -> Result<String, ApiError> {
    let (versions, marker) = c
        .describe_cache_engine_versions(input)
        .map_err(to_api_error)?;
    Ok(envelope("DescribeCacheEngineVersions", rid, |w| {
        write_page(
            w,
            marker.as_deref(),
            "CacheEngineVersions",
            &versions,
            |x, w| x.write(w),
        )
    }))
}
