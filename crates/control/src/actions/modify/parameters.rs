//! `ModifyReplicationGroup`'s `CacheParameterGroupName`, and what an engine upgrade to another family means for the
//! group's parameter group.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, Result};
use crate::rules::versions::parameter_group_family;
use crate::Control;

impl Control {
    /// The parameter group: a named one must be usable by the engine and version the group runs after this
    /// request, with the same `cluster-enabled`; without one, an upgrade to another family must not drop the
    /// customer's own group.
    pub(super) fn change_parameter_group(
        &self,
        d: &mut Draft,
        input: &ModifyReplicationGroup,
    ) -> Result<()> {
        if let Some(p) = &input.cache_parameter_group_name {
            self.change_to_named_parameter_group(d, input, p)
        } else if let Some(v) = &input.engine_version {
            self.check_own_parameter_group_kept(d, input, v)
        } else {
            Ok(())
        }
    }

    /// `CacheParameterGroupName` given (`p`): taken now, or when an upgrade to its family ends.
    fn change_to_named_parameter_group(
        &self,
        d: &mut Draft,
        input: &ModifyReplicationGroup,
        p: &str,
    ) -> Result<()> {
        let g = &mut d.g;
        // The family the group runs after this request: a new engine version's, when one is asked for.
        let (engine, version) = match &input.engine_version {
            Some(v) => (
                input.engine.clone().unwrap_or_else(|| g.engine.clone()),
                self.inner
                    .settings
                    .resolve_version(input.engine.as_deref().unwrap_or(&g.engine), v)?
                    .version
                    .clone(),
            ),
            None => (g.engine.clone(), g.engine_version.clone()),
        };
        let pg = self.usable_parameter_group(p, &engine, &version)?;
        let current = self
            .parameter_group(&g.cache_parameter_group)
            .is_some_and(|c| c.cluster_enabled());
        if pg.cluster_enabled() != current {
            return Err(combination(
                "The parameter cluster-enabled has a different value in the requested parameter group than the \
                 current parameter group. This parameter value cannot be changed for a cache cluster.",
            ));
        }
        if (engine.as_str(), version.as_str()) != (g.engine.as_str(), g.engine_version.as_str())
            && parameter_group_family(&engine, &version)
                != parameter_group_family(&g.engine, &g.engine_version)
        {
            // Taken when the upgrade to the new family ends.
            g.next_parameter_group = Some(pg.name);
        } else if pg.name != g.cache_parameter_group {
            d.events.push(format!(
                "cache parameter group changed from {} to {}",
                g.cache_parameter_group, pg.name
            ));
            g.cache_parameter_group = pg.name;
        }
        Ok(())
    }

    /// No `CacheParameterGroupName` with an `EngineVersion` (`v`): a customer's own group is not swapped for a
    /// default one by an upgrade to another family.
    fn check_own_parameter_group_kept(
        &self,
        d: &Draft,
        input: &ModifyReplicationGroup,
        v: &str,
    ) -> Result<()> {
        let g = &d.g;
        let engine = input.engine.as_deref().unwrap_or(&g.engine);
        let to = self.inner.settings.resolve_version(engine, v)?;
        if !g.cache_parameter_group.starts_with("default.")
            && parameter_group_family(engine, &to.version)
                != parameter_group_family(&g.engine, &g.engine_version)
        {
            return Err(combination(format!(
                "Replication group {} uses its own parameter group {} (family {}); engine {engine} {} needs a \
                 parameter group of family {}: name one in CacheParameterGroupName.",
                g.id,
                g.cache_parameter_group,
                parameter_group_family(&g.engine, &g.engine_version),
                to.version,
                parameter_group_family(engine, &to.version)
            )));
        }
        Ok(())
    }
}
