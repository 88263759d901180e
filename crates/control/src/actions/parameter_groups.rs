//! Cache parameter groups: `CreateCacheParameterGroup`, `ModifyCacheParameterGroup`, `ResetCacheParameterGroup`,
//! `DeleteCacheParameterGroup`, `DescribeCacheParameterGroups`, `DescribeCacheParameters`,
//! `DescribeEngineDefaultParameters`; which group a replication group may use, and what its nodes take from it.
//!
//! A customer's group starts as a copy of its family's defaults and holds only the values set since
//! (`Source: user`, so that Terraform, which reads only the `user` page, sees exactly what it set); every other
//! parameter reports the family's default as `Source: system`. Default groups (`default.<family>` and, for Redis
//! OSS and Valkey, `default.<family>.cluster.on`) exist for every family with an engine here and are read-only.
//! A change reaches the nodes of every group using the parameter group through the reconciler (see
//! [`crate::rules::parameters::node_params`]).

use std::collections::BTreeMap;

use wire::input::{
    CreateCacheParameterGroup, DescribeCacheParameterGroups, DescribeCacheParameters,
    DescribeEngineDefaultParameters, ModifyCacheParameterGroup, ParameterNameValue,
    ResetCacheParameterGroup,
};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{NewEvent, ParameterGroup};
use crate::rules::parameters::{Family, Spec};
use crate::rules::tag_pairs;
use crate::rules::versions::parameter_group_family;
use crate::{now, rules, Control, Settings};

/// Customer parameter groups a deployment holds at most (AWS's default quota per Region).
pub const MAX_PARAMETER_GROUPS: usize = 150;
/// Parameters one `ModifyCacheParameterGroup` changes at most (AWS's rule).
pub const MAX_PARAMETERS_PER_CALL: usize = 20;
/// `CacheParameterGroupFamily` values of AWS's API.
const AWS_FAMILIES: &[&str] = &[
    "memcached1.4",
    "memcached1.5",
    "memcached1.6",
    "redis2.6",
    "redis2.8",
    "redis3.2",
    "redis4.0",
    "redis5.0",
    "redis6.x",
    "redis7",
    "valkey7",
    "valkey8",
];

impl ParameterGroup {
    fn view(&self, s: &Settings) -> output::CacheParameterGroup {
        output::CacheParameterGroup {
            name: self.name.clone(),
            family: self.family.clone(),
            description: self.description.clone(),
            arn: s.arn("parametergroup", &self.name),
        }
    }
}

impl Settings {
    /// The parameter group families of the engines here, newest engines first.
    pub fn parameter_families(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in &self.binaries {
            let f = parameter_group_family(&b.engine, &b.version);
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }
}

fn not_found(name: &str) -> ControlError {
    ControlError::CacheParameterGroupNotFound(rules::shown(name))
}

/// One parameter as `DescribeCacheParameters` and `DescribeEngineDefaultParameters` show it.
fn parameter_view(
    family: &Family,
    s: &Spec,
    value: Option<String>,
    source: &str,
    custom: bool,
) -> output::Parameter {
    output::Parameter {
        name: s.name.to_string(),
        value,
        description: s.description.to_string(),
        source: source.to_string(),
        data_type: s.data_type.to_string(),
        allowed_values: s.allowed_text.map(str::to_string),
        is_modifiable: s.is_modifiable(custom),
        minimum_engine_version: family.min_version(s),
        change_type: s.change.as_str().to_string(),
        node_type_values: vec![],
    }
}

/// The node-type-specific parameters (not modifiable): `maxmemory`, the memory of each node type (see
/// `reserved-memory-percent`); for Memcached `max_cache_memory` and `num_threads`.
fn node_type_specific(family: &Family) -> Vec<output::Parameter> {
    let per_type = |f: fn(&str) -> Option<u64>| -> Vec<(String, String)> {
        crate::rules::node_types::all()
            .filter_map(|t| Some((t.to_string(), f(t)?.to_string())))
            .collect()
    };
    let specific = |name: &str, description: &str, values| output::Parameter {
        name: name.into(),
        value: None,
        description: description.into(),
        source: "system".into(),
        data_type: "integer".into(),
        allowed_values: None,
        is_modifiable: false,
        minimum_engine_version: family.first_version().to_string(),
        change_type: "immediate".into(),
        node_type_values: values,
    };
    if family.is_memcached() {
        return vec![
            specific(
                "max_cache_memory",
                "The most memory, in megabytes, a node has for items (less memcached_connections_overhead).",
                per_type(|t| Some(crate::rules::parameters::max_cache_memory_mib(t))),
            ),
            specific(
                "num_threads",
                "The number of memcached worker threads of a node.",
                per_type(|t| Some(crate::rules::parameters::num_threads(t))),
            ),
        ];
    }
    vec![specific(
        "maxmemory",
        "The maximum configurable amount of memory to use to store items, in bytes.",
        per_type(crate::rules::node_types::maxmemory),
    )]
}

/// A page of `items` after `marker` (an opaque marker naming the last item of the previous page).
fn page<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> &str,
    max_records: Option<i32>,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>)> {
    let limit = rules::max_records(max_records)?;
    let start = match rules::read_page_marker(marker)? {
        None => 0,
        Some(last) => items
            .iter()
            .position(|i| key(i) == last)
            .map(|i| i + 1)
            .ok_or_else(|| invalid("Invalid Marker: the page it continues no longer exists."))?,
    };
    let page: Vec<T> = items.iter().skip(start).take(limit).cloned().collect();
    let more = start + page.len() < items.len();
    let next = more.then(|| rules::page_marker(page.last().map_or("", |i| key(i))));
    Ok((page, next))
}

/// A page of parameters: `DescribeCacheParameters`, or `DescribeEngineDefaultParameters` (with its family).
#[derive(Debug, Clone, Default)]
pub struct ParameterPage {
    pub family: String,
    pub parameters: Vec<output::Parameter>,
    /// With the first page only.
    pub node_type_specific: Vec<output::Parameter>,
    pub marker: Option<String>,
}

/// A page of `all`; the node-type-specific parameters with the first page, when `specific` asks for them.
fn parameter_page(
    family_name: String,
    family: &Family,
    all: &[output::Parameter],
    specific: bool,
    max_records: Option<i32>,
    marker: Option<&str>,
) -> Result<ParameterPage> {
    let first = rules::read_page_marker(marker)?.is_none();
    let (parameters, marker) = page(all, |p| &p.name, max_records, marker)?;
    Ok(ParameterPage {
        family: family_name,
        parameters,
        node_type_specific: if first && specific {
            node_type_specific(family)
        } else {
            vec![]
        },
        marker,
    })
}

/// The names of a `ParameterNameValues` list, each required.
fn names(list: &[ParameterNameValue]) -> Result<Vec<String>> {
    list.iter()
        .map(|p| {
            p.parameter_name
                .clone()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid("Every ParameterNameValue must have a ParameterName."))
        })
        .collect()
}

impl Control {
    /// Checks that a group of `engine` `version` may use parameter group `name` and returns its stored name:
    /// it exists, and it is of the engine version's family. Whether its `cluster-enabled` fits is the caller's.
    pub(crate) fn usable_parameter_group(
        &self,
        name: &str,
        engine: &str,
        version: &str,
    ) -> Result<ParameterGroup> {
        let pg = self.parameter_group(name).ok_or_else(|| not_found(name))?;
        let family = parameter_group_family(engine, version);
        if pg.family != family {
            return Err(combination(format!(
                "Parameter group {} is of family {}, but {engine} {version} needs a parameter group of family {family}.",
                pg.name, pg.family
            )));
        }
        Ok(pg)
    }

    /// `CreateCacheParameterGroup`: a copy of the family's defaults.
    pub fn create_cache_parameter_group(
        &self,
        input: CreateCacheParameterGroup,
    ) -> Result<output::CacheParameterGroup> {
        let name = rules::identifier(
            "CacheParameterGroupName",
            &input.cache_parameter_group_name,
            255,
        )?;
        let family = input.cache_parameter_group_family.to_ascii_lowercase();
        let here = self.inner.settings.parameter_families();
        if !here.contains(&family) {
            return Err(invalid(if AWS_FAMILIES.contains(&family.as_str()) {
                format!(
                    "CacheParameterGroupFamily {family} has no engine in this Cacheplane; the families here are {}.",
                    here.join(", ")
                )
            } else {
                format!(
                    "Invalid CacheParameterGroupFamily '{}'; the families here are {}.",
                    rules::shown(&family),
                    here.join(", ")
                )
            }));
        }
        if input.description.chars().count() > 255 {
            return Err(invalid("Description must be at most 255 characters long."));
        }
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        self.commit(|st| {
            let mut all = self.parameter_groups();
            if all.contains_key(&name) {
                return Err(ControlError::CacheParameterGroupAlreadyExists(name));
            }
            if all.len() >= MAX_PARAMETER_GROUPS {
                return Err(ControlError::CacheParameterGroupQuotaExceeded(format!(
                    "This deployment has {MAX_PARAMETER_GROUPS} cache parameter groups, the most it holds."
                )));
            }
            let pg = ParameterGroup {
                name: name.clone(),
                family,
                description: input.description,
                values: BTreeMap::new(),
            };
            let arn = self.inner.settings.arn("parametergroup", &name);
            st.store
                .put_parameter_group(&pg, &arn, &tags, &[], now(), &[])?;
            all.insert(name, pg.clone());
            Ok(pg.view(&self.inner.settings))
        })
    }

    /// A customer's group by name, for a change: `CacheParameterGroupNotFound`, or `InvalidParameterValue` for a
    /// default group.
    fn changeable(&self, name: &str) -> Result<ParameterGroup> {
        // Current with what other daemons committed.
        drop(self.state());
        let pg = self.parameter_group(name).ok_or_else(|| not_found(name))?;
        if pg.is_default() {
            return Err(invalid(format!(
                "Cannot modify a default parameter group ({}): create a parameter group, change it, and use it instead.",
                pg.name
            )));
        }
        Ok(pg)
    }

    /// The replication groups (and their member clusters) using parameter group `name`.
    fn users_of_parameter_group(&self, st: &crate::state::State, name: &str) -> Vec<String> {
        let mut users: Vec<String> = st
            .groups
            .values()
            .filter(|g| g.cache_parameter_group == name)
            .map(|g| g.id.clone())
            .collect();
        users.extend(
            st.standalone
                .values()
                .filter(|c| c.cache_parameter_group == name)
                .map(|c| c.member.cluster_id.clone()),
        );
        users.extend(
            st.memcached
                .values()
                .filter(|c| c.cache_parameter_group == name)
                .map(|c| c.id.clone()),
        );
        users
    }

    /// Checks that every Memcached cluster using `pg` (at its node type and any pending one) can run with its
    /// values.
    fn check_memcached_users(&self, pg: &ParameterGroup) -> Result<()> {
        let clusters: Vec<(String, Vec<String>)> = self
            .state()
            .memcached
            .values()
            .filter(|c| c.cache_parameter_group == pg.name)
            .map(|c| {
                let mut types = vec![c.cache_node_type.clone()];
                types.extend(c.pending.cache_node_type.clone());
                (c.id.clone(), types)
            })
            .collect();
        for (id, types) in clusters {
            for t in types {
                self.memcached_params_of(pg, &t).map_err(|e| match e {
                    ControlError::InvalidParameterCombination(m) => {
                        combination(format!("{m} (cache cluster {id} uses it)"))
                    }
                    other => other,
                })?;
            }
        }
        Ok(())
    }

    /// Stores a changed parameter group and sends its new values to the nodes of every group using it. `read`: the
    /// group as the change was made from; should another request (of this daemon or another) have changed or
    /// deleted it since, nothing is written and the request is refused, to be sent again.
    fn save_parameter_group(
        &self,
        pg: ParameterGroup,
        read: &ParameterGroup,
        what: &str,
    ) -> Result<()> {
        self.commit(|st| {
            if self.parameter_groups().get(&pg.name) != Some(read) {
                return Err(ControlError::InvalidCacheParameterGroupState(format!(
                    "Cache parameter group {} was changed by another request while this one was checked; send it again.",
                    pg.name
                )));
            }
            let users: Vec<crate::model::ReplicationGroup> = st
                .groups
                .values()
                .filter(|g| g.cache_parameter_group == pg.name)
                .cloned()
                .collect();
            let pg_name = pg.name.as_str();
            let events: Vec<NewEvent> = users
                .iter()
                .flat_map(|g| {
                    g.members().map(move |m| {
                        NewEvent::cluster(
                            &m.cluster_id,
                            format!(
                                "Cache parameter group {} {what}: one or more parameters of cache cluster {} have been changed",
                                pg_name, m.cluster_id
                            ),
                        )
                    })
                })
                .chain(
                    st.memcached
                        .values()
                        .filter(|c| c.cache_parameter_group == pg_name)
                        .map(|c| {
                            NewEvent::cluster(
                                &c.id,
                                format!(
                                    "Cache parameter group {pg_name} {what}: one or more parameters of cache cluster {} have been changed",
                                    c.id
                                ),
                            )
                        }),
                )
                .collect();
            st.store
                .put_parameter_group(&pg, "", &[], &[], now(), &events)?;
            self.parameter_groups().insert(pg.name.clone(), pg);
            st.wake();
            for g in &users {
                st.refresh(&g.id);
            }
            Ok(())
        })
    }

    /// `ModifyCacheParameterGroup`: up to 20 parameters, each checked against the family's catalogue.
    pub fn modify_cache_parameter_group(&self, input: ModifyCacheParameterGroup) -> Result<String> {
        let read = self.changeable(&input.cache_parameter_group_name)?;
        let mut pg = read.clone();
        let list = &input.parameter_name_values;
        if list.is_empty() {
            return Err(invalid(
                "ParameterNameValues must name at least one parameter and its value.",
            ));
        }
        if list.len() > MAX_PARAMETERS_PER_CALL {
            return Err(invalid(format!(
                "At most {MAX_PARAMETERS_PER_CALL} parameters can be modified in one request; {} were given.",
                list.len()
            )));
        }
        let family = Family::of(&pg.family).ok_or_else(|| not_found(&pg.name))?;
        let in_use = !self
            .users_of_parameter_group(&self.state(), &pg.name)
            .is_empty();
        let mut seen = Vec::new();
        for (name, p) in names(list)?.into_iter().zip(list) {
            let spec = family.spec(&name).ok_or_else(|| {
                invalid(format!("Parameter {} doesn't exist.", rules::shown(&name)))
            })?;
            spec.check_modifiable().map_err(invalid)?;
            if name == "cluster-enabled" && in_use {
                return Err(invalid(
                    "The parameter cluster-enabled cannot be modified: the parameter group is in use by a cluster.",
                ));
            }
            let value = p.parameter_value.clone().unwrap_or_default();
            spec.allowed
                .check(spec.name, spec.data_type, &value)
                .map_err(invalid)?;
            // Its one free-form value: checked against what the engine builds here accept, as they would refuse
            // it on the nodes.
            if name == "notify-keyspace-events" {
                self.inner
                    .settings
                    .acl_vocabulary
                    .check_keyspace_events(&value)
                    .map_err(|why| {
                        invalid(format!(
                            "Invalid value {} for parameter notify-keyspace-events: {why}.",
                            rules::shown(&value)
                        ))
                    })?;
            }
            if seen.contains(&name) {
                return Err(combination(format!(
                    "Parameter {name} is given more than once."
                )));
            }
            seen.push(name.clone());
            pg.values.insert(name, value);
        }
        let name = pg.name.clone();
        self.check_memcached_users(&pg)?;
        self.save_parameter_group(pg, &read, "modified")?;
        Ok(name)
    }

    /// `ResetCacheParameterGroup`: every parameter (`ResetAllParameters`) or the ones named, back to the family's
    /// defaults.
    pub fn reset_cache_parameter_group(&self, input: ResetCacheParameterGroup) -> Result<String> {
        let read = self.changeable(&input.cache_parameter_group_name)?;
        let mut pg = read.clone();
        let listed = input.parameter_name_values.as_deref().unwrap_or_default();
        let all = input.reset_all_parameters.unwrap_or(false);
        if all && !listed.is_empty() {
            return Err(combination(
                "ResetAllParameters and ParameterNameValues cannot be used together: reset all parameters, or name them.",
            ));
        }
        if !all && listed.is_empty() {
            return Err(invalid(
                "Name at least one parameter in ParameterNameValues, or set ResetAllParameters to true.",
            ));
        }
        let family = Family::of(&pg.family).ok_or_else(|| not_found(&pg.name))?;
        let in_use = !self
            .users_of_parameter_group(&self.state(), &pg.name)
            .is_empty();
        let reset: Vec<String> = if all {
            pg.values.keys().cloned().collect()
        } else {
            names(listed)?
        };
        for name in &reset {
            if family.spec(name).is_none() {
                return Err(invalid(format!(
                    "Parameter {} doesn't exist.",
                    rules::shown(name)
                )));
            }
            if name == "cluster-enabled" && in_use && pg.values.contains_key(name) {
                return Err(invalid(
                    "The parameter cluster-enabled cannot be modified: the parameter group is in use by a cluster.",
                ));
            }
        }
        for name in &reset {
            pg.values.remove(name);
        }
        let name = pg.name.clone();
        self.check_memcached_users(&pg)?;
        self.save_parameter_group(pg, &read, "reset")?;
        Ok(name)
    }

    /// `DeleteCacheParameterGroup`: not a default group, not one in use.
    pub fn delete_cache_parameter_group(&self, name: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        self.commit(|st| {
            let pg = self
                .parameter_group(&name)
                .ok_or_else(|| not_found(&name))?;
            if pg.is_default() {
                return Err(ControlError::InvalidCacheParameterGroupState(format!(
                    "Default CacheParameterGroup cannot be deleted: {name}."
                )));
            }
            if let Some(user) = self.users_of_parameter_group(st, &name).first() {
                return Err(ControlError::InvalidCacheParameterGroupState(format!(
                    "Cache parameter group {name} is in use by {user}; move it to another parameter group (or delete it) first."
                )));
            }
            let arn = self.inner.settings.arn("parametergroup", &name);
            st.store.delete_parameter_group(&name, &arn)?;
            self.parameter_groups().remove(&name);
            Ok(())
        })
    }

    /// `DescribeCacheParameterGroups`: the default groups and the customer's, by name, in pages.
    pub fn describe_cache_parameter_groups(
        &self,
        input: DescribeCacheParameterGroups,
    ) -> Result<(Vec<output::CacheParameterGroup>, Option<String>)> {
        let s = &self.inner.settings;
        // Current with what other daemons committed (the customers' groups are caught up with the state).
        drop(self.state());
        let mut all: Vec<ParameterGroup> = Vec::new();
        for f in s.parameter_families() {
            all.extend(ParameterGroup::default_named(
                &format!("default.{f}"),
                std::slice::from_ref(&f),
            ));
            all.extend(ParameterGroup::default_named(
                &format!("default.{f}.cluster.on"),
                std::slice::from_ref(&f),
            ));
        }
        all.extend(self.parameter_groups().values().cloned());
        all.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(n) = input.cache_parameter_group_name.as_deref() {
            let n = n.to_ascii_lowercase();
            all.retain(|g| g.name == n);
            if all.is_empty() {
                return Err(not_found(&n));
            }
        }
        let views: Vec<output::CacheParameterGroup> = all.iter().map(|g| g.view(s)).collect();
        page(
            &views,
            |g| &g.name,
            input.max_records,
            input.marker.as_deref(),
        )
    }

    /// `DescribeCacheParameters`: a group's parameters, `Source` filtered, in pages; the node-type-specific ones
    /// with the first page.
    pub fn describe_cache_parameters(
        &self,
        input: DescribeCacheParameters,
    ) -> Result<ParameterPage> {
        let pg = self
            .parameter_group(&input.cache_parameter_group_name)
            .ok_or_else(|| not_found(&input.cache_parameter_group_name))?;
        let Some(family) = Family::of(&pg.family) else {
            // A family without a catalogue here: no engine of it, so no group of it either.
            return Err(not_found(&pg.name));
        };
        let custom = !pg.is_default();
        let source = input.source.as_deref();
        let all: Vec<output::Parameter> = family
            .specs()
            .filter_map(|s| {
                let (value, from) = pg.value(s);
                source
                    .is_none_or(|want| want == from)
                    .then(|| parameter_view(&family, s, value, from, custom))
            })
            .collect();
        parameter_page(
            pg.family.clone(),
            &family,
            &all,
            source.is_none_or(|s| s == "system"),
            input.max_records,
            input.marker.as_deref(),
        )
    }

    /// `DescribeEngineDefaultParameters`: a family's catalogue with its defaults, in pages.
    pub fn describe_engine_default_parameters(
        &self,
        input: DescribeEngineDefaultParameters,
    ) -> Result<ParameterPage> {
        let name = input.cache_parameter_group_family.to_ascii_lowercase();
        let Some(family) = Family::of(&name) else {
            let here = self.inner.settings.parameter_families();
            if here.contains(&name) {
                return Ok(ParameterPage {
                    family: name,
                    ..Default::default()
                });
            }
            return Err(invalid(format!(
                "Invalid CacheParameterGroupFamily '{}'; the families whose defaults Cacheplane knows are {}.",
                rules::shown(&name),
                here.join(", ")
            )));
        };
        let all: Vec<output::Parameter> = family
            .specs()
            .map(|s| parameter_view(&family, s, s.default.map(str::to_string), "system", false))
            .collect();
        parameter_page(
            name,
            &family,
            &all,
            true,
            input.max_records,
            input.marker.as_deref(),
        )
    }
}
