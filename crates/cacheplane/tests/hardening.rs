//! Hardening (issue 12): private data at rest, one daemon per data directory, admin sockets out of reach, names
//! that cannot break a node's config file, a bounded API.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Every entry under `root` whose mode lets another user in (group or other bits), with its mode.
fn not_private(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut bad = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_symlink() {
            continue;
        }
        if m.mode() & 0o077 != 0 {
            bad.push((p.clone(), m.mode() & 0o7777));
        }
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_at_rest_is_private_and_one_daemon_holds_it() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("priv")
        .replication_group_description("private files")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    wait_available(&c, "priv", Duration::from_secs(30)).await;
    c.create_snapshot()
        .replication_group_id("priv")
        .snapshot_name("priv-snap")
        .send()
        .await
        .expect("snapshot");
    wait_snapshot(&c, "priv-snap").await;
    let bad = not_private(d.data_dir());
    assert!(bad.is_empty(), "entries others can read: {bad:?}");
    let root_mode = std::fs::metadata(d.data_dir()).expect("meta").mode() & 0o777;
    assert_eq!(root_mode, 0o700);
    // The nodes' own files (append-only files, logs) are theirs only too.
    let aof = std::fs::read_dir(d.data_dir().join("nodes"))
        .expect("nodes")
        .flatten()
        .map(|e| e.path().join("appendonlydir"))
        .find(|p| p.exists())
        .expect("an append-only directory");
    for e in std::fs::read_dir(&aof).expect("aof").flatten() {
        assert_eq!(
            e.metadata().expect("meta").mode() & 0o077,
            0,
            "{:?}",
            e.path()
        );
    }

    // A second daemon on the same directory refuses to start, naming the running one.
    let first_pid = d.child.as_ref().expect("running").id();
    let out = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(d.data_dir())
        .env("CACHEPLANE_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("CACHEPLANE_SECRET_ACCESS_KEY", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("second daemon runs");
    assert!(!out.status.success(), "a second daemon started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another cacheplane daemon")
            && err.contains(&format!("pid {first_pid},")),
        "{err}"
    );

    // Files an older version left readable are made private at the next start.
    d.kill9();
    let store = d.data_dir().join("cacheplane.sqlite3");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::set_permissions(d.data_dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d.spawn();
    let bad = not_private(d.data_dir());
    assert!(bad.is_empty(), "still readable after a restart: {bad:?}");
    wait_available(&d.client(), "priv", Duration::from_secs(30)).await;
}

const PW: &str = "a-long-password-0123456789";

/// Every printable ASCII character, space included.
fn printable() -> impl Iterator<Item = char> {
    (0x20u8..=0x7e).map(char::from)
}

/// The outcome of a request that either succeeds or is refused: "ok" or the AWS error code.
fn outcome<T, E: aws_sdk_elasticache::error::ProvideErrorMetadata>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

/// `AUTH name password` on a new TLS connection to `at` (an answer `OK` means the node holds the user).
async fn auth_works(at: &(String, u16), ca: &Path, name: &str) -> Result<(), String> {
    let client = tls_client_as(at, ca, None, None);
    let mut conn = client_conn_with_timeout(&client, Duration::from_secs(3))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    redis::cmd("AUTH")
        .arg(name)
        .arg(PW)
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| format!("AUTH {name:?}: {e}"))
}

/// Every printable character in user names, user ids, access strings, tags, descriptions and snapshot names is
/// either refused with AWS's error or stored, reaches the nodes, and survives a node restart and a daemon
/// restart. Before the fix a `"` in a user name or an access rule was written into `redis.conf` as is and the
/// node could not start again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_name_or_rule_can_break_a_node() {
    let mut d = Daemon::start();
    let c = d.client();
    let ca = d.data_dir().join("tls").join("ca.pem");
    let mut users = vec!["open-default".to_string()];
    c.create_user()
        .user_id("open-default")
        .user_name("default")
        .engine("redis")
        .access_string("on ~* +@all")
        .no_password_required(true)
        .send()
        .await
        .expect("default user");
    let mut names = Vec::new();
    for (i, ch) in printable().enumerate() {
        // A user name holding the character.
        let name = format!("u{ch}x");
        let r = c
            .create_user()
            .user_id(format!("n{i}"))
            .user_name(&name)
            .engine("redis")
            .access_string("on ~* +@all")
            .passwords(PW)
            .send()
            .await;
        match outcome(r).as_str() {
            "ok" => {
                users.push(format!("n{i}"));
                names.push(name);
            }
            "InvalidParameterValue" => assert_eq!(ch, ' ', "{name:?} refused"),
            other => panic!("user name {name:?}: {other}"),
        }
        // An access string holding it, in key and channel patterns, with rules on separate lines.
        let access = format!("on\n~k{ch}*\t&c{ch}*\n+get -@dangerous");
        let r = c
            .create_user()
            .user_id(format!("a{i}"))
            .user_name(format!("acc{i}"))
            .engine("redis")
            .access_string(&access)
            .passwords(PW)
            .send()
            .await;
        match outcome(r).as_str() {
            "ok" => {
                users.push(format!("a{i}"));
                names.push(format!("acc{i}"));
            }
            // A space splits the pattern into two rules, the second of which is not one.
            "InvalidParameterValue" => assert_eq!(ch, ' ', "{access:?} refused"),
            other => panic!("access string {access:?}: {other}"),
        }
        // A user id holding it: AWS's pattern, letters, digits and hyphens.
        let r = c
            .create_user()
            .user_id(format!("id{ch}x"))
            .user_name("idtest")
            .engine("redis")
            .access_string("on")
            .no_password_required(true)
            .send()
            .await;
        let want = if ch.is_ascii_alphanumeric() || ch == '-' {
            "ok"
        } else {
            "InvalidParameterValue"
        };
        assert_eq!(outcome(r), want, "user id with {ch:?}");
    }
    c.create_user_group()
        .user_group_id("everyone")
        .engine("redis")
        .set_user_ids(Some(users))
        .send()
        .await
        .expect("user group");
    wait_user_group_active(&c, "everyone").await;
    c.create_replication_group()
        .replication_group_id("inj")
        .replication_group_description("injection")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .user_group_ids("everyone")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "inj", Duration::from_secs(60)).await;
    let ep = primary_addr(&g);
    for n in &names {
        auth_works(&ep, &ca, n).await.expect("user on the node");
    }

    // Restart the primary from its config file: every user comes back.
    let before = node_pid(&d, "inj-001");
    c.reboot_cache_cluster()
        .cache_cluster_id("inj-001")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while node_pid(&d, "inj-001") == before
        || describe_group(&c, "inj").await.status() != Some("available")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "primary never restarted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let g = wait_available(&c, "inj", Duration::from_secs(30)).await;
    let ep = primary_addr(&g);
    for n in &names {
        auth_works(&ep, &ca, n).await.expect("user after a restart");
    }

    // Text that never reaches a node still round-trips through the store: tags and a description holding every
    // printable character, and snapshot names (letters, digits, hyphens only).
    let all: String = printable().collect();
    let arn = "arn:aws:elasticache:us-east-1:000000000000:replicationgroup:inj";
    for (i, ch) in printable().enumerate() {
        let r = c
            .add_tags_to_resource()
            .resource_name(arn)
            .tags(
                aws_sdk_elasticache::types::Tag::builder()
                    .key(format!("k{i}{ch}"))
                    .value(format!("v{ch}"))
                    .build(),
            )
            .send()
            .await;
        assert_eq!(outcome(r), "ok", "tag with {ch:?}");
        if i % 40 == 39 {
            // AWS's 50 tags a resource: start over.
            let tags = list_tags(&c, arn).await;
            let keys: Vec<String> = tags
                .iter()
                .filter_map(|t| t.key().map(String::from))
                .collect();
            c.remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .expect("untag");
        }
        let r = c
            .create_snapshot()
            .replication_group_id("inj")
            .snapshot_name(format!("s{ch}x"))
            .send()
            .await;
        let want = if ch.is_ascii_alphanumeric() || ch == '-' {
            "ok"
        } else {
            "InvalidParameterValue"
        };
        assert_eq!(outcome(r), want, "snapshot name with {ch:?}");
        if want == "ok" {
            let name = format!("s{ch}x").to_ascii_lowercase();
            wait_snapshot(&c, &name).await;
            c.delete_snapshot()
                .snapshot_name(&name)
                .send()
                .await
                .expect("delete snapshot");
        }
    }
    c.modify_replication_group()
        .replication_group_id("inj")
        .replication_group_description(&all)
        .apply_immediately(true)
        .send()
        .await
        .expect("description with every character");
    let tags_before = list_tags(&c, arn).await;
    assert!(!tags_before.is_empty());
    d.kill9();
    d.spawn();
    let c = d.client();
    let g = wait_available(&c, "inj", Duration::from_secs(30)).await;
    assert_eq!(g.description(), Some(all.as_str()));
    assert_eq!(list_tags(&c, arn).await, tags_before);
}

/// The API is bounded before it authenticates anyone: headers that never finish are closed, a body is never read
/// for a request whose headers cannot authenticate, connections past the limit are closed at once, and the API
/// keeps answering through all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_is_bounded_before_authentication() {
    use std::io::Write;
    let d = Daemon::start();
    let c = d.client();

    // A request whose headers never end is closed (the header timeout is 10 s).
    let mut slow = std::net::TcpStream::connect(d.addr).expect("connect");
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .expect("partial headers");
    // An unsigned request announcing a 1 MiB body is refused from its headers: the body is never sent.
    let mut unsigned = std::net::TcpStream::connect(d.addr).expect("connect");
    unsigned
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\nAction=",
        )
        .expect("headers");
    let (answer, _) = read_until_closed(&mut unsigned, Duration::from_secs(5));
    assert!(
        answer.starts_with("HTTP/1.1 403") && answer.contains("MissingAuthenticationToken"),
        "{answer}"
    );
    // A request signed with an unknown key is refused the same way.
    let mut unknown = std::net::TcpStream::connect(d.addr).expect("connect");
    unknown
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Date: {}\r\nAuthorization: AWS4-HMAC-SHA256 \
                 Credential=AKIDNOBODY/{}/us-east-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, \
                 Signature=00\r\nContent-Length: 1048576\r\n\r\n",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                chrono::Utc::now().format("%Y%m%d")
            )
            .as_bytes(),
        )
        .expect("headers");
    let (answer, _) = read_until_closed(&mut unknown, Duration::from_secs(5));
    assert!(
        answer.starts_with("HTTP/1.1 403") && answer.contains("InvalidClientTokenId"),
        "{answer}"
    );

    // Past the connection limit, a new connection takes the place of the one idle longest: the unfinished
    // headers first, then the oldest of those that send nothing. No more than the limit are held.
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(std::net::TcpStream::connect(d.addr).expect("connect"));
    }
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5));
    assert!(
        closed,
        "unfinished headers, idle longest, kept their connection"
    );
    let (_, closed) = read_until_closed(&mut held[0], Duration::from_secs(5));
    assert!(closed, "a connection past the limit was kept");
    // The newest send nothing: they are closed once their headers are late (10 s).
    let (_, closed) = read_until_closed(held.last_mut().expect("one"), Duration::from_secs(20));
    assert!(closed, "a connection without headers kept open");
    drop(held);
    // Once the idle connections are gone, the API answers again.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if c.describe_replication_groups().send().await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "API never answered again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Snapshot tools come from beside the engine binary a node runs, never from `PATH`: with no `redis-cli` or
/// `redis-check-rdb` on `PATH` at all, a snapshot of a node on the redis 6.2 build (whose directory holds its
/// own `redis-cli`, and whose `redis-server` is its own `redis-check-rdb`) is taken and checked; nodes validate
/// `RESTORE` payloads (`sanitize-dump-payload yes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_tools_come_from_the_engine_build() {
    let old = std::env::var("CACHEPLANE_TEST_REDIS_6")
        .expect("CACHEPLANE_TEST_REDIS_6: run ./scripts/test.sh, which installs it");
    let empty = tempfile::tempdir().expect("dir");
    let mut d = Daemon::start_with_args("info", &["--engine-binary", &old]);
    d.kill9();
    d.env = vec![("PATH".into(), empty.path().display().to_string())];
    d.spawn();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("tools")
        .replication_group_description("tools")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "tools", Duration::from_secs(30)).await;
    let mut conn = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("endpoint"),
    ))
    .await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut conn)
        .await
        .expect("set");
    c.create_snapshot()
        .replication_group_id("tools")
        .snapshot_name("tools-snap")
        .send()
        .await
        .expect("snapshot");
    let s = wait_snapshot(&c, "tools-snap").await;
    assert_eq!(s.snapshot_status(), Some("available"));
    assert_eq!(s.engine_version(), Some("6.2.14"));

    // The node validates RESTORE payloads deeply (read over the admin socket: customers cannot CONFIG GET).
    let admin = node_admin(&d, "tools-001");
    let mut a = admin
        .get_multiplexed_async_connection()
        .await
        .expect("admin conn");
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("sanitize-dump-payload")
        .query_async(&mut a)
        .await
        .expect("config get");
    assert_eq!(v, ["sanitize-dump-payload", "yes"]);
}

/// The longest snapshot names AWS allows (255 characters) are taken, copied and restored: the file name is
/// bounded whatever the snapshot's name (before the fix, CreateSnapshot ended `failed` and CopySnapshot answered
/// HTTP 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_snapshot_names_work() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("long")
        .replication_group_description("long names")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("create");
    wait_available(&c, "long", Duration::from_secs(30)).await;
    let name = format!("a{}", "b".repeat(254));
    let copy = format!("c{}", "d".repeat(254));
    c.create_snapshot()
        .replication_group_id("long")
        .snapshot_name(&name)
        .send()
        .await
        .expect("snapshot");
    assert_eq!(
        wait_snapshot(&c, &name).await.snapshot_status(),
        Some("available")
    );
    c.copy_snapshot()
        .source_snapshot_name(&name)
        .target_snapshot_name(&copy)
        .send()
        .await
        .expect("copy");
    assert_eq!(
        wait_snapshot(&c, &copy).await.snapshot_status(),
        Some("available")
    );
    c.create_replication_group()
        .replication_group_id("long-back")
        .replication_group_description("restored")
        .num_cache_clusters(1)
        .snapshot_name(&copy)
        .send()
        .await
        .expect("restore");
    wait_available(&c, "long-back", Duration::from_secs(30)).await;
    // One too many is refused with AWS's error.
    let r = c
        .create_snapshot()
        .replication_group_id("long")
        .snapshot_name(format!("{name}x"))
        .send()
        .await;
    assert_eq!(outcome(r), "InvalidParameterValue");
}

/// With a data directory so deep that admin sockets cannot live in their node's directories, they live in a
/// directory only this user can enter (0700, checked at start): a predictable name in the shared temporary
/// directory would let a local user who created it first receive the admin password. A directory of that name
/// that others may enter stops the daemon with a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_path_admin_sockets_stay_private() {
    let base = tempfile::tempdir().expect("dir");
    let data = base.path().join("d".repeat(100));
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_cacheplane"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("CACHEPLANE_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("CACHEPLANE_SECRET_ACCESS_KEY", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start")
    };
    struct Stop(std::process::Child, PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            if let Ok(rd) = std::fs::read_dir(self.1.join("nodes")) {
                for e in rd.flatten() {
                    if let Some(pid) = std::fs::read_to_string(e.path().join("redis.pid"))
                        .ok()
                        .and_then(|s| s.trim().parse::<i32>().ok())
                    {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
    }
    let mut d = Stop(start(), data.clone());
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(d.0.stdout.as_mut().expect("stdout")),
        &mut line,
    )
    .expect("line");
    let addr = api_address(line.trim_end()).unwrap_or_else(|| panic!("{line}"));
    let c = client_for(&format!("http://{addr}"), ACCESS_KEY_ID, SECRET);
    c.create_replication_group()
        .replication_group_id("deep")
        .replication_group_description("deep")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("create");
    wait_available(&c, "deep", Duration::from_secs(30)).await;
    let conf = std::fs::read_to_string(data.join("nodes/deep-001/redis.conf")).expect("conf");
    let socket = conf
        .lines()
        .find_map(|l| l.strip_prefix("unixsocket "))
        .expect("unixsocket line")
        .trim_matches('"')
        .to_string();
    let dir = Path::new(&socket).parent().expect("parent").to_path_buf();
    assert!(!socket.starts_with(&*data.to_string_lossy()), "{socket}");
    let meta = std::fs::symlink_metadata(&dir).expect("socket dir");
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o777, 0o700, "{}", dir.display());
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    drop(d);

    // Others may enter it now: the daemon refuses to start, and says why.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = start().wait_with_output().expect("second start");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a private directory"), "{err}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A group found with two primaries (a replica promoted behind the control plane's back) is brought back to the
/// one its state names: the other is made its replica again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_primaries_are_resolved_to_the_named_one() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("dual")
        .replication_group_description("two primaries")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    wait_available(&c, "dual", Duration::from_secs(30)).await;
    let admin = |node: &str| node_admin(&d, node);
    let role = |node: &'static str| {
        let client = admin(node);
        async move {
            let mut c = client
                .get_multiplexed_async_connection()
                .await
                .expect("admin conn");
            let v: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.expect("role");
            match v.first() {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).to_string(),
                other => format!("{other:?}"),
            }
        }
    };
    let mut r = admin("dual-002")
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut r)
        .await
        .expect("promote behind its back");
    assert_eq!(role("dual-002").await, "master");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while role("dual-002").await != "slave" {
        assert!(
            std::time::Instant::now() < deadline,
            "the second primary was never demoted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(role("dual-001").await, "master");
}

/// An access rule naming a command (or subcommand) the engines do not know is refused with AWS's error: a node
/// would refuse it too, and could not start with it in its config (before the fix, such a user's group ended
/// `create-failed`). The vocabulary is each engine build's own (`COMMAND`), common to every registered build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_name_only_commands_the_engines_know() {
    let d = Daemon::start_with_two_engines();
    let c = d.client();
    for (i, (access, want)) in [
        ("on ~* +nosuchcommand", "InvalidParameterValue"),
        ("on ~* +config|nosuch", "InvalidParameterValue"),
        ("on ~* -gett", "InvalidParameterValue"),
        ("on ~* +get +client|list -flushall +select|0", "ok"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = c
            .create_user()
            .user_id(format!("v{i}"))
            .user_name(format!("v{i}"))
            .engine("redis")
            .access_string(access)
            .no_password_required(true)
            .send()
            .await;
        assert_eq!(outcome(r), want, "{access}");
    }
    // The accepted one really works on a node (user groups need TLS, which only the 7.0 build has here).
    c.create_user()
        .user_id("open-default")
        .user_name("default")
        .engine("redis")
        .access_string("on ~* +@all")
        .no_password_required(true)
        .send()
        .await
        .expect("default");
    c.create_user_group()
        .user_group_id("vocab")
        .engine("redis")
        .user_ids("open-default")
        .user_ids("v3")
        .send()
        .await
        .expect("user group");
    wait_user_group_active(&c, "vocab").await;
    for (id, version) in [("vocab-new", "7.0")] {
        c.create_replication_group()
            .replication_group_id(id)
            .replication_group_description("vocabulary")
            .num_cache_clusters(1)
            .engine_version(version)
            .transit_encryption_enabled(true)
            .user_group_ids("vocab")
            .send()
            .await
            .expect("create");
    }
    wait_available(&c, "vocab-new", Duration::from_secs(30)).await;
}
