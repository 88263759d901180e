//! Users and user groups (role-based access control): `CreateUser`, `ModifyUser`, `DeleteUser`,
//! `DescribeUsers`, `CreateUserGroup`, `ModifyUserGroup`, `DeleteUserGroup`, `DescribeUserGroups`, and what a
//! replication group's nodes hold for the user groups attached to it.
//!
//! A user's access string is Redis ACL syntax (`on ~app:* +get`), enforced by Redis itself on every node of every
//! replication group whose user group holds the user; the user named `default` is what clients that do not
//! authenticate (or send `AUTH <password>`) act as. Passwords are kept as SHA-256 hashes only. Whatever an access
//! string grants, the commands that would break the control plane (`@admin`, `MIGRATE`) stay denied, as on
//! ElastiCache.
//!
//! AWS's rules: user ids start with a letter and hold letters, digits and hyphens; 1 or 2 passwords of 16–128
//! printable characters without `,` `"` `/` `@`, or `NoPasswordRequired`; every user group holds a user named
//! `default` (`DefaultUserRequired`) and no two users of one name (`DuplicateUserName`); the built-in user
//! `default` can be neither changed nor deleted; a user group attached to a replication group cannot be deleted.

use crate::rules::users::acl_for;
use crate::rules::users::builtin_default;
use crate::rules::users::check_access_string;
use crate::rules::users::check_id;
use crate::rules::users::check_password;
use crate::rules::users::reserved_name;
use crate::rules::users::DEFAULT_USER_ID;
use crate::rules::users::DEFAULT_USER_NAME;
use crate::rules::users::RESERVED_NAME_PREFIX;
use std::collections::BTreeSet;

use wire::input::{
    AuthenticationMode, CreateUser, CreateUserGroup, DescribeUserGroups, DescribeUsers, ModifyUser,
    ModifyUserGroup, Secret,
};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{Acl, GroupStatus, NewEvent, ReplicationGroup, User, UserGroup};
use crate::rules::tag_pairs;
use crate::state::State;
use crate::store::AccessChange;
use crate::{now, rules, Control};

/// The oldest engine with Redis ACL users.
pub const MINIMUM_ENGINE_VERSION: &str = "6.0";
/// Users per deployment (AWS's default quota).
pub const MAX_USERS: usize = 1000;
/// User groups per deployment (AWS's default quota).
pub const MAX_USER_GROUPS: usize = 100;

/// How long a deleted user is listed `deleting` at least (AWS shows it so for a few seconds; clients and Terraform
/// wait on it).
pub const DELETING_SHOWN: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// The authentication of `CreateUser`, checked first and in AWS's order, with AWS's messages:
/// 1. passwords given both as `Passwords` and as `AuthenticationMode.Passwords`;
/// 2. a password shorter than 16 characters (or longer than 128);
/// 3. the type: `AuthenticationMode.Type`, else `password` when passwords are given, else `no-password-required`
///    when `NoPasswordRequired=true`; none, or one AWS does not know, is refused;
/// 4. `NoPasswordRequired=true` with another type;
/// 5. passwords with a type other than `password`;
/// 6. type `password` without a password.
///
/// Returns the type and the passwords. (moto accepts some of these mixes; AWS's answers win.)
fn authentication_of(
    mode: Option<&AuthenticationMode>,
    passwords: Option<&Vec<Secret>>,
    no_password_required: Option<bool>,
) -> Result<(String, Vec<Secret>)> {
    let in_mode = mode
        .and_then(|m| m.passwords.as_ref())
        .filter(|p| !p.is_empty());
    let given = passwords.filter(|p| !p.is_empty());
    if in_mode.is_some() && given.is_some() {
        return Err(combination(
            "Passwords provided via multiple arguments. Use only one argument",
        ));
    }
    let list: Vec<Secret> = in_mode.or(given).cloned().unwrap_or_default();
    if list
        .iter()
        .any(|p| !(16..=128).contains(&p.0.chars().count()))
    {
        return Err(invalid(
            "Passwords length must be between 16-128 characters.",
        ));
    }
    let npr = no_password_required == Some(true);
    let kind = match mode.and_then(|m| m.kind.as_deref()) {
        Some(k) => k.to_string(),
        None if !list.is_empty() => "password".to_string(),
        None if npr => "no-password-required".to_string(),
        None => {
            return Err(invalid(
                "Input Authentication type: null is not in the allowed list: [password,no-password-required,iam]",
            ))
        }
    };
    if !["password", "no-password-required", "iam"].contains(&kind.as_str()) {
        return Err(invalid(format!(
            "Input Authentication type: {} is not in the allowed list: [password,no-password-required,iam]",
            rules::shown(&kind)
        )));
    }
    if npr && kind != "no-password-required" {
        return Err(combination(format!(
            "No password required flag is true but provided authentication type is {kind}"
        )));
    }
    if !list.is_empty() && kind != "password" {
        return Err(combination(format!(
            "Password field is not allowed with authentication type: {kind}"
        )));
    }
    if list.is_empty() && kind == "password" {
        return Err(combination(
            "A user with Authentication Mode: password, must have at least one password",
        ));
    }
    Ok((kind, list))
}

/// The passwords a request gives: `AuthenticationMode` first, then `Passwords` / `NoPasswordRequired`. `None`
/// when the request says nothing about them; `Some((hashes, no_password))` otherwise.
fn passwords_of(
    mode: Option<&AuthenticationMode>,
    passwords: Option<&Vec<Secret>>,
    no_password: Option<bool>,
) -> Result<Option<(Vec<String>, bool)>> {
    let (list, none) = match mode {
        Some(m) => match m.kind.as_deref() {
            Some("iam") => {
                return Err(invalid(
                    "AuthenticationMode iam is not available: Cacheplane has no IAM; use password or no-password-required.",
                ))
            }
            Some("no-password-required") => {
                if m.passwords.as_ref().is_some_and(|p| !p.is_empty()) {
                    return Err(combination(
                        "AuthenticationMode no-password-required takes no Passwords.",
                    ));
                }
                (None, Some(true))
            }
            Some("password") => (m.passwords.as_ref(), Some(false)),
            Some(other) => {
                return Err(invalid(format!(
                    "Input Authentication type: {} is not in the allowed list: [password,no-password-required,iam]",
                    rules::shown(other)
                )))
            }
            None => (m.passwords.as_ref(), None),
        },
        None => (passwords, no_password),
    };
    if mode.is_some() && (passwords.is_some() || no_password.is_some()) {
        return Err(combination(
            "Give passwords either in AuthenticationMode or as Passwords/NoPasswordRequired, not both.",
        ));
    }
    match (list, none) {
        (None, None) => Ok(None),
        (Some(l), Some(true)) if !l.is_empty() => Err(combination(
            "Passwords cannot be given together with NoPasswordRequired=true.",
        )),
        (_, Some(true)) => Ok(Some((vec![], true))),
        (None, Some(false)) => Err(combination(
            "AuthenticationMode password needs one or two Passwords.",
        )),
        (Some(l), _) => {
            if l.is_empty() || l.len() > 2 {
                return Err(invalid(format!(
                    "A user has one or two passwords; {} were given.",
                    l.len()
                )));
            }
            for p in l {
                check_password(&p.0)?;
            }
            Ok(Some((
                l.iter().map(|p| engine::secret::sha256_hex(&p.0)).collect(),
                false,
            )))
        }
    }
}

/// The engine of a user or user group: `redis` or `valkey` (lower-cased). Both speak the same ACL, so a user of
/// either engine may be in a group of either and serve groups of either engine; Cacheplane records the engine
/// given and does not refuse mixes (the safer choice where AWS's rule is not written down).
fn check_engine(engine: &str) -> Result<String> {
    let e = engine.to_ascii_lowercase();
    if e == "redis" || e == "valkey" {
        Ok(e)
    } else {
        Err(invalid(format!(
            "Engine '{}' is not available for users: use redis or valkey.",
            rules::shown(engine)
        )))
    }
}

impl State {
    /// A user by id, the built-in `default` included.
    pub(crate) fn user(&self, id: &str) -> Option<User> {
        self.users
            .get(id)
            .cloned()
            .or_else(|| (id == DEFAULT_USER_ID).then(builtin_default))
    }

    /// The user groups that hold user `id`.
    fn groups_of_user(&self, id: &str) -> Vec<String> {
        self.user_groups
            .values()
            .filter(|g| g.user_ids.iter().any(|u| u == id))
            .map(|g| g.id.clone())
            .collect()
    }

    /// The replication groups a user group is attached to.
    fn replication_groups_of(&self, ug: &str) -> Vec<String> {
        self.groups
            .values()
            .filter(|g| g.user_group_ids.iter().any(|u| u == ug))
            .map(|g| g.id.clone())
            .collect()
    }

    /// The ACL the nodes of a group with `user_group_ids` hold: `None` for none.
    pub(crate) fn acl_of(&self, user_group_ids: &[String]) -> Option<Acl> {
        if user_group_ids.is_empty() {
            return None;
        }
        let users: Vec<User> = user_group_ids
            .iter()
            .filter_map(|g| self.user_groups.get(g))
            .flat_map(|g| g.user_ids.iter())
            .filter_map(|u| self.user(u))
            .collect();
        Some(acl_for(&users.iter().collect::<Vec<_>>()))
    }

    /// The replication groups that hold any of `user_groups`, with their ACL resolved again (status
    /// `modifying` for an available one).
    fn reach(&self, user_groups: &[String]) -> Vec<ReplicationGroup> {
        self.groups
            .values()
            .filter(|g| g.user_group_ids.iter().any(|u| user_groups.contains(u)))
            .map(|g| {
                let mut g = g.clone();
                g.acl = self.acl_of(&g.user_group_ids);
                if g.status == GroupStatus::Available {
                    g.status = GroupStatus::Modifying;
                }
                g
            })
            .filter(|g| self.groups.get(&g.id) != Some(g))
            .collect()
    }

    /// Checks that users `ids` exist, that one is named `default`, and that no two share a name.
    fn check_members(&self, ids: &[String]) -> Result<()> {
        let mut names = BTreeSet::new();
        for id in ids {
            let u = self.user(id).ok_or_else(|| {
                ControlError::UserNotFound(format!("User {} not found.", rules::shown(id)))
            })?;
            if u.status == "deleting" {
                return Err(ControlError::InvalidUserState(format!(
                    "User {id} is being deleted; it cannot join a user group."
                )));
            }
            if reserved_name(&u.name) {
                return Err(invalid(format!(
                    "User {id} is named {}, a name reserved for the control plane's own user on the nodes (kept \
                     from an older version of Cacheplane): it cannot be in a user group; create a user with \
                     another name instead.",
                    rules::shown(&u.name)
                )));
            }
            if !names.insert(u.name.clone()) {
                return Err(ControlError::DuplicateUserName(format!(
                    "Two users of this user group are named {}; user names must be unique within a user group.",
                    u.name
                )));
            }
        }
        if !names.contains(DEFAULT_USER_NAME) {
            return Err(ControlError::DefaultUserRequired(
                "A user group must hold a user named default (the built-in user default, or one of your own).".into(),
            ));
        }
        Ok(())
    }
}

impl Control {
    /// Checks that every `+command` / `-command` rule names a command (or subcommand) every registered engine
    /// build knows: a node would refuse any other, and could not start with it in its config.
    fn check_commands(&self, access: &str) -> Result<()> {
        let v = &self.inner.settings.acl_vocabulary;
        for r in access.split_whitespace() {
            let Some(name) = r.strip_prefix('+').or_else(|| r.strip_prefix('-')) else {
                continue;
            };
            if name.starts_with('@') || v.knows(name) {
                continue;
            }
            return Err(invalid(format!(
                "Invalid AccessString: '{}' names no command this deployment's engines know.",
                rules::shown(r)
            )));
        }
        Ok(())
    }

    fn view_user(&self, st: &State, u: &User) -> output::User {
        output::User {
            user_id: u.id.clone(),
            user_name: u.name.clone(),
            status: u.status.clone(),
            engine: u.engine.clone(),
            minimum_engine_version: MINIMUM_ENGINE_VERSION.into(),
            access_string: u.access_string.clone(),
            user_group_ids: st.groups_of_user(&u.id),
            authentication_type: if u.no_password {
                "no-password".into()
            } else {
                "password".into()
            },
            password_count: (!u.no_password).then_some(u.password_hashes.len() as i64),
            arn: self.inner.settings.arn("user", &u.id),
        }
    }

    fn view_user_group(&self, st: &State, g: &UserGroup) -> output::UserGroup {
        output::UserGroup {
            user_group_id: g.id.clone(),
            status: g.status.clone(),
            engine: g.engine.clone(),
            user_ids: g.user_ids.clone(),
            minimum_engine_version: MINIMUM_ENGINE_VERSION.into(),
            pending_add: vec![],
            pending_remove: vec![],
            replication_groups: st.replication_groups_of(&g.id),
            arn: self.inner.settings.arn("usergroup", &g.id),
        }
    }

    /// `CreateUser`.
    pub fn create_user(&self, input: CreateUser) -> Result<output::User> {
        // Authentication first, as AWS checks it; then the id, engine, name and access string; then `iam`.
        let (kind, passwords) = authentication_of(
            input.authentication_mode.as_ref(),
            input.passwords.as_ref(),
            input.no_password_required,
        )?;
        check_id("UserId", &input.user_id)?;
        let engine = check_engine(&input.engine)?;
        if input.user_name.trim().is_empty()
            || input.user_name.len() > 120
            || !input.user_name.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(invalid(format!(
                "Invalid UserName '{}': 1 to 120 printable characters without spaces.",
                rules::shown(&input.user_name)
            )));
        }
        if reserved_name(&input.user_name) {
            return Err(invalid(format!(
                "Invalid UserName '{}': names starting with {RESERVED_NAME_PREFIX} (in any case) are reserved for \
                 the control plane's own user on the nodes; choose another name.",
                rules::shown(&input.user_name)
            )));
        }
        check_access_string(&input.access_string)?;
        self.check_commands(&input.access_string)?;
        if kind == "iam" {
            return Err(invalid(
                "AuthenticationMode iam is not available: Cacheplane has no IAM; use password or no-password-required.",
            ));
        }
        if passwords.len() > 2 {
            return Err(invalid(format!(
                "A user has one or two passwords; {} were given.",
                passwords.len()
            )));
        }
        for p in &passwords {
            check_password(&p.0)?;
        }
        let no_password = kind == "no-password-required";
        let hashes: Vec<String> = passwords
            .iter()
            .map(|p| engine::secret::sha256_hex(&p.0))
            .collect();
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let u = User {
            id: input.user_id.clone(),
            name: input.user_name.clone(),
            engine,
            access_string: input.access_string.clone(),
            password_hashes: hashes,
            no_password,
            status: "active".into(),
            leaving: vec![],
            deleting_since: None,
        };
        self.commit(|st| {
            if st.user(&u.id).is_some() {
                return Err(ControlError::UserAlreadyExists(format!(
                    "User {} already exists.",
                    u.id
                )));
            }
            if st.users.len() >= MAX_USERS {
                return Err(ControlError::UserQuotaExceeded(format!(
                    "This deployment has {MAX_USERS} users, the most it holds."
                )));
            }
            let t = now();
            st.store.put_access(
                &AccessChange {
                    users: vec![&u],
                    ..Default::default()
                },
                t,
                &[NewEvent {
                    source_type: "user",
                    source_id: u.id.clone(),
                    message: format!("User {} created", u.id),
                }],
            )?;
            let arn = self.inner.settings.arn("user", &u.id);
            if !tags.is_empty() {
                st.store.put_tags(&arn, &tags)?;
            }
            st.users.insert(u.id.clone(), u.clone());
            Ok(self.view_user(st, &u))
        })
    }

    /// `ModifyUser`: the change reaches every replication group whose user groups hold the user.
    pub fn modify_user(&self, input: ModifyUser) -> Result<output::User> {
        let engine = input.engine.as_deref().map(check_engine).transpose()?;
        if input.access_string.is_some() && input.append_access_string.is_some() {
            return Err(combination(
                "Give AccessString or AppendAccessString, not both.",
            ));
        }
        for a in [&input.access_string, &input.append_access_string]
            .into_iter()
            .flatten()
        {
            check_access_string(a)?;
            self.check_commands(a)?;
        }
        let passwords = passwords_of(
            input.authentication_mode.as_ref(),
            input.passwords.as_ref(),
            input.no_password_required,
        )?;
        self.commit(|st| {
            if input.user_id == DEFAULT_USER_ID && !st.users.contains_key(DEFAULT_USER_ID) {
                return Err(ControlError::InvalidParameterValue(
                    "The built-in user default cannot be modified; create a user of your own named default and put it in your user groups instead.".into(),
                ));
            }
            let Some(mut u) = st.users.get(&input.user_id).cloned() else {
                return Err(ControlError::UserNotFound(format!(
                    "User {} not found.",
                    rules::shown(&input.user_id)
                )));
            };
            if u.status != "active" {
                return Err(ControlError::InvalidUserState(format!(
                    "User {} is {}; it can be modified when it is active.",
                    u.id, u.status
                )));
            }
            let before = u.clone();
            if let Some(a) = input.access_string {
                u.access_string = a;
            }
            if let Some(e) = engine {
                u.engine = e;
            }
            if let Some(a) = input.append_access_string {
                u.access_string = format!("{} {a}", u.access_string);
            }
            if let Some((hashes, none)) = passwords {
                u.password_hashes = hashes;
                u.no_password = none;
            }
            if u == before {
                return Ok(self.view_user(st, &u));
            }
            let groups = st.groups_of_user(&u.id);
            let reached = {
                // Resolve with the new user in place.
                let old = st.users.insert(u.id.clone(), u.clone());
                let r = st.reach(&groups);
                match old {
                    Some(o) => st.users.insert(o.id.clone(), o),
                    None => st.users.remove(&u.id),
                };
                r
            };
            if !reached.is_empty() {
                u.status = "modifying".into();
            }
            let t = now();
            let events = vec![NewEvent {
                source_type: "user",
                source_id: u.id.clone(),
                message: format!("User {} modified", u.id),
            }];
            st.store.put_access(
                &AccessChange {
                    users: vec![&u],
                    replication_groups: reached.iter().collect(),
                    ..Default::default()
                },
                t,
                &events,
            )?;
            st.users.insert(u.id.clone(), u.clone());
            let ids: Vec<String> = reached.iter().map(|g| g.id.clone()).collect();
            for g in reached {
                st.groups.insert(g.id.clone(), g);
            }
            let view = self.view_user(st, &u);
            for id in ids {
                st.refresh(&id);
            }
            Ok(view)
        })
    }

    /// `DeleteUser`: only a user that no user group holds (so no replication group loses a user unseen).
    pub fn delete_user(&self, id: &str) -> Result<output::User> {
        self.commit(|st| {
            if id == DEFAULT_USER_ID && !st.users.contains_key(DEFAULT_USER_ID) {
                return Err(ControlError::DefaultUserAssociatedToUserGroup(
                    "The built-in user default cannot be deleted.".into(),
                ));
            }
            let Some(mut u) = st.users.get(id).cloned() else {
                return Err(ControlError::UserNotFound(format!(
                    "User {} not found.",
                    rules::shown(id)
                )));
            };
            if u.status == "deleting" {
                return Err(ControlError::InvalidUserState(format!(
                    "User {id} is already being deleted."
                )));
            }
            let groups = st.groups_of_user(id);
            // A user group must keep a user named default: that one cannot leave its groups this way.
            if !groups.is_empty() && u.name == DEFAULT_USER_NAME {
                return Err(ControlError::DefaultUserAssociatedToUserGroup(format!(
                    "User {id} is the user named default of user group(s) {}: a user group needs one; put another user named default in them first.",
                    groups.join(", ")
                )));
            }
            // AWS: the user is removed from all its user groups, and so from every replication group they are attached
            // to; it is listed as `deleting` until its ACL user is gone from every node (the reconciler's
            // `settle_access` then forgets it).
            let changed: Vec<UserGroup> = groups
                .iter()
                .filter_map(|g| st.user_groups.get(g))
                .map(|g| {
                    let mut g = g.clone();
                    g.user_ids.retain(|x| x != id);
                    g
                })
                .collect();
            u.status = "deleting".into();
            u.leaving = groups.clone();
            u.deleting_since = Some(now());
            let reached = {
                let old_user = st.users.insert(u.id.clone(), u.clone());
                let mut old_groups = Vec::new();
                for g in &changed {
                    old_groups.extend(st.user_groups.insert(g.id.clone(), g.clone()));
                }
                // The deleting user is in no user group any more: resolving the ACL leaves it out.
                let r = st.reach(&groups);
                for o in old_groups {
                    st.user_groups.insert(o.id.clone(), o);
                }
                if let Some(o) = old_user {
                    st.users.insert(o.id.clone(), o);
                }
                r
            };
            let changed: Vec<UserGroup> = changed
                .into_iter()
                .map(|mut g| {
                    if st
                        .replication_groups_of(&g.id)
                        .iter()
                        .any(|r| reached.iter().any(|x| x.id == *r))
                    {
                        g.status = "modifying".into();
                    }
                    g
                })
                .collect();
            st.store.put_access(
                &AccessChange {
                    users: vec![&u],
                    user_groups: changed.iter().collect(),
                    replication_groups: reached.iter().collect(),
                    ..Default::default()
                },
                now(),
                &[],
            )?;
            st.users.insert(u.id.clone(), u.clone());
            for g in changed {
                st.user_groups.insert(g.id.clone(), g);
            }
            let ids: Vec<String> = reached.iter().map(|g| g.id.clone()).collect();
            for g in reached {
                st.groups.insert(g.id.clone(), g);
            }
            let view = self.view_user(st, &u);
            for id in ids {
                st.poke(&id);
            }
            st.wake();
            Ok(view)
        })
    }

    /// `DescribeUsers`.
    pub fn describe_users(
        &self,
        input: DescribeUsers,
    ) -> Result<(Vec<output::User>, Option<String>)> {
        if let Some(e) = &input.engine {
            check_engine(e)?;
        }
        let limit = rules::max_records(input.max_records)?;
        let st = self.state();
        let mut all: Vec<User> = st.users.values().cloned().collect();
        if !st.users.contains_key(DEFAULT_USER_ID) {
            all.insert(0, builtin_default());
        }
        if let Some(id) = &input.user_id {
            all.retain(|u| u.id == *id);
            if all.is_empty() {
                return Err(ControlError::UserNotFound(format!(
                    "User {} not found.",
                    rules::shown(id)
                )));
            }
        }
        for f in input.filters.iter().flatten() {
            match f.name.as_str() {
                "user-id" => all.retain(|u| f.values.contains(&u.id)),
                "user-name" => all.retain(|u| f.values.contains(&u.name)),
                "engine" => {
                    all.retain(|u| f.values.iter().any(|v| v.eq_ignore_ascii_case(&u.engine)))
                }
                "user-group-id" => {
                    let ids: BTreeSet<String> = f
                        .values
                        .iter()
                        .filter_map(|g| st.user_groups.get(g))
                        .flat_map(|g| g.user_ids.iter().cloned())
                        .collect();
                    all.retain(|u| ids.contains(&u.id));
                }
                other => {
                    return Err(invalid(format!(
                    "Invalid filter name '{}': use user-id, user-name, engine or user-group-id.",
                    rules::shown(other)
                )))
                }
            }
        }
        let start = page_start(input.marker.as_deref())?;
        let page = all
            .iter()
            .skip(start)
            .take(limit)
            .map(|u| self.view_user(&st, u))
            .collect();
        Ok((
            page,
            (start + limit < all.len()).then(|| (start + limit).to_string()),
        ))
    }

    /// `CreateUserGroup`.
    pub fn create_user_group(&self, input: CreateUserGroup) -> Result<output::UserGroup> {
        check_id("UserGroupId", &input.user_group_id)?;
        let engine = check_engine(&input.engine)?;
        let user_ids = input.user_ids.clone().unwrap_or_default();
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        self.commit(|st| {
            if st.user_groups.contains_key(&input.user_group_id) {
                return Err(ControlError::UserGroupAlreadyExists(format!(
                    "User group {} already exists.",
                    input.user_group_id
                )));
            }
            if st.user_groups.len() >= MAX_USER_GROUPS {
                return Err(ControlError::UserGroupQuotaExceeded(format!(
                    "This deployment has {MAX_USER_GROUPS} user groups, the most it holds."
                )));
            }
            st.check_members(&user_ids)?;
            let g = UserGroup {
                id: input.user_group_id.clone(),
                engine,
                user_ids,
                status: "creating".into(),
            };
            st.store.put_access(
                &AccessChange {
                    user_groups: vec![&g],
                    ..Default::default()
                },
                now(),
                &[NewEvent {
                    source_type: "user-group",
                    source_id: g.id.clone(),
                    message: format!("User group {} created", g.id),
                }],
            )?;
            let arn = self.inner.settings.arn("usergroup", &g.id);
            if !tags.is_empty() {
                st.store.put_tags(&arn, &tags)?;
            }
            st.user_groups.insert(g.id.clone(), g.clone());
            let view = self.view_user_group(st, &g);
            st.wake();
            Ok(view)
        })
    }

    /// `ModifyUserGroup`: the nodes of every replication group it is attached to get exactly its users.
    pub fn modify_user_group(&self, input: ModifyUserGroup) -> Result<output::UserGroup> {
        let engine = input.engine.as_deref().map(check_engine).transpose()?;
        let add = input.user_ids_to_add.clone().unwrap_or_default();
        let remove = input.user_ids_to_remove.clone().unwrap_or_default();
        if add.is_empty() && remove.is_empty() && engine.is_none() {
            return Err(combination(
                "ModifyUserGroup needs UserIdsToAdd, UserIdsToRemove or Engine.",
            ));
        }
        if let Some(both) = add.iter().find(|a| remove.contains(a)) {
            return Err(combination(format!(
                "User {} is both to add and to remove.",
                rules::shown(both)
            )));
        }
        self.commit(|st| {
            let Some(mut g) = st.user_groups.get(&input.user_group_id).cloned() else {
                return Err(ControlError::UserGroupNotFound(format!(
                    "User group {} not found.",
                    rules::shown(&input.user_group_id)
                )));
            };
            if g.status != "active" {
                return Err(ControlError::InvalidUserGroupState(format!(
                    "User group {} is {}; it can be modified when it is active.",
                    g.id, g.status
                )));
            }
            for id in &remove {
                if !g.user_ids.contains(id) {
                    return Err(ControlError::UserNotFound(format!(
                        "User {} is not in user group {}.",
                        rules::shown(id),
                        g.id
                    )));
                }
            }
            if let Some(e) = engine {
                g.engine = e;
            }
            g.user_ids.retain(|u| !remove.contains(u));
            for id in add {
                if !g.user_ids.contains(&id) {
                    g.user_ids.push(id);
                }
            }
            st.check_members(&g.user_ids)?;
            let reached = {
                let old = st.user_groups.insert(g.id.clone(), g.clone());
                let r = st.reach(std::slice::from_ref(&g.id));
                if let Some(o) = old {
                    st.user_groups.insert(o.id.clone(), o);
                }
                r
            };
            g.status = if reached.is_empty() {
                "active".into()
            } else {
                "modifying".into()
            };
            st.store.put_access(
                &AccessChange {
                    user_groups: vec![&g],
                    replication_groups: reached.iter().collect(),
                    ..Default::default()
                },
                now(),
                &[NewEvent {
                    source_type: "user-group",
                    source_id: g.id.clone(),
                    message: format!("User group {} modified", g.id),
                }],
            )?;
            st.user_groups.insert(g.id.clone(), g.clone());
            let ids: Vec<String> = reached.iter().map(|r| r.id.clone()).collect();
            for r in reached {
                st.groups.insert(r.id.clone(), r);
            }
            let view = self.view_user_group(st, &g);
            for id in ids {
                st.refresh(&id);
            }
            Ok(view)
        })
    }

    /// `DeleteUserGroup`: refused while a replication group uses it.
    pub fn delete_user_group(&self, id: &str) -> Result<output::UserGroup> {
        self.commit(|st| {
            let Some(mut g) = st.user_groups.get(id).cloned() else {
                return Err(ControlError::UserGroupNotFound(format!(
                    "User group {} not found.",
                    rules::shown(id)
                )));
            };
            let used = st.replication_groups_of(id);
            if !used.is_empty() {
                return Err(ControlError::InvalidUserGroupState(format!(
                "User group {id} is in use by replication group(s) {}: remove it from them first.",
                used.join(", ")
            )));
            }
            st.store.put_access(
                &AccessChange {
                    deleted_user_groups: vec![id],
                    ..Default::default()
                },
                now(),
                &[NewEvent {
                    source_type: "user-group",
                    source_id: id.to_string(),
                    message: format!("User group {id} deleted"),
                }],
            )?;
            st.store
                .remove_tags_of(&[self.inner.settings.arn("usergroup", id)])?;
            st.user_groups.remove(id);
            g.status = "deleting".into();
            Ok(self.view_user_group(st, &g))
        })
    }

    /// `DescribeUserGroups`.
    pub fn describe_user_groups(
        &self,
        input: DescribeUserGroups,
    ) -> Result<(Vec<output::UserGroup>, Option<String>)> {
        let limit = rules::max_records(input.max_records)?;
        let st = self.state();
        let mut all: Vec<&UserGroup> = st.user_groups.values().collect();
        if let Some(id) = &input.user_group_id {
            all.retain(|g| g.id == *id);
            if all.is_empty() {
                return Err(ControlError::UserGroupNotFound(format!(
                    "User group {} not found.",
                    rules::shown(id)
                )));
            }
        }
        let start = page_start(input.marker.as_deref())?;
        let page = all
            .iter()
            .skip(start)
            .take(limit)
            .map(|g| self.view_user_group(&st, g))
            .collect();
        Ok((
            page,
            (start + limit < all.len()).then(|| (start + limit).to_string()),
        ))
    }

    /// Moves user groups and users whose change has reached every replication group to `active` (a new user
    /// group at once: it reaches no node until it is attached). Run by the reconciler every tick.
    pub(crate) fn settle_access(&self) -> Result<()> {
        self.commit(|st| {
            let busy = |st: &State, ug: &str| {
                st.groups.values().any(|g| {
                    g.status == GroupStatus::Modifying && g.user_group_ids.iter().any(|u| u == ug)
                })
            };
            let groups: Vec<UserGroup> = st
                .user_groups
                .values()
                .filter(|g| g.status == "creating" || (g.status == "modifying" && !busy(st, &g.id)))
                .map(|g| UserGroup {
                    status: "active".into(),
                    ..g.clone()
                })
                .collect();
            let users: Vec<User> = st
                .users
                .values()
                .filter(|u| {
                    u.status == "modifying" && !st.groups_of_user(&u.id).iter().any(|g| busy(st, g))
                })
                .map(|u| User {
                    status: "active".into(),
                    ..u.clone()
                })
                .collect();
            // Deleting users whose user groups' replication groups have all dropped them from their nodes.
            let gone: Vec<String> = st
                .users
                .values()
                .filter(|u| {
                    u.status == "deleting"
                        && !u.leaving.iter().any(|g| busy(st, g))
                        && u.deleting_since.is_none_or(|t| now() - t >= DELETING_SHOWN)
                })
                .map(|u| u.id.clone())
                .collect();
            if groups.is_empty() && users.is_empty() && gone.is_empty() {
                return Ok(());
            }
            let events: Vec<NewEvent> = gone
                .iter()
                .map(|id| NewEvent {
                    source_type: "user",
                    source_id: id.clone(),
                    message: format!("User {id} deleted"),
                })
                .collect();
            st.store.put_access(
                &AccessChange {
                    users: users.iter().collect(),
                    user_groups: groups.iter().collect(),
                    deleted_users: gone.iter().map(String::as_str).collect(),
                    ..Default::default()
                },
                now(),
                &events,
            )?;
            let arns: Vec<String> = gone
                .iter()
                .map(|id| self.inner.settings.arn("user", id))
                .collect();
            st.store.remove_tags_of(&arns)?;
            for id in &gone {
                st.users.remove(id);
            }
            for g in groups {
                st.user_groups.insert(g.id.clone(), g);
            }
            for u in users {
                st.users.insert(u.id.clone(), u);
            }
            Ok(())
        })
    }

    /// Checks user groups to attach to a replication group: they exist and are active, at most one, and the
    /// group takes them (TLS `required`, engine ≥ 6.0).
    pub(crate) fn check_user_groups_for(
        &self,
        st: &State,
        ids: &[String],
        tls: Option<crate::model::TransitMode>,
        engine_version: &str,
    ) -> Result<()> {
        if ids.len() > 1 {
            return Err(combination("A replication group takes one user group."));
        }
        for id in ids {
            let g = st.user_groups.get(id).ok_or_else(|| {
                ControlError::UserGroupNotFound(format!(
                    "User group {} not found.",
                    rules::shown(id)
                ))
            })?;
            if g.status != "active" {
                return Err(ControlError::InvalidUserGroupState(format!(
                    "User group {id} is {}; it can be attached when it is active.",
                    g.status
                )));
            }
        }
        if !ids.is_empty() {
            if tls != Some(crate::model::TransitMode::Required) {
                return Err(combination(
                    "User groups need in-transit encryption in required mode (TransitEncryptionEnabled=true, TransitEncryptionMode=required).",
                ));
            }
            if engine::binary::parse_version(engine_version).is_none_or(|v| v < (6, 0, 0)) {
                return Err(invalid(format!(
                    "User groups need engine version 6.0 or later; this group runs {engine_version}."
                )));
            }
        }
        Ok(())
    }
}

fn page_start(marker: Option<&str>) -> Result<usize> {
    match marker {
        None | Some("") => Ok(0),
        Some(m) => m
            .parse()
            .map_err(|_| invalid(format!("Invalid Marker '{}'.", rules::shown(m)))),
    }
}
