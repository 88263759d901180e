//! AUTH tokens through the real SDK and real TLS connections: a token at creation is required on every
//! connection; `ROTATE` keeps the previous token valid (at most the two newest) while clients using it run
//! without a failure; `SET` leaves exactly one; a group that had none stays open to unauthenticated clients
//! after a first `ROTATE` until `SET`. Every rule of AWS's answers with its error, and no token is ever found
//! in clear in the data directory or the daemon's log.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, ReplicationGroup};
use aws_sdk_elasticache::Client;
use common::*;
use redis::AsyncCommands;

// Distinct enough that a grep of the data directory and the log cannot match anything else.
const A: &str = "tokenAAAA-7f3e91c2d4b8";
const B: &str = "tokenBBBB-2a6d05e8f1c9";
const C: &str = "tokenCCCC-94b1e7d3a6f0";
const D: &str = "tokenDDDD-5c8f2b0e9d71";
const E: &str = "tokenEEEE-0e4a7c19b3d6";

/// Whether a new connection can `SET` a key.
async fn can_write(c: &redis::Client) -> bool {
    match client_conn_with_timeout(c, Duration::from_secs(1)).await {
        Ok(mut conn) => conn.set::<_, _, ()>("probe", "1").await.is_ok(),
        Err(_) => false,
    }
}

/// Whether a new connection can `GET` a key (a replica refuses writes).
async fn can_read(c: &redis::Client) -> bool {
    match client_conn_with_timeout(c, Duration::from_secs(1)).await {
        Ok(mut conn) => conn.get::<_, Option<String>>("k").await.is_ok(),
        Err(_) => false,
    }
}

async fn modify_auth(
    c: &Client,
    id: &str,
    token: Option<&str>,
    strategy: Option<AuthTokenUpdateStrategyType>,
) -> Result<ReplicationGroup, String> {
    let mut req = c
        .modify_replication_group()
        .replication_group_id(id)
        .apply_immediately(true);
    if let Some(t) = token {
        req = req.auth_token(t);
    }
    if let Some(s) = strategy {
        req = req.auth_token_update_strategy(s);
    }
    match req.send().await {
        Ok(out) => Ok(out.replication_group().expect("group").clone()),
        Err(e) => Err(format!(
            "{}: {}",
            e.code().unwrap_or("?"),
            e.message().unwrap_or("")
        )),
    }
}

fn grep(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(grep(&p, needle));
        } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            found.push(p);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_rotate_and_set_without_failing_a_client() {
    let logs = tempfile::tempdir().expect("log dir");
    let log = logs.path().join("daemon.log");
    let d = Daemon::start_logging_to(log.clone());
    let c = d.client();
    let ca = d.data_dir().join("tls").join("ca.pem");

    // AUTH needs TLS.
    let e = c
        .create_replication_group()
        .replication_group_id("auth-bad")
        .replication_group_description("token without tls")
        .auth_token(A)
        .send()
        .await
        .expect_err("token without TLS");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    let e = c
        .create_replication_group()
        .replication_group_id("auth-bad")
        .replication_group_description("short token")
        .transit_encryption_enabled(true)
        .auth_token("short")
        .send()
        .await
        .expect_err("short token");
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    c.create_replication_group()
        .replication_group_id("auth-rg")
        .replication_group_description("tokens")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .auth_token(A)
        .send()
        .await
        .expect("create with a token");
    let g = wait_available(&c, "auth-rg", Duration::from_secs(30)).await;
    assert_eq!(g.auth_token_enabled(), Some(true));
    assert!(g.auth_token_last_modified_date().is_some());
    let ep = primary_addr(&g);
    let replica = replica_addr(&g);
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, None)).await,
        "no token: refused"
    );
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, Some(B))).await,
        "a wrong token: refused"
    );
    let mut conn = client_conn_with_timeout(
        &tls_client_as(&ep, &ca, None, Some(A)),
        Duration::from_secs(2),
    )
    .await
    .expect("token A");
    let _: () = conn.set("k", "v").await.expect("set with A");
    let mut r = client_conn_with_timeout(
        &tls_client_as(&replica, &ca, None, Some(A)),
        Duration::from_secs(2),
    )
    .await
    .expect("replica with A");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while r
        .get::<_, Option<String>>("k")
        .await
        .expect("get")
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "replicated");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // ROTATE to B while a client using A keeps writing (new connections after every error).
    let with_a = Writer::start_client(tls_client_as(&ep, &ca, None, Some(A)), "counter-a");
    with_a.wait_for_more_acks(50).await;
    let out = modify_auth(
        &c,
        "auth-rg",
        Some(B),
        Some(AuthTokenUpdateStrategyType::Rotate),
    )
    .await
    .expect("rotate");
    assert_eq!(out.status(), Some("modifying"));
    assert_eq!(
        out.pending_modified_values()
            .and_then(|p| p.auth_token_status())
            .map(|s| s.as_str()),
        Some("ROTATING")
    );
    let before = g.auth_token_last_modified_date().copied();
    let g = wait_available(&c, "auth-rg", Duration::from_secs(30)).await;
    assert!(g
        .pending_modified_values()
        .and_then(|p| p.auth_token_status())
        .is_none());
    assert!(g.auth_token_last_modified_date().copied() > before);
    with_a.wait_for_more_acks(50).await;
    let log_a = with_a.stop().await;
    assert!(!log_a.acks.is_empty(), "the writer ran");
    assert_eq!(
        log_a.errors, 0,
        "a client using the old token never failed during ROTATE"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(A))).await,
        "A still works"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(B))).await,
        "B works"
    );
    assert!(
        can_read(&tls_client_as(&replica, &ca, None, Some(B))).await,
        "B works on the replica"
    );
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, None)).await,
        "no token: refused"
    );

    // SET must name the token of the last ROTATE.
    let e = modify_auth(
        &c,
        "auth-rg",
        Some(A),
        Some(AuthTokenUpdateStrategyType::Set),
    )
    .await
    .expect_err("SET with the older token");
    assert!(e.starts_with("InvalidParameterValue"), "{e}");
    let with_b = Writer::start_client(tls_client_as(&ep, &ca, None, Some(B)), "counter-b");
    with_b.wait_for_more_acks(50).await;
    let out = modify_auth(
        &c,
        "auth-rg",
        Some(B),
        Some(AuthTokenUpdateStrategyType::Set),
    )
    .await
    .expect("set");
    assert_eq!(
        out.pending_modified_values()
            .and_then(|p| p.auth_token_status())
            .map(|s| s.as_str()),
        Some("SETTING")
    );
    wait_available(&c, "auth-rg", Duration::from_secs(30)).await;
    with_b.wait_for_more_acks(50).await;
    let log_b = with_b.stop().await;
    assert_eq!(
        log_b.errors, 0,
        "a client using the new token never failed during SET"
    );
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, Some(A))).await,
        "after SET, A is refused"
    );
    assert!(
        !can_read(&tls_client_as(&replica, &ca, None, Some(A))).await,
        "on the replica too"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(B))).await,
        "B works"
    );

    // At most the two newest tokens are valid.
    modify_auth(&c, "auth-rg", Some(C), None)
        .await
        .expect("rotate C (the default strategy)");
    wait_available(&c, "auth-rg", Duration::from_secs(30)).await;
    modify_auth(
        &c,
        "auth-rg",
        Some(D),
        Some(AuthTokenUpdateStrategyType::Rotate),
    )
    .await
    .expect("rotate D");
    wait_available(&c, "auth-rg", Duration::from_secs(30)).await;
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, Some(B))).await,
        "B dropped: two newer tokens"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(C))).await,
        "C works"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(D))).await,
        "D works"
    );

    // A restarted node comes back with the same tokens (they are in its config as hashes only).
    let pid = node_pid(&d, "auth-rg-001");
    let _ = c
        .reboot_cache_cluster()
        .cache_cluster_id("auth-rg-001")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    eventually("auth-rg-001 restarted", Duration::from_secs(30), || async {
        let now = node_pid(&d, "auth-rg-001");
        now != pid && engine::process::is_redis_alive(now)
    })
    .await;
    let g = wait_available(&c, "auth-rg", Duration::from_secs(30)).await;
    let node = g.node_groups()[0]
        .node_group_members()
        .iter()
        .find(|m| m.cache_cluster_id() == Some("auth-rg-001"))
        .and_then(|m| m.read_endpoint())
        .map(|e| {
            (
                e.address().expect("a").to_string(),
                e.port().expect("p") as u16,
            )
        })
        .expect("node 001");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !can_write(&tls_client_as(&ep, &ca, None, Some(D))).await {
        assert!(std::time::Instant::now() < deadline, "back after reboot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut n = client_conn_with_timeout(
        &tls_client_as(&node, &ca, None, Some(C)),
        Duration::from_secs(2),
    )
    .await
    .expect("C on the rebooted node");
    let _: Option<String> = n.get("k").await.expect("C is accepted after the reboot");
    assert!(
        !can_read(&tls_client_as(&node, &ca, None, Some(B))).await,
        "B stays refused after the reboot"
    );
    let mut n = client_conn_with_timeout(
        &tls_client_as(&node, &ca, None, None),
        Duration::from_secs(2),
    )
    .await
    .expect("connect");
    let r: redis::RedisResult<Option<String>> = n.get("k").await;
    assert!(r.is_err(), "no token refused on the rebooted node");

    // Errors: each rule, changing nothing.
    c.create_replication_group()
        .replication_group_id("auth-plain")
        .replication_group_description("no tls")
        .send()
        .await
        .expect("create");
    wait_available(&c, "auth-plain", Duration::from_secs(30)).await;
    for (id, token, strategy, code) in [
        ("auth-plain", Some(E), None, "InvalidParameterCombination"),
        ("auth-rg", Some("short"), None, "InvalidParameterValue"),
        (
            "auth-rg",
            Some("bad/character-in-token"),
            None,
            "InvalidParameterValue",
        ),
        (
            "auth-rg",
            None,
            Some(AuthTokenUpdateStrategyType::Rotate),
            "InvalidParameterCombination",
        ),
        (
            "auth-rg",
            None,
            Some(AuthTokenUpdateStrategyType::Delete),
            "InvalidParameterValue",
        ),
        (
            "auth-rg",
            Some(E),
            Some(AuthTokenUpdateStrategyType::Delete),
            "InvalidParameterCombination",
        ),
    ] {
        let e = modify_auth(&c, id, token, strategy.clone())
            .await
            .expect_err("refused");
        assert!(e.starts_with(code), "{id} {token:?} {strategy:?}: {e}");
    }
    modify_auth_tls_off(&c).await;
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(D))).await,
        "nothing changed"
    );

    // Nothing holds a token in clear.
    let _ = c
        .delete_replication_group()
        .replication_group_id("auth-plain")
        .send()
        .await;
    for t in [A, B, C, D, E] {
        let found = grep(d.data_dir(), t.as_bytes());
        assert!(found.is_empty(), "{t} in clear in {found:?}");
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(!text.contains(t), "{t} in the daemon's log");
    }
    assert!(
        std::fs::read_to_string(&log)
            .expect("log")
            .contains("customer ACL applied"),
        "the log was written at debug level while tokens changed"
    );
}

async fn modify_auth_tls_off(c: &Client) {
    let e = c
        .modify_replication_group()
        .replication_group_id("auth-rg")
        .transit_encryption_mode("preferred".into())
        .send()
        .await;
    // preferred is allowed with a token; turning TLS off is not.
    e.expect("to preferred");
    wait_available(c, "auth-rg", Duration::from_secs(30)).await;
    let e = c
        .modify_replication_group()
        .replication_group_id("auth-rg")
        .transit_encryption_enabled(false)
        .send()
        .await
        .expect_err("TLS off with a token");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    c.modify_replication_group()
        .replication_group_id("auth-rg")
        .transit_encryption_mode("required".into())
        .send()
        .await
        .expect("back to required");
    wait_available(c, "auth-rg", Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_rotate_keeps_unauthenticated_clients_until_set() {
    let d = Daemon::start();
    let c = d.client();
    let ca = d.data_dir().join("tls").join("ca.pem");
    c.create_replication_group()
        .replication_group_id("auth-open")
        .replication_group_description("no token yet")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "auth-open", Duration::from_secs(30)).await;
    assert_eq!(g.auth_token_enabled(), Some(false));
    let ep = primary_addr(&g);
    let open = Writer::start_client(tls_client_as(&ep, &ca, None, None), "counter-open");
    open.wait_for_more_acks(50).await;
    let out = modify_auth(&c, "auth-open", Some(E), None)
        .await
        .expect("rotate");
    assert_eq!(
        out.auth_token_enabled(),
        Some(false),
        "not enabled until applied"
    );
    let g = wait_available(&c, "auth-open", Duration::from_secs(30)).await;
    assert_eq!(g.auth_token_enabled(), Some(true));
    let log = open.stop().await;
    assert_eq!(
        log.errors, 0,
        "unauthenticated clients kept working through the first ROTATE"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, None)).await,
        "still open until SET"
    );
    // While open, Redis takes the token as `AUTH default <token>`; the two-argument `AUTH <token>` is refused
    // by Redis while its default user has no password (see the README).
    assert!(
        can_write(&tls_client_as(&ep, &ca, Some("default"), Some(E))).await,
        "the token works"
    );
    modify_auth(
        &c,
        "auth-open",
        Some(E),
        Some(AuthTokenUpdateStrategyType::Set),
    )
    .await
    .expect("set");
    wait_available(&c, "auth-open", Duration::from_secs(30)).await;
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, None)).await,
        "closed after SET"
    );
    assert!(
        !can_write(&tls_client_as(&ep, &ca, None, Some(A))).await,
        "a wrong token is refused"
    );
    assert!(
        can_write(&tls_client_as(&ep, &ca, None, Some(E))).await,
        "the token works"
    );
}
