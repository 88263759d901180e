//! TLS in transit through the real SDK and real TLS connections: a group created with TLS serves only TLS
//! (replication included), clients verify the node certificate for the endpoint address against the
//! deployment's CA; an existing group moves plaintext → `preferred` → `required` with writers running, and
//! AWS's rules for the two steps answer with AWS's errors.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::ReplicationGroup;
use aws_sdk_elasticache::Client;
use common::*;
use redis::AsyncCommands;

fn ca_of(d: &Daemon) -> PathBuf {
    d.data_dir().join("tls").join("ca.pem")
}

/// A CA that signed nothing of this deployment's.
fn wrong_ca() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = engine::tls::Authority::load_or_create(dir.path()).expect("other CA");
    let path = ca.bundle().to_path_buf();
    (dir, path)
}

/// Whether a new connection through `client` can run `PING` within a second.
async fn answers(client: &redis::Client) -> bool {
    match client_conn_with_timeout(client, Duration::from_secs(1)).await {
        Ok(mut c) => redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

fn plain_client(address: &str, port: u16) -> redis::Client {
    redis::Client::open(format!("redis://{address}:{port}/")).expect("url")
}

async fn get_eventually(client: &redis::Client, key: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = client_conn_with_timeout(client, Duration::from_secs(1)).await {
            if c.get::<_, Option<String>>(key)
                .await
                .ok()
                .flatten()
                .as_deref()
                == Some(want)
            {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{key} never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn modify_transit(
    c: &Client,
    id: &str,
    enabled: Option<bool>,
    mode: Option<&str>,
) -> Result<ReplicationGroup, String> {
    let mut req = c.modify_replication_group().replication_group_id(id);
    if let Some(e) = enabled {
        req = req.transit_encryption_enabled(e);
    }
    if let Some(m) = mode {
        req = req.transit_encryption_mode(m.into());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_at_create_serves_only_verified_tls() {
    let d = Daemon::start();
    let c = d.client();
    let ca = ca_of(&d);
    let (_other, other_ca) = wrong_ca();

    // A mode without TLS is refused; so is TLS on an engine built without it.
    let e = c
        .create_replication_group()
        .replication_group_id("tls-bad")
        .replication_group_description("mode without tls")
        .transit_encryption_mode("required".into())
        .send()
        .await
        .expect_err("mode without TLS");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));

    c.create_replication_group()
        .replication_group_id("tls-req")
        .replication_group_description("tls required")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .send()
        .await
        .expect("create with TLS");
    let g = wait_available(&c, "tls-req", Duration::from_secs(30)).await;
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(
        g.transit_encryption_mode().map(|m| m.as_str()),
        Some("required")
    );
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id("tls-req-002")
        .send()
        .await
        .expect("member");
    assert_eq!(
        cc.cache_clusters()[0].transit_encryption_enabled(),
        Some(true)
    );

    let (addr, port) = primary_addr(&g);
    let tls = tls_client(&addr, port, &ca);
    let mut conn = client_conn_with_timeout(&tls, Duration::from_secs(2))
        .await
        .expect("TLS with the CA, certificate checked for the endpoint address");
    let _: () = conn.set("over-tls", "yes").await.expect("set");
    // The replica's link to the primary is TLS: the primary has no plaintext port at all, yet the key arrives.
    let (raddr, rport) = replica_addr(&g);
    get_eventually(&tls_client(&raddr, rport, &ca), "over-tls", "yes").await;
    assert!(
        !answers(&plain_client(&addr, port)).await,
        "plaintext refused"
    );
    assert!(
        !answers(&tls_client(&addr, port, &other_ca)).await,
        "a certificate from another CA is not trusted"
    );
    // The reader endpoint passes TLS through to a replica, whose certificate names the reader address too.
    let reader = g.node_groups()[0].reader_endpoint().expect("reader");
    let reader = tls_client(
        reader.address().expect("address"),
        reader.port().expect("port") as u16,
        &ca,
    );
    get_eventually(&reader, "over-tls", "yes").await;

    // Created in preferred mode: TLS and plaintext on the same port, replication over TLS.
    c.create_replication_group()
        .replication_group_id("tls-pref")
        .replication_group_description("tls preferred")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .transit_encryption_mode("preferred".into())
        .send()
        .await
        .expect("create preferred");
    let gp = wait_available(&c, "tls-pref", Duration::from_secs(30)).await;
    assert_eq!(
        gp.transit_encryption_mode().map(|m| m.as_str()),
        Some("preferred")
    );
    let (paddr, pport) = primary_addr(&gp);
    let mut pc = client_conn_with_timeout(&plain_client(&paddr, pport), Duration::from_secs(2))
        .await
        .expect("plaintext in preferred");
    let _: () = pc.set("both", "ways").await.expect("set");
    assert!(
        answers(&tls_client(&paddr, pport, &ca)).await,
        "TLS in preferred"
    );
    assert!(
        !answers(&tls_client(&paddr, pport, &other_ca)).await,
        "wrong CA"
    );
    let (rpa, rpp) = replica_addr(&gp);
    get_eventually(&tls_client(&rpa, rpp, &ca), "both", "ways").await;
    // The replica reaches its primary's own TLS port, not the daemon's front on the group's port.
    let mut rc = client_conn_with_timeout(&tls_client(&rpa, rpp, &ca), Duration::from_secs(2))
        .await
        .expect("replica");
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut rc)
        .await
        .expect("info");
    assert!(
        info.contains(&format!("master_port:{}", pport + 2)),
        "replication goes to the TLS port: {info}"
    );

    // Turning TLS off straight from required is refused, and changes nothing.
    let e = modify_transit(&c, "tls-req", Some(false), None)
        .await
        .expect_err("off from required");
    assert!(e.starts_with("InvalidParameterCombination"), "{e}");
    assert_eq!(
        describe_group(&c, "tls-req")
            .await
            .transit_encryption_mode()
            .map(|m| m.as_str()),
        Some("required")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_preferred_to_required_with_writers_running() {
    let d = Daemon::start();
    let c = d.client();
    let ca = ca_of(&d);
    let (_other, other_ca) = wrong_ca();
    c.create_replication_group()
        .replication_group_id("tls-step")
        .replication_group_description("two steps")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "tls-step", Duration::from_secs(30)).await;
    let (addr, port) = primary_addr(&g);
    let mut p = client_conn_with_timeout(&plain_client(&addr, port), Duration::from_secs(2))
        .await
        .expect("plaintext");
    let _: () = p.set("before", "plaintext").await.expect("set");

    // AWS's rules: a mode while TLS is off, or straight to required, is refused.
    for (enabled, mode, want) in [
        (None, Some("required"), "To modify transit encryption mode"),
        (None, Some("preferred"), "To modify transit encryption mode"),
        (Some(true), Some("required"), "two steps"),
        (Some(true), None, "two steps"),
    ] {
        let e = modify_transit(&c, "tls-step", enabled, mode)
            .await
            .expect_err("refused");
        assert!(
            e.starts_with("InvalidParameterCombination") && e.contains(want),
            "{enabled:?} {mode:?}: {e}"
        );
    }
    assert_eq!(
        describe_group(&c, "tls-step")
            .await
            .transit_encryption_enabled(),
        Some(false)
    );

    // Step 1: preferred, with a plaintext writer running across the change.
    let plain_writer = Writer::start(format!("redis://{addr}:{port}/"), "plain-counter");
    plain_writer.wait_for_more_acks(50).await;
    let out = modify_transit(&c, "tls-step", Some(true), Some("preferred"))
        .await
        .expect("preferred");
    assert_eq!(out.status(), Some("modifying"));
    let g = wait_available(&c, "tls-step", Duration::from_secs(30)).await;
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(
        g.transit_encryption_mode().map(|m| m.as_str()),
        Some("preferred")
    );
    plain_writer.wait_for_more_acks(50).await;
    let log = plain_writer.stop().await;
    assert!(!log.acks.is_empty());
    assert_eq!(log.lost(), 0, "no acknowledged write lost");
    assert_eq!(
        log.errors, 0,
        "the plaintext writer kept working in preferred mode"
    );
    // Both kinds on the same port; a wrong CA still fails.
    assert!(
        answers(&plain_client(&addr, port)).await,
        "plaintext in preferred"
    );
    let tls = tls_client(&addr, port, &ca);
    assert!(answers(&tls).await, "TLS in preferred");
    assert!(
        !answers(&tls_client(&addr, port, &other_ca)).await,
        "wrong CA"
    );
    let mut t = client_conn_with_timeout(&tls, Duration::from_secs(2))
        .await
        .expect("tls");
    assert_eq!(
        t.get::<_, Option<String>>("before")
            .await
            .expect("get")
            .as_deref(),
        Some("plaintext"),
        "data kept"
    );
    let _: () = t.set("in-preferred", "tls").await.expect("set");
    let (raddr, rport) = replica_addr(&g);
    get_eventually(&tls_client(&raddr, rport, &ca), "in-preferred", "tls").await;
    get_eventually(&plain_client(&raddr, rport), "in-preferred", "tls").await;

    // Step 2: required, with a TLS writer running across the change.
    let tls_writer = Writer::start_client(tls_client(&addr, port, &ca), "tls-counter");
    tls_writer.wait_for_more_acks(50).await;
    modify_transit(&c, "tls-step", None, Some("required"))
        .await
        .expect("required");
    let g = wait_available(&c, "tls-step", Duration::from_secs(30)).await;
    assert_eq!(
        g.transit_encryption_mode().map(|m| m.as_str()),
        Some("required")
    );
    // The TLS writer writes again after the change: the counter it increments keeps growing.
    let counter = || async {
        let mut conn =
            client_conn_with_timeout(&tls_client(&addr, port, &ca), Duration::from_secs(2))
                .await
                .expect("tls");
        conn.get::<_, Option<i64>>("tls-counter")
            .await
            .expect("get")
            .unwrap_or(0)
    };
    let before = counter().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counter().await <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the TLS writer writes again after the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = tls_writer.stop().await;
    assert_eq!(log.lost(), 0, "no acknowledged write lost");
    assert!(
        !answers(&plain_client(&addr, port)).await,
        "plaintext refused once required"
    );
    let r: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut p).await;
    assert!(r.is_err(), "the old plaintext connection was dropped");
    assert!(
        answers(&tls_client(&addr, port, &ca)).await,
        "TLS in required"
    );
    assert!(
        !answers(&tls_client(&addr, port, &other_ca)).await,
        "wrong CA"
    );
    let mut t = client_conn_with_timeout(&tls_client(&addr, port, &ca), Duration::from_secs(2))
        .await
        .expect("tls");
    let _: () = t.set("in-required", "tls").await.expect("set");
    get_eventually(&tls_client(&raddr, rport, &ca), "in-required", "tls").await;

    // And back: required → preferred → off.
    modify_transit(&c, "tls-step", None, Some("preferred"))
        .await
        .expect("back to preferred");
    wait_available(&c, "tls-step", Duration::from_secs(30)).await;
    assert!(answers(&plain_client(&addr, port)).await, "plaintext again");
    modify_transit(&c, "tls-step", Some(false), None)
        .await
        .expect("off");
    let g = wait_available(&c, "tls-step", Duration::from_secs(30)).await;
    assert_eq!(g.transit_encryption_enabled(), Some(false));
    assert!(
        answers(&plain_client(&addr, port)).await,
        "plaintext after off"
    );
    assert!(
        !answers(&tls_client(&addr, port, &ca)).await,
        "no TLS after off"
    );
    get_eventually(&plain_client(&raddr, rport), "in-required", "tls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_in_preferred_mode_keeps_both_kinds_on_the_primary_endpoint() {
    let d = Daemon::start();
    let c = d.client();
    let ca = ca_of(&d);
    c.create_replication_group()
        .replication_group_id("tls-ha")
        .replication_group_description("failover with tls preferred")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .transit_encryption_enabled(true)
        .transit_encryption_mode("preferred".into())
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "tls-ha", Duration::from_secs(30)).await;
    let (addr, port) = primary_addr(&g);
    let mut t = client_conn_with_timeout(&tls_client(&addr, port, &ca), Duration::from_secs(2))
        .await
        .expect("tls");
    let _: () = t.set("before", "failover").await.expect("set");
    let (raddr, rport) = replica_addr(&g);
    get_eventually(&tls_client(&raddr, rport, &ca), "before", "failover").await;
    let old_primary = g.node_groups()[0]
        .node_group_members()
        .iter()
        .find(|m| m.current_role() == Some("primary"))
        .and_then(|m| m.cache_cluster_id())
        .expect("primary")
        .to_string();
    c.test_failover()
        .replication_group_id("tls-ha")
        .node_group_id("0001")
        .send()
        .await
        .expect("test failover");
    // The other node is primary now, and the old one is back as its replica, linked over TLS.
    let g = wait_group(&c, "tls-ha", Duration::from_secs(30), "failed over", |g| {
        g.node_groups()[0].node_group_members().iter().any(|m| {
            m.cache_cluster_id() != Some(old_primary.as_str())
                && m.current_role() == Some("primary")
        }) && g.node_groups()[0].node_group_members().iter().any(|m| {
            m.cache_cluster_id() == Some(old_primary.as_str())
                && m.current_role() == Some("replica")
        })
    })
    .await;
    let (raddr, rport) = replica_addr(&g);
    // Both kinds through the same primary endpoint, which now reaches the new primary.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tls_ok = run_set(&tls_client(&addr, port, &ca), "after-tls").await;
        let plain_ok = run_set(&plain_client(&addr, port), "after-plain").await;
        if tls_ok && plain_ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "writes through the endpoint after the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    get_eventually(&tls_client(&raddr, rport, &ca), "after-tls", "x").await;
    get_eventually(&tls_client(&raddr, rport, &ca), "before", "failover").await;
}

/// Whether `SET key x` succeeds on a new connection.
async fn run_set(client: &redis::Client, key: &str) -> bool {
    match client_conn_with_timeout(client, Duration::from_secs(1)).await {
        Ok(mut c) => c.set::<_, _, ()>(key, "x").await.is_ok(),
        Err(_) => false,
    }
}

/// With `--dns-zone`, a group's endpoints are names whatever its TLS: TLS turned on later gives the nodes
/// certificates that name the names, so a client that resolves the primary's name verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_turned_on_for_a_group_whose_endpoints_are_names_verifies_the_names() {
    let (d, dns) = daemon_with_names("info", "named-tls.internal");
    let c = d.client();
    let ca = ca_of(&d);
    c.create_replication_group()
        .replication_group_id("named-tls")
        .replication_group_description("names, then TLS")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "named-tls", Duration::from_secs(30)).await;
    let ep = g.node_groups()[0]
        .primary_endpoint()
        .expect("primary")
        .clone();
    let (master, port) = (
        ep.address().expect("name").to_string(),
        ep.port().expect("port") as u16,
    );
    let ip = resolve(dns, &master).await.expect("resolves")[0];
    let mut p =
        client_conn_with_timeout(&plain_client(&ip.to_string(), port), Duration::from_secs(2))
            .await
            .expect("plaintext");
    let _: () = p.set("before", "names").await.expect("set");

    for mode in ["preferred", "required"] {
        modify_transit(&c, "named-tls", Some(true), Some(mode))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let g = wait_available(&c, "named-tls", Duration::from_secs(30)).await;
        assert_eq!(g.transit_encryption_mode().map(|m| m.as_str()), Some(mode));
        assert_eq!(
            g.node_groups()[0]
                .primary_endpoint()
                .and_then(|e| e.address()),
            Some(master.as_str()),
            "the endpoint keeps its name"
        );
        let mut t = tls_conn_by_name(ip, port, &master, &ca)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let other = master.replacen("named-tls", "other-group", 1);
        assert!(
            tls_conn_by_name(ip, port, &other, &ca).await.is_err(),
            "a name the certificate does not carry"
        );
        let v: Option<String> = t.get("before").await.expect("get");
        assert_eq!(v.as_deref(), Some("names"));
        let plain_answers = answers(&plain_client(&ip.to_string(), port)).await;
        assert_eq!(plain_answers, mode == "preferred", "plaintext in {mode}");
    }
    // The reader name, too: it answers the replica, whose certificate names it.
    let reader = g.node_groups()[0]
        .reader_endpoint()
        .and_then(|e| e.address())
        .expect("reader")
        .to_string();
    eventually(
        "the key through the reader name",
        Duration::from_secs(10),
        || async {
            let replica = *resolve(dns, &reader).await?.first().ok_or("no address")?;
            if replica == ip {
                return Err("the reader name answers the primary".to_string());
            }
            let mut r = tls_conn_by_name(replica, port, &reader, &ca).await?;
            let v: Option<String> = r.get("before").await.map_err(|e| e.to_string())?;
            (v.as_deref() == Some("names"))
                .then_some(())
                .ok_or(format!("{v:?}"))
        },
    )
    .await;
}
