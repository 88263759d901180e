//! CreateUser, ModifyUser, DeleteUser, DescribeUsers, CreateUserGroup, ModifyUserGroup, DeleteUserGroup,
//! DescribeUserGroups.

handlers! {
    CreateUser(c, i) => c.create_user(i),
    ModifyUser(c, i) => c.modify_user(i),
    DeleteUser(c, i) => c.delete_user(&i.user_id),
    DescribeUsers(c, i) => c.describe_users(i),
    CreateUserGroup(c, i) => c.create_user_group(i),
    ModifyUserGroup(c, i) => c.modify_user_group(i),
    DeleteUserGroup(c, i) => c.delete_user_group(&i.user_group_id),
    DescribeUserGroups(c, i) => c.describe_user_groups(i),
}
