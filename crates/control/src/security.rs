//! AWS's rules for TLS in transit, as pure functions of the request and the group's current setting.
//!
//! - At creation, `TransitEncryptionEnabled=true` turns TLS on, `required` unless `TransitEncryptionMode`
//!   says `preferred`; a mode without TLS is refused.
//! - On an existing group TLS comes on in two steps: `TransitEncryptionEnabled=true` together with
//!   `TransitEncryptionMode=preferred`, then `TransitEncryptionMode=required`. Going straight to `required` is
//!   refused; so is a mode while TLS is off. Turning TLS off takes `preferred` first (a `required` group
//!   would drop every client at once otherwise), the reverse of the way in.

use crate::error::{combination, invalid, Result};
use crate::model::TransitMode;
use crate::Settings;

/// Whether a group on `engine_version` at `port` can have TLS here: its engine binary must be built with TLS,
/// and `preferred` mode needs the two ports above `port` (see [`engine::config::TlsMode::Preferred`]).
/// Dual-stack groups reach their nodes through forwarders of their own and do not take TLS yet.
pub fn tls_possible(s: &Settings, engine_version: &str, port: u16, dual_stack: bool) -> Result<()> {
    if !s.binary_for(engine_version).is_some_and(|b| b.tls) {
        return Err(invalid(format!(
            "In-transit encryption needs an engine built with TLS; the redis-server registered for version \
             {engine_version} has no TLS support. Versions with TLS here: {}.",
            s.binaries
                .iter()
                .filter(|b| b.tls)
                .map(|b| b.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if port > u16::MAX - engine::config::PREFERRED_TLS_OFFSET {
        return Err(invalid(format!(
            "Port {port} leaves no room for the ports TLS preferred mode uses behind it; use a port below 65534."
        )));
    }
    if dual_stack {
        return Err(combination(
            "In-transit encryption is not supported for NetworkType dual_stack groups by this Cacheplane yet.",
        ));
    }
    Ok(())
}

fn mode_of(name: &str) -> TransitMode {
    if name == "preferred" {
        TransitMode::Preferred
    } else {
        TransitMode::Required
    }
}

/// The TLS setting of a new group.
pub fn transit_at_create(enabled: Option<bool>, mode: Option<&str>) -> Result<Option<TransitMode>> {
    match (enabled, mode) {
        (Some(true), m) => Ok(Some(m.map_or(TransitMode::Required, mode_of))),
        (_, Some(_)) => Err(combination(
            "TransitEncryptionMode can only be set when TransitEncryptionEnabled is true.",
        )),
        (_, None) => Ok(None),
    }
}

/// The TLS setting after a `ModifyReplicationGroup` on a group whose setting is `current`: `None` when the
/// request does not change it, `Some(new)` otherwise.
pub fn transit_change(
    current: Option<TransitMode>,
    enabled: Option<bool>,
    mode: Option<&str>,
) -> Result<Option<Option<TransitMode>>> {
    let mode = mode.map(mode_of);
    let next = match (current, enabled, mode) {
        (_, None, None) => return Ok(None),
        // Turning TLS on: preferred first.
        (None, Some(true), Some(TransitMode::Preferred)) => Some(TransitMode::Preferred),
        (None, Some(true), _) => {
            return Err(combination(
                "In-transit encryption is turned on in two steps: first TransitEncryptionEnabled=true with \
                 TransitEncryptionMode=preferred, then TransitEncryptionMode=required once every client uses TLS.",
            ))
        }
        (None, Some(false), None) => None,
        (None, _, Some(_)) => {
            return Err(combination(
                "To modify transit encryption mode, set encryption-in-transit as enabled.",
            ))
        }
        // Turning TLS off: only from preferred, and without a mode.
        (Some(_), Some(false), Some(_)) => {
            return Err(combination(
                "TransitEncryptionMode cannot be set when TransitEncryptionEnabled is false.",
            ))
        }
        (Some(TransitMode::Required), Some(false), None) => {
            return Err(combination(
                "In-transit encryption can be turned off only from TransitEncryptionMode preferred: set \
                 TransitEncryptionMode=preferred first, so that clients can move to plaintext connections.",
            ))
        }
        (Some(TransitMode::Preferred), Some(false), None) => None,
        (Some(cur), _, m) => Some(m.unwrap_or(cur)),
    };
    Ok((next != current).then_some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ControlError;
    use TransitMode::*;

    fn refused(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(ControlError::InvalidParameterCombination(m)) => m,
            other => panic!("expected InvalidParameterCombination, got {other:?}"),
        }
    }

    #[test]
    fn at_create() {
        assert_eq!(transit_at_create(None, None).ok(), Some(None));
        assert_eq!(transit_at_create(Some(false), None).ok(), Some(None));
        assert_eq!(
            transit_at_create(Some(true), None).ok(),
            Some(Some(Required))
        );
        assert_eq!(
            transit_at_create(Some(true), Some("preferred")).ok(),
            Some(Some(Preferred))
        );
        refused(transit_at_create(None, Some("required")));
        refused(transit_at_create(Some(false), Some("preferred")));
    }

    #[test]
    fn two_steps_on_and_off() {
        // On: preferred, then required.
        assert_eq!(
            transit_change(None, Some(true), Some("preferred")).ok(),
            Some(Some(Some(Preferred)))
        );
        assert!(refused(transit_change(None, Some(true), Some("required"))).contains("two steps"));
        assert!(refused(transit_change(None, Some(true), None)).contains("two steps"));
        assert_eq!(
            refused(transit_change(None, None, Some("required"))),
            "To modify transit encryption mode, set encryption-in-transit as enabled."
        );
        assert_eq!(
            transit_change(Some(Preferred), None, Some("required")).ok(),
            Some(Some(Some(Required)))
        );
        assert_eq!(
            transit_change(Some(Preferred), Some(true), Some("required")).ok(),
            Some(Some(Some(Required)))
        );
        // Back: required → preferred → off.
        assert_eq!(
            transit_change(Some(Required), None, Some("preferred")).ok(),
            Some(Some(Some(Preferred)))
        );
        assert!(
            refused(transit_change(Some(Required), Some(false), None)).contains("preferred first")
        );
        assert_eq!(
            transit_change(Some(Preferred), Some(false), None).ok(),
            Some(Some(None))
        );
        refused(transit_change(
            Some(Preferred),
            Some(false),
            Some("preferred"),
        ));
        // No change.
        assert_eq!(transit_change(None, None, None).ok(), Some(None));
        assert_eq!(transit_change(None, Some(false), None).ok(), Some(None));
        assert_eq!(
            transit_change(Some(Required), Some(true), None).ok(),
            Some(None)
        );
        assert_eq!(
            transit_change(Some(Preferred), None, Some("preferred")).ok(),
            Some(None)
        );
    }
}
