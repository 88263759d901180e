//! `TestMigration` through the real SDK against plain `redis-server` sources this test starts itself: a good
//! source passes and nothing is copied; each broken prerequisite fails with an event naming it; AWS's errors.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::CustomerNodeEndpoint;
use aws_sdk_elasticache::Client;
use common::*;

/// A `redis-server` outside Cacheplane, killed (by pid) on drop.
struct Source {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Source {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let child = Command::new(engine::binary::find_on_path().expect("redis-server"))
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("source redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "source did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn endpoint(&self) -> CustomerNodeEndpoint {
        endpoint(self.port)
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn endpoint(port: u16) -> CustomerNodeEndpoint {
    CustomerNodeEndpoint::builder()
        .address("127.0.0.1")
        .port(i32::from(port))
        .build()
}

async fn create(c: &Client, id: &str, multi_az: bool) {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("migration target")
        .num_cache_clusters(2)
        .automatic_failover_enabled(multi_az)
        .multi_az_enabled(multi_az)
        .send()
        .await
        .expect("create");
    wait_available(c, id, Duration::from_secs(30)).await;
}

/// Runs `TestMigration` and waits for its outcome event; returns it.
async fn test_migration(c: &Client, id: &str, ep: CustomerNodeEndpoint) -> String {
    let before = event_messages(c, id).await.len();
    let out = c
        .test_migration()
        .replication_group_id(id)
        .customer_node_endpoint_list(ep)
        .send()
        .await
        .expect("test migration");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("available")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = event_messages(c, id).await;
        if let Some(m) = events[before..].iter().find(|m| {
            m.starts_with("Test migration succeeded") || m.starts_with("Test migration failed")
        }) {
            return m.clone();
        }
        assert!(Instant::now() < deadline, "no outcome: {events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_migration_checks_source_and_target_and_copies_nothing() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mig", true).await;
    create(&c, "mig-single-az", false).await;

    let good = Source::start(&[]);
    let mut s = redis_conn(&format!("redis://127.0.0.1:{}/", good.port)).await;
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.set(format!("k{i}"), i).ignore();
    }
    let _: () = pipe.query_async(&mut s).await.expect("fill source");

    let outcome = test_migration(&c, "mig", good.endpoint()).await;
    assert!(
        outcome.starts_with("Test migration succeeded for mig"),
        "{outcome}"
    );
    assert!(outcome.contains("1000 keys"), "{outcome}");
    let g = describe_group(&c, "mig").await;
    assert_eq!(g.status(), Some("available"));
    for (id, _, url) in members_of(&g) {
        let mut n = redis_conn(&url).await;
        let size: i64 = redis::cmd("DBSIZE")
            .query_async(&mut n)
            .await
            .expect("dbsize");
        assert_eq!(size, 0, "{id}: a test copies nothing");
    }

    // Each broken prerequisite, named in the failure event.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let outcome = test_migration(&c, "mig", endpoint(closed)).await;
    assert!(outcome.contains("cannot be reached"), "{outcome}");
    let auth = Source::start(&["--requirepass", "s3cret-pass"]);
    let outcome = test_migration(&c, "mig", auth.endpoint()).await;
    assert!(outcome.contains("requires AUTH"), "{outcome}");
    let dbs = Source::start(&["--databases", "8"]);
    let outcome = test_migration(&c, "mig", dbs.endpoint()).await;
    assert!(outcome.contains("databases check"), "{outcome}");
    let cluster_dir = tempfile::tempdir().expect("dir");
    let nodes_conf = cluster_dir.path().join("nodes.conf");
    let cluster = Source::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        nodes_conf.to_str().expect("path"),
    ]);
    let outcome = test_migration(&c, "mig", cluster.endpoint()).await;
    assert!(outcome.contains("cluster mode check"), "{outcome}");
    let outcome = test_migration(&c, "mig-single-az", good.endpoint()).await;
    assert!(outcome.contains("Multi-AZ check"), "{outcome}");
    // A source holding more than the target's node type (cache.t3.micro: 512 MiB) can fit.
    let big = Source::start(&[]);
    let mut b = redis_conn(&format!("redis://127.0.0.1:{}/", big.port)).await;
    let value = vec![b'x'; 1 << 20];
    for i in 0..560 {
        let _: () = redis::cmd("SET")
            .arg(format!("big:{i}"))
            .arg(&value)
            .query_async(&mut b)
            .await
            .expect("set");
    }
    let outcome = test_migration(&c, "mig", big.endpoint()).await;
    assert!(outcome.contains("memory check"), "{outcome}");
    // The source is untouched.
    let size: i64 = redis::cmd("DBSIZE")
        .query_async(&mut s)
        .await
        .expect("dbsize");
    assert_eq!(size, 1000);
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut s).await.expect("role");
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_migration_errors() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mig-err", true).await;
    let e = c
        .test_migration()
        .replication_group_id("nope")
        .customer_node_endpoint_list(endpoint(6379))
        .send()
        .await
        .expect_err("no group");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));
    let e = c
        .test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(endpoint(6379))
        .customer_node_endpoint_list(endpoint(6380))
        .send()
        .await
        .expect_err("two endpoints");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = c
        .test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(endpoint(0))
        .send()
        .await
        .expect_err("bad port");
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    // A source that accepts the connection and never answers keeps a test running for its timeout: a second
    // test meanwhile is refused.
    let frozen = Source::start(&[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(frozen.child.id() as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("stop");
    c.test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(frozen.endpoint())
        .send()
        .await
        .expect("first test");
    let e = c
        .test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(frozen.endpoint())
        .send()
        .await
        .expect_err("already testing");
    assert_eq!(e.code(), Some("ReplicationGroupAlreadyUnderMigrationFault"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = event_messages(&c, "mig-err").await;
        if let Some(m) = events
            .iter()
            .find(|m| m.starts_with("Test migration failed"))
        {
            assert!(m.contains("mig-err"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(frozen.child.id() as i32),
        nix::sys::signal::Signal::SIGCONT,
    );
}
