//! `kill -9` of the daemon stops no node; a restart re-adopts running nodes (same pids), restarts dead ones from
//! their data, and finishes a create that was in flight.

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_while_available_then_restart() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("keep")
        .replication_group_description("restart")
        .num_cache_clusters(3)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "keep", Duration::from_secs(30)).await;
    let primary_ep = g.node_groups()[0].primary_endpoint().expect("ep").clone();
    let mut p = redis_conn(&redis_url(&primary_ep)).await;
    for i in 0..100 {
        let _: () = p.set(format!("k{i}"), i).await.expect("set");
    }
    let _: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query_async(&mut p)
        .await
        .expect("wait");
    drop(p);
    let before = d.node_pids();
    assert_eq!(before.len(), 3);

    d.kill9();
    for (name, pid) in &before {
        assert!(
            engine::process::is_redis_alive(*pid),
            "{name} died with the daemon"
        );
    }
    // One node dies while the daemon is down: it must come back from its data.
    let (dead_name, dead_pid) = before[2].clone();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dead_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");

    d.spawn();
    let c = d.client();
    let g = wait_available(&c, "keep", Duration::from_secs(30)).await;
    assert_eq!(
        g.node_groups()[0].primary_endpoint(),
        Some(&primary_ep),
        "endpoint address kept"
    );
    // Wait for the reconciler to notice and restart the dead node.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        // A node being started has no pid file for a moment: wait for all three.
        let now = d.node_pids();
        if now.len() == before.len()
            && now
                .iter()
                .all(|(_, pid)| engine::process::is_redis_alive(*pid))
        {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dead node not restarted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for ((name, pid), (_, old)) in after.iter().zip(&before) {
        if *name == dead_name {
            assert_ne!(pid, old, "{name} was restarted");
        } else {
            assert_eq!(pid, old, "{name} was adopted, not restarted");
        }
    }
    let mut p = redis_conn(&redis_url(&primary_ep)).await;
    for i in 0..100 {
        let v: i64 = p.get(format!("k{i}")).await.expect("get");
        assert_eq!(v, i);
    }
    // The restarted replica resynchronised and holds the keys too.
    let g = wait_available(&c, "keep", Duration::from_secs(5)).await;
    let m = g.node_groups()[0]
        .node_group_members()
        .iter()
        .find(|m| m.cache_cluster_id() == Some(&dead_name))
        .expect("m")
        .clone();
    let url = redis_url(m.read_endpoint().expect("ep"));
    // The restarted node may still be loading its data (10 s for both waits, as one deadline).
    let start = std::time::Instant::now();
    let r = eventually(
        &format!("a connection to {url}"),
        Duration::from_secs(10),
        || redis_conn_with_timeout(&url, Duration::from_secs(1)),
    )
    .await;
    let left = Duration::from_secs(10).saturating_sub(start.elapsed());
    eventually("the restarted replica synced", left, || {
        let mut r = r.clone();
        async move {
            let v: Option<i64> = r.get("k99").await.unwrap_or(None);
            (v == Some(99)).then_some(()).ok_or(v)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_while_creating_then_restart() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("inflight")
        .replication_group_description("restart while creating")
        .num_cache_clusters(3)
        .send()
        .await
        .expect("create");
    // Killed right after the API answered: the group is stored as creating, its nodes may or may not exist.
    d.kill9();
    let before = d.node_pids();
    d.spawn();
    let c = d.client();
    let g = wait_available(&c, "inflight", Duration::from_secs(30)).await;
    let after = d.node_pids();
    assert_eq!(after.len(), 3);
    for (name, pid) in &before {
        if engine::process::is_redis_alive(*pid) {
            assert!(
                after.contains(&(name.clone(), *pid)),
                "{name} running before the restart was adopted"
            );
        }
    }
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("ep"),
    ))
    .await;
    let _: () = p.set("after", "restart").await.expect("set");
    let n: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query_async(&mut p)
        .await
        .expect("wait");
    assert_eq!(n, 2, "both replicas acknowledge");
}
