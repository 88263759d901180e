//! Users and user groups (RBAC): AWS's rules for ids, passwords and access strings, and the ACL a group's nodes
//! hold, as pure functions.

use crate::error::{invalid, Result};
use crate::model::{Acl, User};
use crate::rules;

/// The built-in user every deployment has, as on ElastiCache.
/// The command categories of Redis ACL (6.2 and 7.0 have the same): a rule naming another would be refused by
/// every node, at `ACL SETUSER` and when it reads its config file.
pub const ACL_CATEGORIES: &[&str] = &[
    "all",
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

pub const DEFAULT_USER_ID: &str = "default";

/// The Redis user name clients that do not authenticate act as.
pub const DEFAULT_USER_NAME: &str = "default";

/// The prefix of the user names the control plane keeps for itself on the nodes (its own user is
/// `engine::secret::ADMIN_USER`), compared without case: no customer's user is ever named so.
pub const RESERVED_NAME_PREFIX: &str = "cacheplane";

/// Whether `name` is one the control plane keeps for itself on the nodes (`cacheplane…`, in any case).
pub fn reserved_name(name: &str) -> bool {
    name.len() >= RESERVED_NAME_PREFIX.len()
        && name.as_bytes()[..RESERVED_NAME_PREFIX.len()]
            .eq_ignore_ascii_case(RESERVED_NAME_PREFIX.as_bytes())
        || name.eq_ignore_ascii_case(engine::secret::ADMIN_USER)
}

pub fn builtin_default() -> User {
    User {
        id: DEFAULT_USER_ID.into(),
        name: DEFAULT_USER_NAME.into(),
        engine: "redis".into(),
        access_string: "on ~* +@all".into(),
        password_hashes: vec![],
        no_password: true,
        status: "active".into(),
        leaving: vec![],
        deleting_since: None,
    }
}

/// Checks a user or user group id: a letter, then letters, digits and hyphens; no `--`, no hyphen at the end.
pub fn check_id(kind: &str, id: &str) -> Result<()> {
    let ok = id.len() <= 40
        && id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid {kind} '{}': it must begin with a letter, hold only letters, digits and hyphens (at most 40), \
             and neither end with a hyphen nor hold two in a row.",
            rules::shown(id)
        )))
    }
}

/// Checks a user password: 16–128 printable ASCII characters without `,` `"` `/` `@` or spaces.
pub fn check_password(p: &str) -> Result<()> {
    let n = p.chars().count();
    if !(16..=128).contains(&n) {
        return Err(invalid(format!(
            "Invalid password: it must be 16 to 128 characters long; this one has {n}."
        )));
    }
    if let Some(bad) = p
        .chars()
        .find(|c| !c.is_ascii_graphic() || ",\"/@".contains(*c))
    {
        let shown = crate::rules::shown_char(bad);
        return Err(invalid(format!(
            "Invalid password: {shown} is not allowed (no spaces, and none of , \" / @)."
        )));
    }
    Ok(())
}

/// Checks an access string: Redis ACL rules that grant or deny (`on`, `off`, `~pattern`, `%R~pattern`,
/// `&pattern`, `allkeys`, `allchannels`, `resetkeys`, `resetchannels`, `+cmd`, `-cmd`, `+@category`,
/// `-@category`, `allcommands`, `nocommands`). Rules about passwords are not part of an access string.
pub fn check_access_string(s: &str) -> Result<()> {
    let rules: Vec<&str> = s.split_whitespace().collect();
    if rules.is_empty() {
        return Err(invalid(
            "AccessString must not be empty (for example: on ~* +@all).",
        ));
    }
    for r in rules {
        let ok = matches!(
            r,
            "on" | "off"
                | "allkeys"
                | "allchannels"
                | "resetkeys"
                | "resetchannels"
                | "allcommands"
                | "nocommands"
        ) || (r.len() > 1
            && (r.starts_with('~')
                || r.starts_with('&')
                || r.starts_with("%R~")
                || r.starts_with("%W~")
                || r.starts_with("%RW~")
                || ((r.starts_with('+') || r.starts_with('-'))
                    && r[1..]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "@|-_".contains(c)))))
            && r.chars().all(|c| c.is_ascii_graphic());
        if let Some(cat) = r.strip_prefix("+@").or_else(|| r.strip_prefix("-@")) {
            if !ACL_CATEGORIES.contains(&cat.to_ascii_lowercase().as_str()) {
                return Err(invalid(format!(
                    "Invalid AccessString: '{}' names no command category (categories: {}).",
                    rules::shown(r),
                    ACL_CATEGORIES.join(", ")
                )));
            }
        }
        if !ok {
            return Err(invalid(format!(
                "Invalid AccessString: '{}' is not an access rule (use on/off, ~keys, &channels, +command, \
                 -command, +@category, -@category).",
                rules::shown(r)
            )));
        }
    }
    Ok(())
}

/// The Redis ACL rules of `u` on a node: its passwords (as `#<sha256>`) or `nopass`, its access string, and the
/// control plane's own limits after it.
pub fn user_rules(u: &User) -> String {
    let auth = if u.no_password {
        "nopass".to_string()
    } else {
        u.password_hashes
            .iter()
            .map(|h| format!("#{h}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let grants_all = u
        .access_string
        .split_whitespace()
        .any(|r| r == "+@all" || r == "allcommands");
    let grants = if grants_all {
        format!(" +role {}", rules::CLUSTER_QUESTIONS)
    } else {
        String::new()
    };
    format!("{auth} {} -@admin -migrate{grants}", u.access_string)
}

/// The ACL for `users` (the users of the attached user groups).
pub fn acl_for(users: &[&User]) -> Acl {
    let mut default_user = format!("off nopass {}", rules::CUSTOMER_PERMISSIONS);
    let mut others = Vec::new();
    for u in users {
        // A reserved name never reaches a node, even when a store written by an older version holds one: the
        // node's user of that name is the control plane's own.
        if reserved_name(&u.name) {
            tracing::warn!(user = %u.id, name = %u.name, "a user with a reserved name is not written to any node");
            continue;
        }
        if u.name == DEFAULT_USER_NAME {
            default_user = user_rules(u);
        } else {
            others.push((u.name.clone(), user_rules(u)));
        }
    }
    others.sort();
    others.dedup_by(|a, b| a.0 == b.0);
    Acl {
        default_user,
        users: others,
    }
}

/// The customers' users a node holds for `acl`: never one with a reserved name, even one a store written by an
/// older version kept (the node's user of that name is the control plane's own).
pub fn node_users(acl: Option<&Acl>) -> Vec<(String, String)> {
    acl.map(|a| {
        a.users
            .iter()
            .filter(|(n, _)| !reserved_name(n))
            .cloned()
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    #[test]
    fn access_strings_and_passwords() {
        for ok in [
            "on ~* +@all",
            "on ~app:* +get",
            "off",
            "on ~* &* -@dangerous +info",
            "on %R~r:* +@read",
        ] {
            assert!(check_access_string(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "on >secret",
            "on ~* +@nosuchcategory",
            "on nopass",
            "on #abc",
            "reset",
            "on resetpass",
            "on ~* +get{",
        ] {
            assert!(check_access_string(bad).is_err(), "{bad}");
        }
        assert!(check_password("0123456789abcdef").is_ok());
        for bad in [
            "short",
            "0123456789abcde,",
            "0123456789abcde@",
            "0123456789abcde/",
            "0123456789 abcdef",
        ] {
            assert!(check_password(bad).is_err(), "{bad}");
        }
        assert!(check_id("UserId", "app-user1").is_ok());
        for bad in ["1app", "app--x", "app-", "a_b", ""] {
            assert!(check_id("UserId", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_keep_the_control_plane_limits() {
        let u = User {
            id: "app".into(),
            name: "app".into(),
            engine: "redis".into(),
            access_string: "on ~app:* +get".into(),
            password_hashes: vec!["ab".into(), "cd".into()],
            no_password: false,
            status: "active".into(),
            leaving: vec![],
            deleting_since: None,
        };
        assert_eq!(user_rules(&u), "#ab #cd on ~app:* +get -@admin -migrate");
        let all = User {
            access_string: "on ~* +@all".into(),
            no_password: true,
            password_hashes: vec![],
            ..u.clone()
        };
        let everything = format!(
            "nopass on ~* +@all -@admin -migrate +role {}",
            rules::CLUSTER_QUESTIONS
        );
        assert_eq!(user_rules(&all), everything);
        let acl = acl_for(&[&u, &builtin_default()]);
        assert_eq!(acl.default_user, everything);
        assert_eq!(acl.users, vec![("app".to_string(), user_rules(&u))]);
    }

    #[test]
    fn the_control_planes_names_are_reserved() {
        for name in [
            "cacheplane-admin",
            "CACHEPLANE-ADMIN",
            "Cacheplane",
            "cacheplane-x",
        ] {
            assert!(reserved_name(name), "{name}");
        }
        for name in ["default", "app", "cache", "my-cacheplane-admin", ""] {
            assert!(!reserved_name(name), "{name}");
        }
        // A user kept by an older version under the control plane's name never reaches a node.
        let own = User {
            id: "legacy".into(),
            name: engine::secret::ADMIN_USER.into(),
            engine: "redis".into(),
            access_string: "on ~* +@all".into(),
            password_hashes: vec!["ab".into()],
            no_password: false,
            status: "active".into(),
            leaving: vec![],
            deleting_since: None,
        };
        let acl = acl_for(&[&own, &builtin_default()]);
        assert!(acl.users.is_empty(), "{acl:?}");
        let old = Acl {
            default_user: "on nopass ~* +@all".into(),
            users: vec![
                (engine::secret::ADMIN_USER.into(), "#ab on ~* +@all".into()),
                ("app".into(), "#cd on ~app:* +get".into()),
            ],
        };
        assert_eq!(node_users(Some(&old)), vec![old.users[1].clone()]);
    }
}
