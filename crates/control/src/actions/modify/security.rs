//! `ModifyReplicationGroup`'s security steps: in-transit encryption, user groups, AUTH tokens and VPC security
//! groups.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, invalid, Result};
use crate::rules;
use crate::Control;

/// What the user group step did, as the AUTH token step needs it.
pub(super) struct UserGroupChange {
    /// User groups were attached.
    pub(super) added: bool,
    /// The user groups changed, and none is left.
    pub(super) all_removed: bool,
}

impl Control {
    /// TLS in transit: applied at once, node by node without a restart (`CONFIG SET`), status `modifying`
    /// until every node listens as the mode says.
    pub(super) fn change_transit_encryption(
        &self,
        d: &mut Draft,
        input: &ModifyReplicationGroup,
    ) -> Result<()> {
        let g = &mut d.g;
        if let Some(next) = crate::rules::security::transit_change(
            g.transit_encryption,
            input.transit_encryption_enabled,
            input.transit_encryption_mode.as_deref(),
        )? {
            if !g.hosts().is_empty() {
                // A running node of another machine cannot be given new certificate files yet, and the admin
                // connection to it follows the TLS mode it was started with.
                return Err(combination(format!(
                    "In-transit encryption cannot be changed yet on a group whose nodes run on hosts; {}'s do. \
                     Create a group with the TransitEncryptionEnabled and TransitEncryptionMode you want, \
                     and migrate to it.",
                    g.id
                )));
            }
            if next.is_some() {
                if g.engine_version_triple() < (7, 0, 5) {
                    return Err(invalid(format!(
                        "In-transit encryption can be changed on an existing group from engine version 7.0.5; \
                         {} runs {}. Upgrade the engine first.",
                        g.id, g.engine_version
                    )));
                }
                crate::rules::security::tls_possible(
                    &self.inner.settings.binaries,
                    &g.engine,
                    &g.engine_version,
                    g.port,
                    g.dual_stack.is_some(),
                )?;
            }
            if g.migration.is_some() {
                return Err(combination(
                    "In-transit encryption cannot be changed while the group is a migration target.",
                ));
            }
            if !g.user_group_ids.is_empty() {
                return Err(combination(
                    "Modification of transit encryption is not supported for access control enabled clusters.",
                ));
            }
            if next.is_none() && g.auth.as_ref().is_some_and(|a| !a.hashes.is_empty()) {
                return Err(combination(
                    "In-transit encryption cannot be turned off while the group has an AUTH token: AUTH tokens need TLS.",
                ));
            }
            d.events.push(match next {
                Some(m) => format!("transit encryption mode set to {}", m.as_str()),
                None => "transit encryption disabled".into(),
            });
            g.transit_encryption = next;
            g.pending_transit = Some((next.is_some(), next.map(|m| m.as_str().to_string())));
            d.work = true;
        }
        Ok(())
    }

    /// User groups: the nodes' ACL users become exactly the attached groups' users.
    pub(super) fn change_user_groups(
        &self,
        d: &mut Draft,
        input: &ModifyReplicationGroup,
    ) -> Result<UserGroupChange> {
        let g = &mut d.g;
        let mut user_groups = g.user_group_ids.clone();
        if input.remove_user_groups == Some(true) {
            user_groups.clear();
        }
        for id in input.user_group_ids_to_remove.iter().flatten() {
            if !g.user_group_ids.contains(id) {
                return Err(invalid(format!(
                    "User group {} is not attached to {}.",
                    rules::shown(id),
                    g.id
                )));
            }
            user_groups.retain(|u| u != id);
        }
        let adding: Vec<String> = input
            .user_group_ids_to_add
            .iter()
            .flatten()
            .filter(|id| !user_groups.contains(id))
            .cloned()
            .collect();
        user_groups.extend(adding.iter().cloned());
        let groups_changed = user_groups != g.user_group_ids;
        if groups_changed {
            let st = self.state();
            self.check_user_groups_for(&st, &user_groups, g.transit_encryption, &g.engine_version)?;
            if !adding.is_empty()
                && g.auth.as_ref().is_some_and(|a| !a.hashes.is_empty())
                && input.auth_token_update_strategy.as_deref() != Some("DELETE")
            {
                return Err(combination(
                    "This group uses AUTH tokens: move it to user groups with AuthTokenUpdateStrategy=DELETE together with UserGroupIdsToAdd.",
                ));
            }
            g.acl = st.acl_of(&user_groups);
            drop(st);
            d.events.push(if user_groups.is_empty() {
                "user groups removed".to_string()
            } else {
                format!("user groups set to {}", user_groups.join(", "))
            });
            let removed: Vec<String> = g
                .user_group_ids
                .iter()
                .filter(|u| !user_groups.contains(u))
                .cloned()
                .collect();
            g.pending_user_groups = Some((adding.clone(), removed));
            g.user_group_ids = user_groups.clone();
            d.work = true;
        }
        Ok(UserGroupChange {
            added: !adding.is_empty(),
            all_removed: groups_changed && user_groups.is_empty(),
        })
    }
}

/// AUTH tokens: applied at once to every node's `default` user (`ACL SETUSER`), status `modifying` and
/// `AuthTokenStatus` until done. `users`: what the user group step did.
pub(super) fn change_auth(
    d: &mut Draft,
    input: &ModifyReplicationGroup,
    users: &UserGroupChange,
) -> Result<()> {
    let g = &mut d.g;
    if input.auth_token.is_some() && !g.user_group_ids.is_empty() {
        return Err(combination(
            "AuthToken cannot be set on a group with user groups; to move back to AUTH tokens, give AuthTokenUpdateStrategy=SET with RemoveUserGroups=true.",
        ));
    }
    if let Some(next) = crate::rules::security::auth_change(
        g.auth.as_ref(),
        input.auth_token.as_ref().map(|t| t.0.as_str()),
        input.auth_token_update_strategy.as_deref(),
        g.transit_encryption.is_some(),
        users.added,
        users.all_removed,
    )? {
        d.events
            .push(match next.as_ref().and_then(|a| a.status.as_deref()) {
                Some("SETTING") => "AUTH token set".to_string(),
                Some(_) => "AUTH token rotated".to_string(),
                None => "AUTH tokens removed".to_string(),
            });
        g.auth = next;
        d.work = true;
    }
    Ok(())
}

/// `SecurityGroupIds`: each checked, and the list replaced when it differs.
pub(super) fn change_security_groups(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    if let Some(sgs) = &input.security_group_ids {
        for sg in sgs {
            rules::security_group_id(sg)?;
        }
        if *sgs != d.g.security_group_ids {
            d.g.security_group_ids = sgs.clone();
            d.events
                .push(format!("security groups set to {}", sgs.join(", ")));
        }
    }
    Ok(())
}
