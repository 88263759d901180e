//! CreateSnapshot, DescribeSnapshots, CopySnapshot, DeleteSnapshot.

use control::Control;
use wire::input::{CopySnapshot, CreateSnapshot, DescribeSnapshots};
use wire::output::{envelope, write_page};
use wire::ApiError;

use super::to_api_error;

pub fn create_snapshot(c: &Control, input: CreateSnapshot, rid: &str) -> Result<String, ApiError> {
    let s = c.create_snapshot(input).map_err(to_api_error)?;
    Ok(envelope("CreateSnapshot", rid, |w| s.write(w)))
}

pub fn describe_snapshots(
    c: &Control,
    input: DescribeSnapshots,
    rid: &str,
) -> Result<String, ApiError> {
    let (snapshots, marker) = c.describe_snapshots(input).map_err(to_api_error)?;
    Ok(envelope("DescribeSnapshots", rid, |w| {
        write_page(w, marker.as_deref(), "Snapshots", &snapshots, |s, w| {
            s.write(w)
        })
    }))
}

pub async fn copy_snapshot(
    c: &Control,
    input: CopySnapshot,
    rid: &str,
) -> Result<String, ApiError> {
    let s = c.copy_snapshot(input).await.map_err(to_api_error)?;
    Ok(envelope("CopySnapshot", rid, |w| s.write(w)))
}

pub fn delete_snapshot(c: &Control, name: &str, rid: &str) -> Result<String, ApiError> {
    let s = c.delete_snapshot(name).map_err(to_api_error)?;
    Ok(envelope("DeleteSnapshot", rid, |w| s.write(w)))
}
