//! The files every daemon of one deployment must hold alike — the nodes' admin secret, the node CA, the host CA,
//! the generated API key pair — kept in a shared store, so that daemons on separate machines, each with a data
//! directory of its own, are one deployment (see `docs/design/multi-host.md`, step 10).
//!
//! A secret is one or more files of the data directory, kept as one value (a JSON object of path → contents). At
//! start, under the data directory's start-up lock: a secret the store keeps is written into the data directory
//! (0600); a secret it does not keep is made here (or taken from the files already here) and offered with
//! insert-if-absent, and the one kept — the first daemon's when several start at once — is what every daemon
//! writes. Files that were in the data directory before this start and differ from the deployment's are never
//! overwritten: the daemon refuses to start (they belong to another deployment, and nodes may use them).

use std::collections::BTreeMap;
use std::path::Path;

use super::Store;
use crate::error::{ControlError, Result};

/// A secret of the deployment: its name in the store and its files, relative to the data directory.
#[derive(Debug, Clone, Copy)]
pub struct Secret {
    pub name: &'static str,
    pub files: &'static [&'static str],
    /// What it is, for an operator.
    pub what: &'static str,
}

/// The password of the control plane's admin user on every node.
pub const ADMIN_SECRET: Secret = Secret {
    name: "admin-secret",
    files: &["admin.secret"],
    what: "the nodes' admin secret",
};
/// The CA that signs the nodes' TLS certificates (clients trust its `ca.pem`).
pub const NODE_CA: Secret = Secret {
    name: "node-ca",
    files: &["tls/ca.pem", "tls/ca.key"],
    what: "the node CA",
};
/// The CA that signs the agents' certificates and the control plane's own towards them.
pub const HOST_CA: Secret = Secret {
    name: "host-ca",
    files: &["hosts/ca.pem", "hosts/ca.key"],
    what: "the host CA",
};
/// The API key pair made at first start when none is given.
pub const API_CREDENTIALS: Secret = Secret {
    name: "api-credentials",
    files: &["credentials"],
    what: "the generated API key pair",
};

fn read(data_dir: &Path, file: &str) -> Result<Option<String>> {
    match std::fs::read_to_string(data_dir.join(file)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ControlError::Internal(format!(
            "{}: {e}",
            data_dir.join(file).display()
        ))),
    }
}

fn write(data_dir: &Path, file: &str, contents: &str) -> Result<()> {
    let path = data_dir.join(file);
    if let Some(dir) = path.parent() {
        engine::private::create_dir(dir)?;
    }
    engine::secret::write_private(&path, contents)?;
    Ok(())
}

fn refuse(data_dir: &Path, secret: &Secret, file: &str) -> ControlError {
    ControlError::Internal(format!(
        "{} holds {} ({file}) unlike the deployment whose state is in the store: this data directory belongs to \
         another deployment. Start this daemon with an empty data directory (it takes the deployment's secrets from \
         the store), or point it at the store of the deployment it belongs to.",
        data_dir.display(),
        secret.what
    ))
}

/// Makes `secret`'s files in `data_dir` the deployment's, through `store`; `create` makes them here when the store
/// keeps none yet (it may keep the files already here). True when the deployment's secret was made by this start.
pub fn share(
    store: &mut dyn Store,
    data_dir: &Path,
    secret: &Secret,
    create: impl FnOnce() -> Result<()>,
) -> Result<bool> {
    let before: Vec<Option<String>> = secret
        .files
        .iter()
        .map(|f| read(data_dir, f))
        .collect::<Result<_>>()?;
    let (kept, created) = match store.secret(secret.name)? {
        Some(kept) => (kept, false),
        None => {
            create()?;
            let mut ours = BTreeMap::new();
            for f in secret.files {
                let contents = read(data_dir, f)?.ok_or_else(|| {
                    ControlError::Internal(format!("{f} was not made in {}", data_dir.display()))
                })?;
                ours.insert(f.to_string(), contents);
            }
            let ours = serde_json::to_string(&ours)?;
            let kept = match store.keep_secret(secret.name, &ours) {
                Ok(kept) => kept,
                Err(e) => {
                    // What this start made goes: made again next time, it cannot then stand against the store's.
                    for (file, had) in secret.files.iter().zip(&before) {
                        if had.is_none() {
                            let _ = std::fs::remove_file(data_dir.join(file));
                        }
                    }
                    return Err(e);
                }
            };
            let created = kept == ours && before.iter().all(Option::is_none);
            (kept, created)
        }
    };
    let kept: BTreeMap<String, String> = serde_json::from_str(&kept)?;
    for (file, had) in secret.files.iter().zip(&before) {
        let Some(contents) = kept.get(*file) else {
            return Err(ControlError::Internal(format!(
                "the store keeps {} without {file}",
                secret.what
            )));
        };
        match had {
            Some(had) if had != contents => return Err(refuse(data_dir, secret, file)),
            Some(_) => {}
            None => write(data_dir, file, contents)?,
        }
    }
    Ok(created)
}

/// Shares the secrets the control plane opens (the admin secret, the node CA, the host CA) through a shared store.
pub fn share_control_secrets(store: &mut dyn Store, data_dir: &Path) -> Result<()> {
    share(store, data_dir, &ADMIN_SECRET, || {
        engine::secret::load_or_create(&data_dir.join("admin.secret"))?;
        Ok(())
    })?;
    share(store, data_dir, &NODE_CA, || {
        engine::tls::Authority::load_or_create(&data_dir.join("tls"))?;
        Ok(())
    })?;
    share(store, data_dir, &HOST_CA, || {
        engine::tls::Authority::load_or_create(&data_dir.join("hosts"))?;
        Ok(())
    })?;
    Ok(())
}

/// The store's record of the machine whose data directory runs the nodes that do not run on hosts (the first
/// daemon's), by the random id in its `machine.id`.
const NODES_MACHINE: &str = "nodes-machine";
/// Present once a daemon with a data directory of another machine joined: nodes that would run on a daemon's own
/// machine are refused from then on (see [`Machines`]).
const SEVERAL_MACHINES: &str = "several-machines";

/// Where this daemon stands among the daemons of a shared store.
///
/// The nodes that do not run on hosts yet (TLS, dual stack, restored from a file, Memcached)
/// run in the data directory of the leader, so daemons sharing one data directory on one machine can all lead them.
/// A daemon with a data directory of its own stands for another machine, where those nodes are not: it starts only
/// while the deployment has none, and from its first start on the deployment refuses new ones (every node then
/// runs on a host). See `docs/hosts.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machines {
    /// This daemon's data directory is the one whose nodes run off hosts.
    NodesHere,
    /// Another machine's: nodes off hosts are refused.
    Elsewhere,
}

impl Machines {
    /// Records this data directory's machine (its `machine.id`, made the first time) and tells where it stands.
    pub fn learn(store: &mut dyn Store, data_dir: &Path) -> Result<Self> {
        let id = match read(data_dir, "machine.id")? {
            Some(id) if !id.trim().is_empty() => id.trim().to_string(),
            _ => {
                let id = engine::secret::random_token(24);
                write(data_dir, "machine.id", &id)?;
                id
            }
        };
        Ok(if store.keep_secret(NODES_MACHINE, &id)? == id {
            Machines::NodesHere
        } else {
            Machines::Elsewhere
        })
    }

    /// A daemon of another machine joins the deployment: refused while nodes run off hosts (in the data directory
    /// of the first daemon's machine), else recorded, so that none is made from now on.
    pub fn join_elsewhere(store: &mut dyn Store, data_dir: &Path, off_hosts: usize) -> Result<()> {
        if off_hosts > 0 {
            return Err(ControlError::Internal(format!(
                "this deployment runs {off_hosts} node(s) on its first daemon's machine (TLS, dual stack, restored \
                 from a file, Memcached clusters, groups made before hosts joined, or clusters an older version \
                 kept by RetainPrimaryCluster), which a daemon \
                 with another data directory ({}) cannot lead. Start this daemon on that machine, with that \
                 machine's data directory, or delete those clusters first.",
                data_dir.display()
            )));
        }
        store.keep_secret(SEVERAL_MACHINES, "yes")?;
        Ok(())
    }

    /// Whether daemons of several machines share the deployment (nodes off hosts refused).
    pub fn several(store: &dyn Store) -> Result<bool> {
        Ok(store.secret(SEVERAL_MACHINES)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pg::PgStore;
    use std::os::unix::fs::PermissionsExt;

    const PAIR: Secret = Secret {
        name: "pair",
        files: &["inner/one", "two"],
        what: "a test pair",
    };

    fn make(dir: &Path) -> Result<()> {
        write(dir, "inner/one", &engine::secret::random_token(20))?;
        write(dir, "two", &engine::secret::random_token(20))
    }

    fn contents(dir: &Path) -> Vec<String> {
        PAIR.files
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).expect("written"))
            .collect()
    }

    #[test]
    fn the_first_daemons_secret_is_every_daemons_and_a_strangers_is_refused() {
        let server = testpg::TestPostgres::start();
        let url = server.database("secrets");
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
        let (first, second, stranger) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
        let mut a = PgStore::open(&url).expect("open");
        let mut b = PgStore::open(&url).expect("open");

        assert!(share(&mut a, first, &PAIR, || make(first)).expect("made"));
        let made = contents(first);
        assert!(!share(&mut b, second, &PAIR, || panic!("made only once")).expect("taken"));
        assert_eq!(
            contents(second),
            made,
            "the second daemon holds the first one's"
        );
        for f in PAIR.files {
            let mode = std::fs::metadata(second.join(f))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert!(!share(&mut a, first, &PAIR, || panic!("kept")).expect("again"));
        assert_eq!(contents(first), made, "a restart changes nothing");

        // A data directory with a file of its own that differs is refused, and its file is left as it was.
        write(stranger, "two", "another deployment's").expect("write");
        let e = share(&mut b, stranger, &PAIR, || panic!("kept")).expect_err("refused");
        assert!(
            e.to_string().contains("belongs to another deployment"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(stranger.join("two")).expect("kept"),
            "another deployment's"
        );
        // A file missing beside one that agrees is written.
        std::fs::remove_file(second.join("inner/one")).expect("remove");
        share(&mut b, second, &PAIR, || panic!("kept")).expect("mended");
        assert_eq!(contents(second), made);

        // The first data directory's machine runs the nodes off hosts; another machine's daemon joins only while
        // there are none, and from then on the deployment is on several machines.
        assert_eq!(
            Machines::learn(&mut a, first).expect("learn"),
            Machines::NodesHere
        );
        assert_eq!(
            Machines::learn(&mut a, first).expect("again"),
            Machines::NodesHere
        );
        assert_eq!(
            Machines::learn(&mut b, second).expect("learn"),
            Machines::Elsewhere
        );
        assert!(!Machines::several(&b).expect("several"));
        let e = Machines::join_elsewhere(&mut b, second, 2).expect_err("nodes off hosts");
        assert!(
            e.to_string()
                .contains("runs 2 node(s) on its first daemon's machine"),
            "{e}"
        );
        assert!(
            !Machines::several(&b).expect("several"),
            "a refused daemon records nothing"
        );
        Machines::join_elsewhere(&mut b, second, 0).expect("joins");
        assert!(Machines::several(&a).expect("several"));
    }
}
