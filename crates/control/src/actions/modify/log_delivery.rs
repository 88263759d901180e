//! `ModifyReplicationGroup`'s `LogDeliveryConfigurations` (always applied immediately, see `check_request`).

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::Result;

/// The group's log delivery settings after the request's changes, with an event for each setting that is new.
pub(super) fn change_log_delivery(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    let g = &mut d.g;
    if let Some(requests) = input
        .log_delivery_configurations
        .as_deref()
        .filter(|l| !l.is_empty())
    {
        let next = crate::rules::log_delivery::apply(
            &g.log_delivery,
            requests,
            &g.engine,
            &g.engine_version,
        )?;
        for l in &next {
            if g.log_delivery.iter().all(|c| c != l) {
                d.events.push(format!(
                    "{} delivery to {} {} ({}): {}",
                    l.log_type, l.destination_type, l.destination, l.format, l.status
                ));
            }
        }
        g.log_delivery = next;
    }
    Ok(())
}
