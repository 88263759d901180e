//! What an engine build's ACL understands: its command names (and, from 7.0, each command's subcommands) as the
//! build itself lists them (`COMMAND`), read once at start from a scratch `redis-server` on a private Unix socket
//! (no TCP port). A rule naming anything else would be refused by every node of that build — at `ACL SETUSER`,
//! and when it reads its config file, so the node could not start.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::{EngineError, Result};

/// Commands and their subcommands, lower case. A command with no entry in `subcommands` has none (or the build
/// predates them, 6.2): any first argument may follow it in a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclVocabulary {
    pub commands: BTreeSet<String>,
    pub subcommands: BTreeMap<String, BTreeSet<String>>,
    /// The flag characters the build accepts in `notify-keyspace-events` (asked of the build itself, one by one:
    /// it refuses a value with any other character).
    pub keyspace_event_flags: BTreeSet<char>,
}

impl AclVocabulary {
    /// What every one of `all` understands: a rule valid on some builds only could break nodes of the others.
    pub fn common(all: &[AclVocabulary]) -> AclVocabulary {
        let Some((first, rest)) = all.split_first() else {
            return AclVocabulary::default();
        };
        let mut v = first.clone();
        for o in rest {
            v.keyspace_event_flags
                .retain(|c| o.keyspace_event_flags.contains(c));
            v.commands.retain(|c| o.commands.contains(c));
            v.subcommands.retain(|c, subs| {
                if let Some(other) = o.subcommands.get(c) {
                    subs.retain(|s| other.contains(s));
                }
                o.commands.contains(c)
            });
        }
        v
    }

    /// Why `value` is not a `notify-keyspace-events` value every build accepts, if it is not.
    pub fn check_keyspace_events(&self, value: &str) -> std::result::Result<(), String> {
        match value
            .chars()
            .find(|c| !self.keyspace_event_flags.contains(c))
        {
            None => Ok(()),
            Some(c) => Err(format!(
                "'{}' is not a keyspace event flag the engines here accept (they accept: {})",
                c.escape_default(),
                self.keyspace_event_flags.iter().collect::<String>()
            )),
        }
    }

    /// Whether a `+name` / `-name` rule's `name` (`get`, `config|get`, `select|0`) names something this
    /// vocabulary has.
    pub fn knows(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let (cmd, sub) = match name.split_once('|') {
            Some((c, s)) => (c, Some(s)),
            None => (name.as_str(), None),
        };
        if !self.commands.contains(cmd) {
            return false;
        }
        match (sub, self.subcommands.get(cmd)) {
            (Some(s), Some(subs)) => subs.contains(s),
            _ => true,
        }
    }
}

fn text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).to_ascii_lowercase()),
        redis::Value::SimpleString(s) => Some(s.to_ascii_lowercase()),
        _ => None,
    }
}

/// Reads the vocabulary of the engine build `binary`, running it for a moment in `scratch` (created and removed
/// here).
pub async fn read(binary: &Path, scratch: &Path) -> Result<AclVocabulary> {
    crate::private::create_dir(scratch)?;
    let mut server = crate::scratch::Scratch::start(binary, scratch, &[])?;
    let result = async {
        let mut conn = server.connect(Duration::from_secs(10)).await?;
        let all: redis::Value = redis::cmd("COMMAND")
            .query_async(&mut conn)
            .await
            .map_err(|e| EngineError::Other(format!("COMMAND on {}: {e}", binary.display())))?;
        let mut v = AclVocabulary::default();
        let redis::Value::Array(entries) = all else {
            return Err(EngineError::Other("COMMAND answered no list".into()));
        };
        for e in entries {
            let redis::Value::Array(fields) = e else {
                continue;
            };
            let Some(name) = fields.first().and_then(text) else {
                continue;
            };
            // From 7.0 the tenth field lists the subcommands, each named `command|subcommand`.
            if let Some(redis::Value::Array(subs)) = fields.get(9) {
                let names: BTreeSet<String> = subs
                    .iter()
                    .filter_map(|s| match s {
                        redis::Value::Array(f) => f.first().and_then(text),
                        _ => None,
                    })
                    .filter_map(|n| n.split_once('|').map(|(_, s)| s.to_string()))
                    .collect();
                if !names.is_empty() {
                    v.subcommands.insert(name.clone(), names);
                }
            }
            v.commands.insert(name);
        }
        for c in (b'!'..=b'~').map(char::from) {
            let accepted = redis::cmd("CONFIG")
                .arg("SET")
                .arg("notify-keyspace-events")
                .arg(c.to_string())
                .query_async::<()>(&mut conn)
                .await
                .is_ok();
            if accepted {
                v.keyspace_event_flags.insert(c);
            }
        }
        Ok(v)
    }
    .await;
    let socket = crate::spec::admin_socket(scratch);
    server.stop().await;
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_dir_all(scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_commands_and_subcommands() {
        let mut v = AclVocabulary::default();
        v.commands
            .extend(["get".to_string(), "config".into(), "select".into()]);
        v.subcommands
            .insert("config".into(), ["get".to_string(), "set".into()].into());
        assert!(v.knows("GET"));
        assert!(v.knows("config|get"));
        assert!(!v.knows("config|nosuch"));
        assert!(v.knows("select|0"));
        assert!(!v.knows("gett"));
        v.keyspace_event_flags.extend("KEg$xA".chars());
        assert!(v.check_keyspace_events("").is_ok());
        assert!(v.check_keyspace_events("KEA").is_ok());
        let refused = v.check_keyspace_events("KXYZ").expect_err("X is no flag");
        assert!(refused.contains("'X'"), "{refused}");
        let mut older = v.clone();
        older.keyspace_event_flags.remove(&'x');
        older.commands.remove("select");
        older.subcommands.clear();
        let both = AclVocabulary::common(&[v, older]);
        assert!(!both.knows("select"));
        assert!(both.knows("config|get"));
        assert!(both.check_keyspace_events("Kx").is_err());
    }
}
