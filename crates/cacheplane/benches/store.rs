//! The state in PostgreSQL against the embedded SQLite store (issue 31), printed as figures (never asserted), in one
//! run on this machine: for one daemon on SQLite, the leader of two daemons on one PostgreSQL store, and the
//! follower (the second daemon, which runs no worker and answers from the state it catches up with):
//! 1. `CreateReplicationGroup` (1 primary + 2 replicas) to `available`, as seen through that daemon, 5 runs;
//! 2. `DescribeReplicationGroups` over 10 groups: requests/s and p99 (8 connections, 5 s);
//! 3. `ModifyReplicationGroup` of a description, changed back and forth (each one commit, with nothing for the nodes
//!    to do): commits/s, 8 connections, each its own group;
//! 4. the leader's `SIGKILL`: until the follower leads (it holds the data directory).
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench store` (PostgreSQL from Debian's `postgresql`, which
//! `scripts/test.sh` installs).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{load, percentile, send, sign, Daemon, CONCURRENCY, LOAD_SECONDS};

const GROUPS: usize = 10;

fn status_of(xml: &str) -> Option<&str> {
    let start = xml.find("<Status>")? + "<Status>".len();
    Some(&xml[start..start + xml[start..].find("</Status>")?])
}

fn create_body(id: &str) -> String {
    format!("Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId={id}&ReplicationGroupDescription=bench&NumCacheClusters=3&CacheNodeType=cache.t3.micro&Engine=redis")
}

async fn wait_status(client: &reqwest::Client, endpoint: &str, id: &str, want: &str) {
    let describe = sign(
        endpoint,
        &format!("Action=DescribeReplicationGroups&Version=2015-02-02&ReplicationGroupId={id}"),
    );
    let t = Instant::now();
    loop {
        let (_, xml) = send(client, &describe).await;
        if status_of(&xml) == Some(want) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{id} never {want}: {xml}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The figures of one daemon: create → available (median of 5), describe req/s and p99, modify req/s.
async fn figures(label: &str, endpoint: &str, prefix: &str) {
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for i in 0..5 {
        let id = format!("{prefix}c{i}");
        let t = Instant::now();
        let (st, xml) = send(&client, &sign(endpoint, &create_body(&id))).await;
        assert_eq!(st, 200, "{xml}");
        wait_status(&client, endpoint, &id, "available").await;
        times.push(t.elapsed());
        let delete =
            format!("Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId={id}");
        send(&client, &sign(endpoint, &delete)).await;
    }
    times.sort();
    let all = sign(
        endpoint,
        "Action=DescribeReplicationGroups&Version=2015-02-02",
    );
    let (rps, _, p99, errors) = load(&all).await;
    // One group per connection: its description changed back and forth, each change one commit.
    let mut modifies = Vec::new();
    for i in 0..CONCURRENCY {
        let body = |d: &str| {
            format!(
                "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId={prefix}g{i:02}&ReplicationGroupDescription={d}&ApplyImmediately=true"
            )
        };
        modifies.push([sign(endpoint, &body("one")), sign(endpoint, &body("two"))]);
    }
    let t = Instant::now();
    let deadline = t + Duration::from_secs(LOAD_SECONDS);
    let mut tasks = Vec::new();
    for reqs in modifies {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, 0usize);
            while Instant::now() < deadline {
                let (st, _) = send(&client, &reqs[(ok + failed) % 2]).await;
                if st == 200 {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await.expect("task");
        ok += o;
        failed += f;
    }
    println!(
        "{label}: create-to-available median {:.0} ms (min {:.0}, max {:.0}); DescribeReplicationGroups ({GROUPS} groups, \
         {CONCURRENCY} connections, {LOAD_SECONDS} s) {rps:.0} req/s, p99 {:.2} ms, {errors} errors; \
         ModifyReplicationGroup (a description, changed each time) {:.0} commits/s, {failed} refused",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        ok as f64 / t.elapsed().as_secs_f64(),
    );
}

async fn make_groups(endpoint: &str, prefix: &str) {
    let client = reqwest::Client::new();
    for i in 0..GROUPS {
        let id = format!("{prefix}g{i:02}");
        let (st, xml) = send(&client, &sign(endpoint, &create_body(&id))).await;
        assert_eq!(st, 200, "{xml}");
    }
    for i in 0..GROUPS {
        wait_status(&client, endpoint, &format!("{prefix}g{i:02}"), "available").await;
    }
}

/// The pid the data directory's lock file names: the daemon holding it.
fn lock_holder(d: &Daemon) -> Option<u32> {
    let text = std::fs::read_to_string(d.data_dir().join("daemon.lock")).ok()?;
    text.strip_prefix("pid ")?.split(',').next()?.parse().ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    {
        let alone = Daemon::start_logging("warn");
        make_groups(&alone.endpoint(), "s").await;
        figures("SQLite, one daemon", &alone.endpoint(), "s").await;
    }
    let server = testpg::TestPostgres::start();
    let url = server.database("bench");
    let mut leader = Daemon::start_with_args("warn", &["--store", &url]);
    let first = leader.child.as_ref().map(|c| c.id());
    let t = Instant::now();
    while lock_holder(&leader) != first {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the first daemon never led"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut follower = Daemon::beside(&leader, &["--store", &url]);
    follower.log = "warn";
    make_groups(&leader.endpoint(), "p").await;
    figures(
        "PostgreSQL, the leader of two daemons",
        &leader.endpoint(),
        "p",
    )
    .await;
    figures(
        "PostgreSQL, the follower of two daemons",
        &follower.endpoint(),
        "p",
    )
    .await;

    let next = follower.child.as_ref().map(|c| c.id());
    let t = Instant::now();
    leader.kill9();
    while lock_holder(&follower) != next {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the follower never led"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "the leader's SIGKILL: the follower leads (holds the data directory) {:.0} ms later (lease 1.5 s, renewed every 250 ms)",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(follower);
    drop(leader);
}
