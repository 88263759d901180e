//! CreateUser, ModifyUser, DeleteUser, DescribeUsers, CreateUserGroup, ModifyUserGroup, DeleteUserGroup,
//! DescribeUserGroups.

use control::Control;
use wire::input::{
    CreateUser, CreateUserGroup, DescribeUserGroups, DescribeUsers, ModifyUser, ModifyUserGroup,
};
use wire::output::{envelope, write_page};
use wire::ApiError;

use super::to_api_error;

pub fn create_user(c: &Control, input: CreateUser, rid: &str) -> Result<String, ApiError> {
    let u = c.create_user(input).map_err(to_api_error)?;
    Ok(envelope("CreateUser", rid, |w| u.write_fields(w)))
}

pub fn modify_user(c: &Control, input: ModifyUser, rid: &str) -> Result<String, ApiError> {
    let u = c.modify_user(input).map_err(to_api_error)?;
    Ok(envelope("ModifyUser", rid, |w| u.write_fields(w)))
}

pub fn delete_user(c: &Control, id: &str, rid: &str) -> Result<String, ApiError> {
    let u = c.delete_user(id).map_err(to_api_error)?;
    Ok(envelope("DeleteUser", rid, |w| u.write_fields(w)))
}

pub fn describe_users(c: &Control, input: DescribeUsers, rid: &str) -> Result<String, ApiError> {
    let (users, marker) = c.describe_users(input).map_err(to_api_error)?;
    Ok(envelope("DescribeUsers", rid, |w| {
        write_page(w, marker.as_deref(), "Users", &users, |u, w| {
            u.write_member(w)
        })
    }))
}

pub fn create_user_group(
    c: &Control,
    input: CreateUserGroup,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c.create_user_group(input).map_err(to_api_error)?;
    Ok(envelope("CreateUserGroup", rid, |w| g.write_fields(w)))
}

pub fn modify_user_group(
    c: &Control,
    input: ModifyUserGroup,
    rid: &str,
) -> Result<String, ApiError> {
    let g = c.modify_user_group(input).map_err(to_api_error)?;
    Ok(envelope("ModifyUserGroup", rid, |w| g.write_fields(w)))
}

pub fn delete_user_group(c: &Control, id: &str, rid: &str) -> Result<String, ApiError> {
    let g = c.delete_user_group(id).map_err(to_api_error)?;
    Ok(envelope("DeleteUserGroup", rid, |w| g.write_fields(w)))
}

pub fn describe_user_groups(
    c: &Control,
    input: DescribeUserGroups,
    rid: &str,
) -> Result<String, ApiError> {
    let (groups, marker) = c.describe_user_groups(input).map_err(to_api_error)?;
    Ok(envelope("DescribeUserGroups", rid, |w| {
        write_page(w, marker.as_deref(), "UserGroups", &groups, |g, w| {
            g.write_member(w)
        })
    }))
}
