//! Cache subnet groups: `CreateCacheSubnetGroup`, `ModifyCacheSubnetGroup`, `DeleteCacheSubnetGroup`,
//! `DescribeCacheSubnetGroups`, and the zones a subnet group lets a group's nodes be placed in.
//!
//! There is no VPC here. A subnet is known by its id alone, which must have the form AWS gives subnet ids
//! (`subnet-` and 8 to 17 lowercase hex digits); each subnet lies in one of the daemon's availability zones
//! (`--availability-zones`), chosen by the id: the first 8 bytes of its SHA-256, as a number, modulo the number of
//! zones — the same subnet is always in the same zone, and `DescribeCacheSubnetGroups` shows which. The subnet
//! group's effect is AWS's: the nodes of a group created in it are placed only in the zones of its subnets
//! (`PreferredCacheClusterAZs` naming another zone is refused), and a subnet whose zone still holds a node of a
//! group using the subnet group cannot be taken out of it (`SubnetInUse`). The `default` group has one subnet per
//! zone, cannot be changed or deleted, and takes no tags (as on AWS). The one VPC all subnets belong to has an id
//! derived from the account and region.

use wire::input::{CreateCacheSubnetGroup, DescribeCacheSubnetGroups, ModifyCacheSubnetGroup};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::subnet_group::DEFAULT;
use crate::model::SubnetGroup;
use crate::rules::tag_pairs;
use crate::state::State;
use crate::{rules, Control, Settings};

/// Subnet groups a deployment holds at most besides `default` (`CacheSubnetGroupQuotaExceeded`). AWS's default
/// quota per Region (UNCERTAIN in AWS's pages; 150 chosen).
pub const MAX_SUBNET_GROUPS: usize = 150;
/// Subnets one subnet group holds at most (`CacheSubnetQuotaExceededFault`), AWS's quota.
pub const MAX_SUBNETS: usize = 20;

/// Checks a subnet id's form: `subnet-` and 8 to 17 lowercase hex digits (AWS's ids have 8 or 17; users copy ids
/// of other lengths from their own configurations, and nothing here depends on the length).
fn check_subnet_id(id: &str) -> Result<()> {
    let hex = id.strip_prefix("subnet-").unwrap_or("");
    if (8..=17).contains(&hex.len())
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ControlError::InvalidSubnet(format!(
            "The subnet ID {} is not valid: a subnet ID is 'subnet-' followed by 8 to 17 lowercase hexadecimal digits.",
            rules::shown(id)
        )))
    }
}

/// Hex SHA-256 of `s`.
fn sha(s: &str) -> String {
    engine::secret::sha256_hex(s)
}

impl Settings {
    /// The availability zone subnet `id` lies in (see the module's notes).
    pub fn subnet_zone(&self, id: &str) -> String {
        if let Some(z) = self
            .availability_zones
            .iter()
            .find(|z| self.default_subnet(z) == id)
        {
            return z.clone();
        }
        let n = u64::from_str_radix(&sha(id)[..16], 16).unwrap_or(0);
        self.availability_zones[(n % self.availability_zones.len() as u64) as usize].clone()
    }

    /// The `default` group's subnet in zone `zone`.
    fn default_subnet(&self, zone: &str) -> String {
        let h = sha(&format!("{}:{}:{zone}", self.account_id, self.region));
        format!("subnet-{}", &h[..17])
    }

    /// The id of the one VPC.
    pub fn vpc_id(&self) -> String {
        let h = sha(&format!("{}:{}", self.account_id, self.region));
        format!("vpc-{}", &h[..17])
    }
}

impl State {
    /// The subnet ids of subnet group `name` (the default one included); `None` when there is none.
    pub(crate) fn subnets_of(&self, s: &Settings, name: &str) -> Option<Vec<String>> {
        if name == DEFAULT {
            return Some(
                s.availability_zones
                    .iter()
                    .map(|z| s.default_subnet(z))
                    .collect(),
            );
        }
        self.subnet_groups.get(name).map(|g| g.subnets.clone())
    }

    /// The zones nodes of a group in subnet group `name` may be placed in, in the daemon's zone order (of them, those
    /// with a host once hosts have joined);
    /// `CacheSubnetGroupNotFoundFault` when there is no such group.
    pub(crate) fn subnet_group_zones(&self, s: &Settings, name: &str) -> Result<Vec<String>> {
        let subnets = self.subnets_of(s, name).ok_or_else(|| not_found(name))?;
        let zones: Vec<String> = subnets.iter().map(|id| s.subnet_zone(id)).collect();
        // Once hosts have joined, nodes go where a host is.
        let hosted = crate::state::host_zones(self);
        Ok(s.availability_zones
            .iter()
            .filter(|z| zones.contains(z) && (self.hosts.is_empty() || hosted.contains(z)))
            .cloned()
            .collect())
    }

    /// The groups and clusters using subnet group `name`, with the zones their nodes are in.
    fn users_of_subnet_group(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let mut users: Vec<(String, Vec<String>)> = self
            .groups
            .values()
            .filter(|g| g.cache_subnet_group == name)
            .map(|g| {
                (
                    g.id.clone(),
                    g.members().map(|m| m.availability_zone.clone()).collect(),
                )
            })
            .collect();
        users.extend(
            self.standalone
                .values()
                .filter(|c| c.cache_subnet_group == name)
                .map(|c| {
                    (
                        c.member.cluster_id.clone(),
                        vec![c.member.availability_zone.clone()],
                    )
                }),
        );
        users.extend(
            self.memcached
                .values()
                .filter(|c| c.cache_subnet_group == name)
                .map(|c| {
                    (
                        c.id.clone(),
                        c.nodes.iter().map(|n| n.zone.clone()).collect(),
                    )
                }),
        );
        users
    }
}

fn not_found(name: &str) -> ControlError {
    ControlError::CacheSubnetGroupNotFound(format!(
        "CacheSubnetGroup {} not found.",
        rules::shown(name)
    ))
}

/// Checks a list of subnet ids: at least one, at most [`MAX_SUBNETS`], each of the right form; duplicates
/// dropped.
fn check_subnets(ids: &[String]) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Err(invalid("SubnetIds must name at least one subnet."));
    }
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        check_subnet_id(id)?;
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    if out.len() > MAX_SUBNETS {
        return Err(ControlError::CacheSubnetQuotaExceeded(format!(
            "A cache subnet group holds at most {MAX_SUBNETS} subnets; {} were given.",
            out.len()
        )));
    }
    Ok(out)
}

/// Checks a subnet group name (≤ 255 letters, digits or hyphens) and lower-cases it.
fn check_name(name: &str) -> Result<String> {
    if name.is_empty()
        || name.len() > 255
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(format!(
            "Invalid CacheSubnetGroupName '{}': it must contain 1 to 255 letters, digits or hyphens.",
            rules::shown(name)
        )));
    }
    Ok(name.to_ascii_lowercase())
}

impl Control {
    fn view_subnet_group(
        &self,
        name: &str,
        description: &str,
        subnets: &[String],
    ) -> output::CacheSubnetGroup {
        let s = &self.inner.settings;
        output::CacheSubnetGroup {
            name: name.to_string(),
            description: description.to_string(),
            vpc_id: s.vpc_id(),
            subnets: subnets
                .iter()
                .map(|id| (id.clone(), s.subnet_zone(id)))
                .collect(),
            arn: s.arn("subnetgroup", name),
        }
    }

    fn view_default_subnet_group(&self, st: &State) -> output::CacheSubnetGroup {
        let subnets = st
            .subnets_of(&self.inner.settings, DEFAULT)
            .unwrap_or_default();
        self.view_subnet_group(DEFAULT, "Default CacheSubnetGroup", &subnets)
    }

    /// `CreateCacheSubnetGroup`.
    pub fn create_cache_subnet_group(
        &self,
        input: CreateCacheSubnetGroup,
    ) -> Result<output::CacheSubnetGroup> {
        let name = check_name(&input.cache_subnet_group_name)?;
        let subnets = check_subnets(&input.subnet_ids)?;
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        self.commit(|st| {
            if name == DEFAULT || st.subnet_groups.contains_key(&name) {
                return Err(ControlError::CacheSubnetGroupAlreadyExists(name));
            }
            if st.subnet_groups.len() >= MAX_SUBNET_GROUPS {
                return Err(ControlError::CacheSubnetGroupQuotaExceeded(format!(
                "This deployment has {MAX_SUBNET_GROUPS} cache subnet groups, the most it holds."
            )));
            }
            let g = SubnetGroup {
                name: name.clone(),
                description: input.cache_subnet_group_description,
                subnets,
            };
            let arn = self.inner.settings.arn("subnetgroup", &name);
            st.store.put_subnet_group(&g, &arn, &tags)?;
            st.subnet_groups.insert(name.clone(), g.clone());
            Ok(self.view_subnet_group(&g.name, &g.description, &g.subnets))
        })
    }

    /// `ModifyCacheSubnetGroup`: a new description and/or a new list of subnets. A subnet whose zone holds a node
    /// of a group using the subnet group stays (`SubnetInUse`).
    pub fn modify_cache_subnet_group(
        &self,
        input: ModifyCacheSubnetGroup,
    ) -> Result<output::CacheSubnetGroup> {
        let name = input.cache_subnet_group_name.to_ascii_lowercase();
        let subnets = input.subnet_ids.as_deref().map(check_subnets).transpose()?;
        self.commit(|st| {
            if name == DEFAULT {
                return Err(combination(
                    "The default cache subnet group cannot be modified.",
                ));
            }
            let Some(mut g) = st.subnet_groups.get(&name).cloned() else {
                return Err(not_found(&name));
            };
            if let Some(d) = input.cache_subnet_group_description {
                g.description = d;
            }
            if let Some(subnets) = subnets {
                let s = &self.inner.settings;
                let zones: Vec<String> = subnets.iter().map(|id| s.subnet_zone(id)).collect();
                for (user, used) in st.users_of_subnet_group(&name) {
                    if let Some(z) = used.iter().find(|z| !zones.contains(z)) {
                        let taken: Vec<&String> = g
                            .subnets
                            .iter()
                            .filter(|id| s.subnet_zone(id) == *z)
                            .collect();
                        return Err(ControlError::SubnetInUse(format!(
                            "Subnet {} is in use: {user} has a node in its zone {z}, and no other subnet of the new list is in {z}.",
                            taken.first().map_or("?", |t| t.as_str())
                        )));
                    }
                }
                g.subnets = subnets;
            }
            st.store.put_subnet_group(&g, "", &[])?;
            st.subnet_groups.insert(name, g.clone());
            Ok(self.view_subnet_group(&g.name, &g.description, &g.subnets))
        })
    }

    /// `DeleteCacheSubnetGroup`: not `default`, not one a group or cluster uses.
    pub fn delete_cache_subnet_group(&self, name: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        self.commit(|st| {
            if name == DEFAULT {
                return Err(ControlError::CacheSubnetGroupInUse(
                    "The default cache subnet group cannot be deleted.".into(),
                ));
            }
            if !st.subnet_groups.contains_key(&name) {
                return Err(not_found(&name));
            }
            if let Some((user, _)) = st.users_of_subnet_group(&name).first() {
                return Err(ControlError::CacheSubnetGroupInUse(format!(
                    "Cache subnet group {name} is in use by {user}; delete it (or move it to another subnet group) first."
                )));
            }
            let arn = self.inner.settings.arn("subnetgroup", &name);
            st.store.delete_subnet_group(&name, &arn)?;
            st.subnet_groups.remove(&name);
            Ok(())
        })
    }

    /// `DescribeCacheSubnetGroups`: `default` first, then the others by name; pages of `MaxRecords` (20–100).
    pub fn describe_cache_subnet_groups(
        &self,
        input: DescribeCacheSubnetGroups,
    ) -> Result<(Vec<output::CacheSubnetGroup>, Option<String>)> {
        let limit = rules::max_records(input.max_records)?;
        let st = self.state();
        let mut all = vec![self.view_default_subnet_group(&st)];
        all.extend(
            st.subnet_groups
                .values()
                .map(|g| self.view_subnet_group(&g.name, &g.description, &g.subnets)),
        );
        if let Some(n) = input.cache_subnet_group_name.as_deref() {
            let n = n.to_ascii_lowercase();
            all.retain(|g| g.name == n);
            if all.is_empty() {
                return Err(not_found(&n));
            }
        }
        let start = match input.marker.as_deref() {
            None | Some("") => 0,
            Some(m) => all.iter().position(|g| g.name == m).ok_or_else(|| {
                invalid(format!(
                    "Invalid Marker '{}': no page begins there.",
                    rules::shown(m)
                ))
            })?,
        };
        let page: Vec<_> = all.iter().skip(start).take(limit).cloned().collect();
        let marker = all.get(start + limit).map(|g| g.name.clone());
        Ok((page, marker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_ids_have_aws_form() {
        assert!(check_subnet_id("subnet-0123abcd").is_ok());
        assert!(check_subnet_id("subnet-0123456789abcdef0").is_ok());
        assert!(check_subnet_id("subnet-0123456789ab").is_ok());
        for bad in [
            "subnet-123",
            "subnet-0123456789abcdef01",
            "subnet-0123ABCD",
            "sg-0123abcd",
            "subnet-0123abcg",
            "",
        ] {
            assert!(
                matches!(check_subnet_id(bad), Err(ControlError::InvalidSubnet(_))),
                "{bad}"
            );
        }
    }
}
