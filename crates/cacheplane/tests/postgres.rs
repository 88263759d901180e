//! The state in PostgreSQL (`serve --store`), with several daemons on it: every daemon answers the API from the
//! one state, only the leader runs the nodes, and when the leader is killed another daemon of the machine leads and
//! finishes what was under way. The tests start their own PostgreSQL server (Debian's, in a temporary directory).

mod common;

use std::time::{Duration, Instant};

use common::*;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_on_one_store_answer_alike_and_a_follower_finishes_what_the_killed_leader_began() {
    let server = testpg::TestPostgres::start();
    let url = server.database("cacheplane");
    let mut a = Daemon::start_with_args("info", &["--store", &url]);
    let (_, first) = wait_leader(&url, None).await;
    let b = Daemon::beside(&a, &["--store", &url]);
    let (ca, cb) = (a.client(), b.client());

    // Created through the follower, run by the leader; both answer the same.
    cb.create_replication_group()
        .replication_group_id("pg")
        .replication_group_description("on postgresql")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create through the follower");
    let g = wait_available(&ca, "pg", Duration::from_secs(30)).await;
    let seen_by_b = wait_available(&cb, "pg", Duration::from_secs(5)).await;
    assert_eq!(g.member_clusters(), seen_by_b.member_clusters());
    assert_eq!(
        g.node_groups()[0].primary_endpoint(),
        seen_by_b.node_groups()[0].primary_endpoint()
    );
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("primary"));
    let reader = redis_url(g.node_groups()[0].reader_endpoint().expect("reader"));
    let mut p = redis_conn(&primary).await;
    let _: () = p.set("written", "through the primary").await.expect("set");
    wait_value(&reader, "written", "through the primary").await;

    // A name taken through one daemon is taken for the other: commits are serialised on the store.
    let e = ca
        .create_replication_group()
        .replication_group_id("pg")
        .replication_group_description("again")
        .num_cache_clusters(1)
        .send()
        .await
        .expect_err("taken")
        .into_service_error();
    assert!(e.is_replication_group_already_exists_fault(), "{e:?}");

    // The leader is killed just after a long operation began (through the follower): the follower leads under a
    // higher generation and the operation completes with real nodes.
    cb.increase_replica_count()
        .replication_group_id("pg")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .expect("increase");
    let killed = Instant::now();
    a.kill9();
    let (_, next) = wait_leader(&url, Some(first)).await;
    eprintln!(
        "the follower leads {} ms after the leader's kill (generation {first} -> {next})",
        killed.elapsed().as_millis()
    );
    assert!(next > first);
    let g = wait_available(&cb, "pg", Duration::from_secs(30)).await;
    assert_eq!(g.member_clusters(), ["pg-001", "pg-002", "pg-003"]);
    for (id, role, url) in members_of(&g) {
        assert!(!role.is_empty(), "{id} has a role");
        wait_value(&url, "written", "through the primary").await;
    }

    // The old leader, started again, follows and answers from the one state.
    a.spawn();
    let again = a.client();
    let g = wait_available(&again, "pg", Duration::from_secs(10)).await;
    assert_eq!(g.member_clusters().len(), 3);
    assert_eq!(leader_row(&url).map(|(_, g)| g), Some(next));
    drop(ca);
    cb.delete_replication_group()
        .replication_group_id("pg")
        .send()
        .await
        .expect("delete");
    wait_deleted(&again, "pg", Duration::from_secs(30)).await;
}
