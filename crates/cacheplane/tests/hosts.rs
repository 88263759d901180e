//! Nodes on hosts: `cacheplane agent` processes (three "hosts" of this machine, each with its own address range and
//! zone) join a daemon with tokens; a Multi-AZ group's nodes go one to each host, in the host's zone, and are
//! started, adopted, rebooted and removed by the agents at the leader's calls, fenced by the leader's generation.

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;

/// The daemon's client towards agents, as the daemon itself is (its certificate in the data directory).
fn control_client(d: &Daemon, url: &str) -> engine::agent::Client {
    let dir = d.data_dir().join("hosts");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("host channel file");
    engine::agent::Client::new(
        url,
        &read("ca.pem"),
        &read("control.crt"),
        &read("control.key"),
    )
    .expect("client")
}

/// The pid of node `name` on `agent`, waiting for its pid file.
async fn pid_on(agent: &Agent, name: &str) -> u32 {
    eventually(
        &format!("{name}'s pid on {}", agent.name),
        Duration::from_secs(20),
        || async {
            agent
                .node_pids()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| p)
                .ok_or(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_az_group_runs_one_node_on_each_host_through_the_agents_fenced_by_generation() {
    let mut d = Daemon::start();
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut agents: Vec<Agent> = zones
        .iter()
        .zip([41u8, 42, 43])
        .map(|(z, octet)| Agent::join(&[&d], z, octet, &join_token(&d, None)))
        .collect();
    // A token is used up by its join.
    let token = join_token(&d, None);
    let _fourth = Agent::join(&[&d], "us-east-1a", 44, &token);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["agent", "--control", &d.endpoint(), "--zone", "us-east-1a"])
        .args([
            "--addresses",
            "127.45.0.0/16",
            "--port",
            &free_port().to_string(),
        ])
        .arg("--data-dir")
        .arg(tempfile::tempdir().expect("dir").path())
        .env("CACHEPLANE_JOIN_TOKEN", &token)
        .output()
        .expect("agent");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("403") && said.contains("join token is not valid"),
        "{said}"
    );
    drop(_fourth);

    let c = d.client();
    c.create_replication_group()
        .replication_group_id("hosted")
        .replication_group_description("one node on each host")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "hosted", Duration::from_secs(60)).await;

    // Each node runs under its own host's agent, in the host's zone, at an address of the host's range.
    let clusters = c
        .describe_cache_clusters()
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe")
        .cache_clusters
        .unwrap_or_default();
    assert_eq!(clusters.len(), 3);
    let mut hosts_used = Vec::new();
    for cc in &clusters {
        let id = cc.cache_cluster_id().expect("id");
        let zone = cc.preferred_availability_zone().expect("zone");
        let address = cc.cache_nodes()[0]
            .endpoint()
            .and_then(|e| e.address())
            .expect("address")
            .to_string();
        let agent = agents
            .iter()
            .find(|a| a.node_pids().iter().any(|(n, _)| n == id))
            .unwrap_or_else(|| panic!("{id} runs under no agent"));
        assert_eq!(zone, agent.zone, "{id}'s zone");
        let octet = agent.addresses.split('.').nth(1).expect("octet");
        assert!(
            address.starts_with(&format!("127.{octet}.")),
            "{id} at {address}"
        );
        assert!(!d.data_dir().join("nodes").join(id).exists());
        hosts_used.push(agent.name.clone());
    }
    hosts_used.sort();
    hosts_used.dedup();
    assert_eq!(hosts_used.len(), 3, "one node on each host");

    // Replication works across the hosts.
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("primary"));
    let reader = redis_url(g.node_groups()[0].reader_endpoint().expect("reader"));
    let mut p = redis_conn(&primary).await;
    let _: () = p.set("k", "across hosts").await.expect("set");
    wait_value(&reader, "k", "across hosts").await;

    // An agent killed: its node keeps serving; restarted, the agent adopts it, and a reboot goes through it.
    let a = &mut agents[0];
    let (node, pid) = a
        .node_pids()
        .into_iter()
        .next()
        .expect("a node on the first host");
    a.kill9();
    assert!(
        engine::process::is_redis_alive(pid),
        "the node outlives its agent"
    );
    a.spawn(None);
    // The restarted agent reports the node it found running, and the leader leaves it be.
    let restarted = control_client(&d, &a.url());
    eventually(
        "the restarted agent reports the node",
        Duration::from_secs(10),
        || async {
            let r = restarted.report(1, 0).await.map_err(|e| e.to_string())?;
            r.processes
                .contains_key(&pid)
                .then_some(())
                .ok_or(format!("{:?}", r.processes))
        },
    )
    .await;
    c.reboot_cache_cluster()
        .cache_cluster_id(&node)
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    let agent = &agents[0];
    eventually(
        "the rebooted node runs a new process",
        Duration::from_secs(30),
        || async {
            let now = pid_on(agent, &node).await;
            (now != pid && engine::process::is_redis_alive(now))
                .then_some(())
                .ok_or(now)
        },
    )
    .await;
    let g = wait_available(&c, "hosted", Duration::from_secs(60)).await;
    let mut p = redis_conn(&primary).await;
    let v: Option<String> = p.get("k").await.expect("get");
    assert_eq!(v.as_deref(), Some("across hosts"));
    let events = event_messages(&c, "hosted").await;
    assert!(
        !events.iter().any(|e| e.contains("Failover")),
        "an agent's restart fails nothing over: {events:?}"
    );
    drop(g);
    eventually(
        "hosted-001 is still the primary",
        Duration::from_secs(10),
        || async {
            let now = current_primary(&describe_group(&c, "hosted").await);
            (now == "hosted-001").then_some(()).ok_or(now)
        },
    )
    .await;

    // Fencing: a call of an older generation than the leader's is refused; the leader's own goes through.
    let url = agent.url();
    let client = control_client(&d, &url);
    let call = engine::agent::Call::Kill {
        pid: now_pid(agent, &node).await,
    };
    let refused = client
        .call(0, &call)
        .await
        .expect_err("generation 0 is fenced");
    assert!(refused.to_string().contains("fenced"), "{refused}");
    assert!(engine::process::is_redis_alive(now_pid(agent, &node).await));
    let asked = engine::agent::Call::PidsServing {
        addr: "127.0.0.1:1".parse().expect("addr"),
    };
    assert_eq!(
        client
            .call(1, &asked)
            .await
            .expect("the leader's generation"),
        engine::agent::Reply::Pids(vec![])
    );
    // Not the control plane (a certificate of another CA): no TLS session at all.
    let other = tempfile::tempdir().expect("dir");
    let foreign = engine::tls::Authority::load_or_create(other.path()).expect("CA");
    let cert = foreign
        .node_certificate(other.path(), &["127.0.0.1".parse().expect("ip")])
        .expect("certificate");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("pem");
    let hosts_ca = read(&d.data_dir().join("hosts").join("ca.pem"));
    let stranger = engine::agent::Client::new(&url, &hosts_ca, &read(&cert.cert), &read(&cert.key))
        .expect("client");
    let refused = stranger
        .call(u64::MAX, &call)
        .await
        .expect_err("a stranger");
    assert!(!refused.to_string().contains("fenced"), "{refused}");
    assert!(engine::process::is_redis_alive(now_pid(agent, &node).await));

    // The daemon stopped: every node keeps serving; started again, it adopts them through the agents.
    let before: Vec<(String, u32)> = agents.iter().flat_map(|a| a.node_pids()).collect();
    d.kill9();
    let _: () = p
        .set("k2", "daemon down")
        .await
        .expect("set with the daemon down");
    d.spawn();
    wait_available(&c, "hosted", Duration::from_secs(60)).await;
    let after: Vec<(String, u32)> = agents.iter().flat_map(|a| a.node_pids()).collect();
    assert_eq!(before, after, "the same processes, adopted");

    // Deleted: the agents stop the nodes and remove their directories.
    c.delete_replication_group()
        .replication_group_id("hosted")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "hosted", Duration::from_secs(60)).await;
    for (_, pid) in &after {
        assert!(!engine::process::is_redis_alive(*pid));
    }
    assert!(agents.iter().all(|a| a.node_pids().is_empty()));
}

async fn now_pid(agent: &Agent, node: &str) -> u32 {
    pid_on(agent, node).await
}

/// Two daemons on PostgreSQL, each with a data directory of its own (daemons on separate machines), and two hosts:
/// the follower's data directory holds the deployment's secrets, a token made on either machine joins a host, and
/// when the leader is killed while a replica is added the other daemon leads and finishes it through the agents,
/// which refuse the old generation from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_leader_drives_the_agents_and_the_old_generation_is_fenced() {
    let server = testpg::TestPostgres::start();
    let url = server.database("cacheplane");
    let mut a = Daemon::start_with_args("info", &["--store", &url]);
    let (_, first) = wait_leader(&url, None).await;
    // The second daemon has a data directory of its own, as on another machine: the deployment's secrets come to it
    // from the store.
    let b = Daemon::start_with_args("info", &["--store", &url]);
    assert_ne!(a.data_dir(), b.data_dir());
    for file in [
        "admin.secret",
        "tls/ca.pem",
        "tls/ca.key",
        "hosts/ca.pem",
        "hosts/ca.key",
    ] {
        let read = |d: &Daemon| std::fs::read(d.data_dir().join(file)).expect(file);
        assert_eq!(read(&a), read(&b), "{file} is the deployment's");
    }
    // A token made on either machine joins a host.
    let agents: Vec<Agent> = [("us-east-1a", 51u8, &a), ("us-east-1b", 52, &b)]
        .into_iter()
        .map(|(z, octet, d)| Agent::join(&[&a, &b], z, octet, &join_token(d, Some(&url))))
        .collect();
    let cb = b.client();
    // Nodes that would run on a daemon's own machine are refused: no daemon of the other machine could lead them.
    let e = cb
        .create_replication_group()
        .replication_group_id("local")
        .replication_group_description("dual stack runs on a daemon's machine")
        .num_cache_clusters(1)
        .network_type(aws_sdk_elasticache::types::NetworkType::DualStack)
        .send()
        .await
        .expect_err("refused")
        .into_service_error();
    assert!(e.is_insufficient_cache_cluster_capacity_fault(), "{e:?}");
    assert!(e.to_string().contains("several machines"), "{e}");
    let none = cb
        .describe_replication_groups()
        .replication_group_id("local")
        .send()
        .await
        .expect_err("nothing made")
        .into_service_error();
    assert!(none.is_replication_group_not_found_fault(), "{none:?}");
    cb.create_replication_group()
        .replication_group_id("led")
        .replication_group_description("nodes on hosts, led by either daemon")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create through the follower");
    let g = wait_available(&cb, "led", Duration::from_secs(60)).await;
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("primary"));
    let mut p = redis_conn(&primary).await;
    let _: () = p.set("k", "before the takeover").await.expect("set");

    // The leader killed as a replica is being added: the next leader adds it through the agents.
    cb.increase_replica_count()
        .replication_group_id("led")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .expect("increase");
    a.kill9();
    let (_, next) = wait_leader(&url, Some(first)).await;
    assert!(next > first);
    let g = wait_available(&cb, "led", Duration::from_secs(60)).await;
    assert_eq!(g.member_clusters().len(), 3);
    let placed: usize = agents.iter().map(|x| x.node_pids().len()).sum();
    assert_eq!(placed, 3, "every node runs on a host");
    for (_, _, node_url) in members_of(&g) {
        wait_value(&node_url, "k", "before the takeover").await;
    }
    // Every agent has obeyed the new generation, and refuses the old one.
    for x in &agents {
        let seen: i64 = std::fs::read_to_string(x.data_dir().join("generation"))
            .expect("generation file")
            .trim()
            .parse()
            .expect("a number");
        assert_eq!(seen, next, "{}", x.name);
        let agent_url = x.url();
        let asked = engine::agent::Call::PidsServing {
            addr: "127.0.0.1:1".parse().expect("addr"),
        };
        let refused = control_client(&b, &agent_url)
            .call(first as u64, &asked)
            .await
            .expect_err("the old leader's generation");
        assert!(refused.to_string().contains("fenced"), "{refused}");
    }
    cb.delete_replication_group()
        .replication_group_id("led")
        .send()
        .await
        .expect("delete");
    wait_deleted(&cb, "led", Duration::from_secs(60)).await;

    // A standalone cache cluster (no group) runs on a host too, led from the other machine.
    cb.create_cache_cluster()
        .cache_cluster_id("solo")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(1)
        .send()
        .await
        .expect("a standalone cluster");
    let runs_solo = || {
        agents
            .iter()
            .any(|x| x.node_pids().iter().any(|(n, _)| n == "solo"))
    };
    eventually(
        "the standalone cluster is available",
        Duration::from_secs(30),
        || async {
            let out = cb
                .describe_cache_clusters()
                .cache_cluster_id("solo")
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = out.cache_clusters()[0]
                .cache_cluster_status()
                .map(str::to_string);
            (status.as_deref() == Some("available"))
                .then_some(())
                .ok_or(format!("{status:?}"))
        },
    )
    .await;
    assert!(runs_solo(), "the standalone cluster runs on a host");
    cb.delete_cache_cluster()
        .cache_cluster_id("solo")
        .send()
        .await
        .expect("delete the standalone cluster");
    eventually(
        "the standalone cluster is gone",
        Duration::from_secs(30),
        || async { (!runs_solo()).then_some(()).ok_or(()) },
    )
    .await;
}

/// A resharding (scale-out from two node groups to three) of a cluster mode enabled group whose nodes run on three
/// hosts, the leader of two daemons on PostgreSQL killed once the new node group's nodes run: the next leader
/// finishes it through the agents, and every key written before reads back through a cluster client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resharding_on_hosts_is_finished_by_the_next_leader() {
    use common::cluster::{assert_all, cluster_conn, config_url, create_sharded, set_all};
    let server = testpg::TestPostgres::start();
    let url = server.database("cacheplane");
    let mut a = Daemon::start_with_args("info", &["--store", &url]);
    let (_, first) = wait_leader(&url, None).await;
    let b = Daemon::beside(&a, &["--store", &url]);
    let agents: Vec<Agent> = [("us-east-1a", 56u8), ("us-east-1b", 57), ("us-east-1c", 58)]
        .into_iter()
        .map(|(z, octet)| Agent::join(&[&a, &b], z, octet, &join_token(&a, Some(&url))))
        .collect();
    let running = || agents.iter().map(|x| x.node_pids().len()).sum::<usize>();
    let cb = b.client();
    let g = create_sharded(&cb, "spread", 2, 1).await;
    assert_eq!(running(), 4, "every node runs on a host");
    let keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
    set_all(&cluster_conn(&config_url(&g)).await, &keys).await;

    cb.modify_replication_group_shard_configuration()
        .replication_group_id("spread")
        .node_group_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("scale out through the follower");
    eventually(
        "the new node group's nodes run on their hosts",
        Duration::from_secs(30),
        || async { (running() >= 6).then_some(()).ok_or(running()) },
    )
    .await;
    let during = describe_group(&cb, "spread").await;
    assert_eq!(during.status(), Some("modifying"), "killed in the middle");
    a.kill9();
    let (_, next) = wait_leader(&url, Some(first)).await;
    assert!(next > first);
    let g = wait_available(&cb, "spread", Duration::from_secs(120)).await;
    assert_eq!(g.node_groups().len(), 3);
    assert_eq!(running(), 6, "every node runs on a host");
    assert_all(&cluster_conn(&config_url(&g)).await, &keys).await;
    cb.delete_replication_group()
        .replication_group_id("spread")
        .send()
        .await
        .expect("delete");
    wait_deleted(&cb, "spread", Duration::from_secs(60)).await;
}

/// `cacheplane hosts list` of daemon `d`: each host's line, split at its tabs.
fn hosts_list(d: &Daemon) -> Vec<Vec<String>> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["hosts", "list", "--data-dir"])
        .arg(d.data_dir())
        .output()
        .expect("hosts list");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Each host of daemon `d` and whether it is taken for lost.
fn hosts_lost(d: &Daemon) -> Vec<(String, bool)> {
    hosts_list(d)
        .into_iter()
        .map(|f| (f[0].clone(), f[4].starts_with("lost")))
        .collect()
}

async fn wait_host(d: &Daemon, name: &str, lost: bool) {
    eventually(
        &format!("{name} lost = {lost}"),
        Duration::from_secs(20),
        || async {
            let now = hosts_lost(d);
            now.iter()
                .any(|(n, l)| n == name && *l == lost)
                .then_some(())
                .ok_or(now)
        },
    )
    .await;
}

fn signal(pid: u32, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), s).expect("signal");
}

/// The member of `g` that runs on `agent`.
fn member_on(agent: &Agent) -> String {
    agent
        .node_pids()
        .into_iter()
        .next()
        .expect("a node on the host")
        .0
}

/// The names of group `lossy` under the test's zone.
struct Names {
    primary: String,
    reader: String,
    /// `<id>.<region-short>.cache.example.internal`.
    suffix: String,
}

impl Names {
    fn node(&self, id: &str) -> String {
        format!("{id}.lossy.{}", self.suffix)
    }
}

/// The endpoints of `g` are names in AWS's shapes under the zone, and the daemon's DNS server answers them: each
/// node's name its address in its host's range, the primary name the primary's; nothing outside the zone, and
/// NXDOMAIN for a name of no endpoint.
async fn check_names(
    c: &aws_sdk_elasticache::Client,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    dns: std::net::SocketAddr,
) -> Names {
    let ng = &g.node_groups()[0];
    let primary = ng
        .primary_endpoint()
        .and_then(|e| e.address())
        .expect("primary")
        .to_string();
    let reader = ng
        .reader_endpoint()
        .and_then(|e| e.address())
        .expect("reader")
        .to_string();
    let suffix = primary
        .strip_prefix("master.lossy.")
        .expect("master.<group>.")
        .to_string();
    let (id, rest) = suffix.split_once('.').expect("<id>.");
    assert_eq!(id.len(), 6, "{primary}");
    assert_eq!(rest, "use1.cache.example.internal", "{primary}");
    assert_eq!(reader, format!("replica.lossy.{suffix}"));
    let names = Names {
        primary,
        reader,
        suffix,
    };
    let primary_id = current_primary(g);
    for m in ng.node_group_members() {
        let id = m.cache_cluster_id().expect("id");
        let name = m
            .read_endpoint()
            .and_then(|e| e.address())
            .expect("read endpoint");
        assert_eq!(name, names.node(id));
        let ips = resolve(dns, name).await.expect("a node's name");
        assert_eq!(ips.len(), 1, "{ips:?}");
        assert!(
            ips[0].to_string().starts_with("127.6"),
            "a host's address: {ips:?}"
        );
        if id == primary_id {
            assert_eq!(resolve(dns, &names.primary).await.expect("primary"), ips);
        }
    }
    // DescribeCacheClusters shows the node's name too.
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id(&primary_id)
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe");
    let node = &cc.cache_clusters()[0].cache_nodes()[0];
    assert_eq!(
        node.endpoint().and_then(|e| e.address()),
        Some(names.node(&primary_id).as_str())
    );
    // Names of no endpoint, and names outside the zone.
    let none = resolve(dns, &format!("master.nosuch.{}", names.suffix)).await;
    assert!(none.is_err(), "{none:?}");
    let outside = resolve(dns, "example.com").await;
    assert!(outside.is_err(), "{outside:?}");
    names
}

/// Waits until the reader name answers exactly the nodes `replicas`.
async fn wait_readers(
    dns: std::net::SocketAddr,
    names: &Names,
    replicas: &std::collections::BTreeSet<String>,
) {
    let mut want = std::collections::BTreeSet::new();
    for r in replicas {
        want.extend(resolve(dns, &names.node(r)).await.expect("node"));
    }
    eventually(
        "the reader name answers the replicas",
        Duration::from_secs(20),
        || async {
            let got: std::collections::BTreeSet<_> =
                resolve(dns, &names.reader).await?.into_iter().collect();
            (got == want)
                .then_some(())
                .ok_or(format!("{got:?}, want {want:?}"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_host_fails_over_and_heals_elsewhere_while_a_slow_one_changes_nothing() {
    // Endpoints are DNS names here, as across machines: clients resolve them through the daemon's DNS server.
    let (d, dns) = daemon_with_names("info", "Example.Internal.");
    let mut agents: Vec<Agent> = [
        ("us-east-1a", 61u8),
        ("us-east-1b", 62),
        ("us-east-1c", 63),
        ("us-east-1a", 64),
    ]
    .into_iter()
    .map(|(z, octet)| Agent::join(&[&d], z, octet, &join_token(&d, None)))
    .collect();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("lossy")
        .replication_group_description("a host is lost")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "lossy", Duration::from_secs(60)).await;
    let named = check_names(&c, &g, dns).await;
    let first = current_primary(&g);
    let replicas = g
        .member_clusters()
        .iter()
        .filter(|m| **m != first)
        .cloned()
        .collect();
    wait_readers(dns, &named, &replicas).await;
    let primary_ep = g.node_groups()[0]
        .primary_endpoint()
        .expect("primary")
        .clone();
    let primary = named_url(dns, &primary_ep).await.expect("primary");
    let mut p = redis_conn(&primary).await;
    let _: () = p.set("k", "kept").await.expect("set");
    // Acknowledged by both replicas before any host goes.
    let acked: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query_async(&mut p)
        .await
        .expect("wait");
    assert_eq!(acked, 2);
    let first_primary = current_primary(&g);
    let on_a = agents
        .iter()
        .position(|a| member_on(a) == first_primary)
        .expect("the primary's host");

    // A slow host: its agent stopped while its node serves. The host is taken for lost, and nothing else happens.
    let slow = (0..agents.len())
        .find(|i| *i != on_a && !agents[*i].node_pids().is_empty())
        .expect("a replica's host");
    let slow_pid = agents[slow].child.as_ref().expect("agent").id();
    let slow_node = member_on(&agents[slow]);
    signal(slow_pid, nix::sys::signal::Signal::SIGSTOP);
    wait_host(&d, &agents[slow].name, true).await;
    let g = describe_group(&c, "lossy").await;
    assert_eq!(current_primary(&g), first_primary, "no failover");
    assert!(g.member_clusters().contains(&slow_node.to_string()));
    let events = event_messages(&c, &slow_node).await;
    assert!(!events.iter().any(|e| e.contains("replaced")), "{events:?}");
    signal(slow_pid, nix::sys::signal::Signal::SIGCONT);
    wait_host(&d, &agents[slow].name, false).await;

    // The primary's host lost (its agent and its nodes killed): a replica elsewhere takes writes, and the lost node
    // is replaced in its zone on the other host there.
    let lost_name = agents[on_a].name.clone();
    let lost_at = std::time::Instant::now();
    agents[on_a].lose();
    let writable = eventually(
        "the primary endpoint takes writes again",
        Duration::from_secs(30),
        || async {
            // Resolved again at every attempt, as a client without a cache would (with one, up to the 5 s TTL).
            let primary = named_url(dns, &primary_ep).await?;
            let mut p = redis_conn_with_timeout(&primary, Duration::from_millis(500))
                .await
                .map_err(|e| e.to_string())?;
            let r: redis::RedisResult<()> = p.set("after", "the loss").await;
            r.map_err(|e| e.to_string())
        },
    );
    writable.await;
    eprintln!(
        "host lost: writable again after {} ms",
        lost_at.elapsed().as_millis()
    );
    wait_host(&d, &lost_name, true).await;
    let healed = eventually(
        "the lost node replaced and the group whole",
        Duration::from_secs(60),
        || async {
            let g = describe_group(&c, "lossy").await;
            let moved = agents
                .iter()
                .filter(|a| a.name != lost_name)
                .any(|a| a.node_pids().iter().any(|(n, _)| *n == first_primary));
            let events = event_messages(&c, &first_primary).await;
            let status = g.status().map(str::to_string);
            (status.as_deref() == Some("available")
                && moved
                && events.iter().any(|e| e.contains("replaced")))
            .then_some(g)
            .ok_or((status, moved))
        },
    )
    .await;
    eprintln!(
        "host lost: healed after {} ms",
        lost_at.elapsed().as_millis()
    );
    assert_ne!(current_primary(&healed), first_primary);
    let spare = agents
        .iter()
        .find(|a| a.zone == "us-east-1a" && a.name != lost_name)
        .expect("the other host of a");
    assert!(
        spare.node_pids().iter().any(|(n, _)| *n == first_primary),
        "replaced in its own zone, on the other host there"
    );
    for (_, _, url) in named_members(dns, &healed).await {
        wait_value(&url, "k", "kept").await;
    }
    // The primary name moved to the promoted node; the reader name answers the replicas, the replacement among
    // them once it is ready.
    let now = current_primary(&healed);
    let primary_ip = resolve(dns, &named.node(&now)).await.expect("node");
    assert_eq!(
        resolve(dns, &named.primary).await.expect("primary"),
        primary_ip
    );
    let replicas: std::collections::BTreeSet<String> = healed
        .member_clusters()
        .iter()
        .filter(|m| **m != now)
        .cloned()
        .collect();
    wait_readers(dns, &named, &replicas).await;

    // The lost host back: what it still holds of the replaced node is removed, never started again.
    agents[on_a].spawn(None);
    wait_host(&d, &lost_name, false).await;
    let back = &agents[on_a];
    eventually(
        "the returned host holds nothing",
        Duration::from_secs(20),
        || async {
            let left: Vec<String> = std::fs::read_dir(back.data_dir().join("nodes"))
                .map(|r| {
                    r.flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .collect()
                })
                .unwrap_or_default();
            left.is_empty().then_some(()).ok_or(left)
        },
    )
    .await;
    // One primary, as the nodes themselves say.
    let g = describe_group(&c, "lossy").await;
    let mut masters = 0;
    for (_, _, url) in named_members(dns, &g).await {
        let mut conn = redis_conn(&url).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut conn)
            .await
            .expect("role");
        if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
            masters += 1;
        }
    }
    assert_eq!(masters, 1);
}

/// Each host of daemon `d` and the room its agent last reported, as `hosts list` writes it.
fn hosts_room(d: &Daemon) -> Vec<(String, String)> {
    hosts_list(d)
        .into_iter()
        .map(|f| (f[0].clone(), f[5].clone()))
        .collect()
}

/// The bytes of `room 12.3 MB` (as `hosts list` writes it).
fn room_bytes(room: &str) -> Option<f64> {
    let mut words = room.strip_prefix("room ")?.split(' ');
    let n: f64 = words.next()?.parse().ok()?;
    let unit = match words.next()? {
        "GB" => 1e9,
        "MB" => 1e6,
        "KB" => 1e3,
        _ => 1.0,
    };
    Some(n * unit)
}

/// Replicas whose data the hosts cannot hold are refused by the room the agents report (here their
/// `--memory-limit`), not by the daemon's machine, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_the_hosts_cannot_hold_are_refused_by_the_room_the_agents_report() {
    let d = Daemon::start();
    let agents: Vec<Agent> = [("us-east-1a", 66u8), ("us-east-1b", 67)]
        .into_iter()
        .map(|(z, octet)| {
            Agent::join_with(
                &[&d],
                z,
                octet,
                &join_token(&d, None),
                &["--memory-limit", "40MiB"],
            )
        })
        .collect();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("tight")
        .replication_group_description("a primary as large as a host's room")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "tight", Duration::from_secs(60)).await;
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("primary"));
    let mut p = redis_conn(&primary).await;
    let value = "v".repeat(1 << 20);
    for i in 0..48 {
        let _: () = p.set(format!("big:{i}"), &value).await.expect("set");
    }
    // The agents' rooms reach the store: the primary's host has almost none left, the other its whole limit.
    let primary_host = agents
        .iter()
        .find(|a| !a.node_pids().is_empty())
        .map(|a| a.name.clone())
        .expect("the primary runs on a host");
    eventually("both rooms are known", Duration::from_secs(30), || async {
        let rooms = hosts_room(&d);
        let known = rooms.iter().all(|(_, r)| r != "room unknown");
        let full = rooms
            .iter()
            .any(|(h, r)| *h == primary_host && room_bytes(r).is_some_and(|b| b < 16e6));
        (known && full).then_some(()).ok_or(rooms)
    })
    .await;

    let e = c
        .increase_replica_count()
        .replication_group_id("tight")
        .new_replica_count(1)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("no host can hold a copy of the primary")
        .into_service_error();
    assert!(e.is_insufficient_cache_cluster_capacity_fault(), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("The hosts cannot hold 1 more node"),
        "{message}"
    );
    assert!(message.contains(&primary_host), "{message}");
    let g = describe_group(&c, "tight").await;
    assert_eq!(g.status(), Some("available"));
    assert_eq!(g.member_clusters().len(), 1, "nothing changed");
    let running: usize = agents.iter().map(|a| a.node_pids().len()).sum();
    assert_eq!(running, 1);
    c.delete_replication_group()
        .replication_group_id("tight")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "tight", Duration::from_secs(60)).await;
}

/// A `PING` through `client` within a second.
async fn tls_answers(client: &redis::Client) -> bool {
    match client_conn_with_timeout(client, Duration::from_secs(1)).await {
        Ok(mut c) => redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

/// The first address `name` resolves to through `dns`, once it resolves to something other than `not`.
async fn resolve_one(
    dns: std::net::SocketAddr,
    name: &str,
    not: Option<std::net::IpAddr>,
) -> std::net::IpAddr {
    eventually(
        &format!("{name} resolves"),
        Duration::from_secs(20),
        || async {
            let ips = resolve(dns, name).await?;
            ips.first()
                .copied()
                .filter(|ip| Some(*ip) != not)
                .ok_or(format!("{ips:?}"))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_groups_on_hosts_are_reached_by_name_with_certificates_from_the_leader() {
    let (d, dns) = daemon_with_names("info", "tls.internal");
    let mut agents: Vec<Agent> = ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .zip([111u8, 112, 113])
        .map(|(z, octet)| Agent::join(&[&d], z, octet, &join_token(&d, None)))
        .collect();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("tls-hosted")
        .replication_group_description("TLS required on three hosts")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .transit_encryption_enabled(true)
        .transit_encryption_mode("required".into())
        .send()
        .await
        .expect("create with TLS");
    let g = wait_available(&c, "tls-hosted", Duration::from_secs(60)).await;
    let mut hosts: Vec<String> = Vec::new();
    for (m, _, _) in members_of(&g) {
        let agent = agents
            .iter()
            .find(|a| a.node_pids().iter().any(|(n, _)| *n == m))
            .unwrap_or_else(|| panic!("{m} runs under no agent"));
        // The certificate and key the leader sent, private to the agent's node directory.
        let dir = agent.data_dir().join("nodes").join(&m);
        for f in ["tls.crt", "tls.key", "ca.pem"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(f))
                .unwrap_or_else(|e| panic!("{m}'s {f}: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{m}'s {f} is private");
        }
        assert!(!d.data_dir().join("nodes").join(&m).exists());
        hosts.push(agent.name.clone());
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3, "one node on each host");

    // The endpoints are names. A client resolves the primary's and verifies the node's certificate for that name
    // against the deployment's CA; plaintext gets no answer.
    let ca = d.data_dir().join("tls").join("ca.pem");
    let ng = &g.node_groups()[0];
    let ep = ng.primary_endpoint().expect("primary");
    let (master, port) = (ep.address().expect("name"), ep.port().expect("port") as u16);
    assert!(master.starts_with("master.tls-hosted."), "{master}");
    let ip = resolve_one(dns, master, None).await;
    let mut conn = tls_conn_by_name(ip, port, master, &ca)
        .await
        .expect("TLS to the primary, by name");
    let _: () = conn.set("over-tls", "on hosts").await.expect("set");
    let plain = redis::Client::open(format!("redis://{ip}:{port}/")).expect("url");
    assert!(!tls_answers(&plain).await, "plaintext is refused");
    // The certificate names this group's names, not another's.
    let other = master.replacen("tls-hosted", "another-group", 1);
    let e = tls_conn_by_name(ip, port, &other, &ca)
        .await
        .expect_err("a name the certificate does not name");
    assert!(e.contains("certificate"), "{e}");
    // Replication between hosts is TLS too (no node has a plaintext port); the reader name answers the replicas,
    // whose certificates name it.
    let reader = ng
        .reader_endpoint()
        .expect("reader")
        .address()
        .expect("name");
    eventually(
        "the key on the replicas",
        Duration::from_secs(10),
        || async {
            let ips = resolve(dns, reader).await?;
            if ips.len() != 2 || ips.contains(&ip) {
                return Err(format!("{reader}: {ips:?}"));
            }
            for r in ips {
                let mut r = tls_conn_by_name(r, port, reader, &ca).await?;
                let v: Option<String> = r.get("over-tls").await.map_err(|e| e.to_string())?;
                if v.as_deref() != Some("on hosts") {
                    return Err(format!("{v:?}"));
                }
            }
            Ok(())
        },
    )
    .await;

    // A failover goes through the leader's TLS admin connections: the primary's name moves to the promoted node,
    // which takes writes over TLS under that name.
    let old = current_primary(&g);
    c.test_failover()
        .replication_group_id("tls-hosted")
        .node_group_id("0001")
        .send()
        .await
        .expect("test failover");
    let g = wait_group(
        &c,
        "tls-hosted",
        Duration::from_secs(60),
        "failed over",
        |g| {
            g.status() == Some("available")
                && !current_primary(g).is_empty()
                && current_primary(g) != old
        },
    )
    .await;
    let moved = resolve_one(dns, master, Some(ip)).await;
    eventually(
        "writes after the failover",
        Duration::from_secs(20),
        || async {
            let mut p = tls_conn_by_name(moved, port, master, &ca).await?;
            let _: () = p
                .set("after", "failover")
                .await
                .map_err(|e| e.to_string())?;
            let v: Option<String> = p.get("over-tls").await.map_err(|e| e.to_string())?;
            (v.as_deref() == Some("on hosts"))
                .then_some(())
                .ok_or(format!("{v:?}"))
        },
    )
    .await;

    // A snapshot of a node of another host is read over TLS, and holds the data (a key in database 3 too).
    let mut p = tls_conn_by_name(moved, port, master, &ca)
        .await
        .expect("primary");
    let _: () = redis::cmd("SELECT")
        .arg(3)
        .query_async(&mut p)
        .await
        .expect("select");
    let _: () = p.set("in-db3", "kept").await.expect("set in db 3");
    // Of the primary, which took the write: no wait for a replica to have it.
    let source = current_primary(&g);
    c.create_snapshot()
        .cache_cluster_id(&source)
        .snapshot_name("tls-hosted-snap")
        .send()
        .await
        .expect("create snapshot");
    let snap = wait_snapshot(&c, "tls-hosted-snap").await;
    assert_eq!(snap.snapshot_status(), Some("available"));
    let file = snapshot_file(&d, "tls-hosted-snap");
    let rdb = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(rdb.starts_with(b"REDIS"), "an RDB file");
    assert!(
        rdb.windows(b"over-tls".len()).any(|w| w == b"over-tls"),
        "the snapshot holds the key"
    );
    // Restored into a new group on the hosts: the file stays the control plane's; its keys are loaded into the
    // new primary through the control plane's TLS connections, every database into its own, and replicated.
    c.create_replication_group()
        .replication_group_id("tls-restored")
        .replication_group_description("restored on hosts")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .snapshot_name("tls-hosted-snap")
        .send()
        .await
        .expect("restore");
    let restored = wait_available(&c, "tls-restored", Duration::from_secs(60)).await;
    for (m, _, _) in members_of(&restored) {
        assert!(
            agents
                .iter()
                .any(|a| a.node_pids().iter().any(|(n, _)| *n == m)),
            "{m} runs on a host"
        );
    }
    let rep = restored.node_groups()[0]
        .primary_endpoint()
        .expect("primary");
    let rname = rep.address().expect("name");
    let rip = resolve_one(dns, rname, None).await;
    let mut r = tls_conn_by_name(rip, port, rname, &ca)
        .await
        .expect("restored primary");
    let v: Option<String> = r.get("over-tls").await.expect("get");
    assert_eq!(v.as_deref(), Some("on hosts"));
    let _: () = redis::cmd("SELECT")
        .arg(3)
        .query_async(&mut r)
        .await
        .expect("select");
    let v: Option<String> = r.get("in-db3").await.expect("get in db 3");
    assert_eq!(v.as_deref(), Some("kept"));
    let reader = restored.node_groups()[0].reader_endpoint().expect("reader");
    let reader = reader.address().expect("name");
    eventually(
        "the restored keys on the replica",
        Duration::from_secs(10),
        || async {
            let ip = resolve_one(dns, reader, Some(rip)).await;
            let mut r = tls_conn_by_name(ip, port, reader, &ca).await?;
            let v: Option<String> = r.get("over-tls").await.map_err(|e| e.to_string())?;
            (v.as_deref() == Some("on hosts"))
                .then_some(())
                .ok_or(format!("{v:?}"))
        },
    )
    .await;

    // TLS cannot be changed on a group on hosts yet: refused, nothing changed.
    let e = c
        .modify_replication_group()
        .replication_group_id("tls-hosted")
        .transit_encryption_mode("preferred".into())
        .apply_immediately(true)
        .send()
        .await
        .expect_err("a mode change on hosts");
    assert_eq!(code(e), "InvalidParameterCombination");
    tls_conn_by_name(moved, port, master, &ca)
        .await
        .expect("still TLS, by name");

    // TLS preferred on the hosts: each node's port is its agent's front, which hands TLS and plaintext to the
    // node's own ports; the front comes back with an agent started again.
    c.create_replication_group()
        .replication_group_id("tls-pref")
        .replication_group_description("TLS preferred on hosts")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .transit_encryption_mode("preferred".into())
        .send()
        .await
        .expect("create in preferred mode");
    let pref = wait_available(&c, "tls-pref", Duration::from_secs(60)).await;
    let pep = pref.node_groups()[0].primary_endpoint().expect("primary");
    let (pname, pport) = (
        pep.address().expect("name"),
        pep.port().expect("port") as u16,
    );
    let pip = resolve_one(dns, pname, None).await;
    let primary_node = current_primary(&pref);
    let front_of = agents
        .iter()
        .position(|a| a.node_pids().iter().any(|(n, _)| *n == primary_node))
        .expect("the primary's host");
    let both_kinds = || async {
        let mut t = tls_conn_by_name(pip, pport, pname, &ca).await?;
        let _: () = t.set("pref", "tls").await.map_err(|e| e.to_string())?;
        let plain =
            redis::Client::open(format!("redis://{pip}:{pport}/")).map_err(|e| e.to_string())?;
        let mut p = client_conn_with_timeout(&plain, Duration::from_secs(1))
            .await
            .map_err(|e| e.to_string())?;
        let v: Option<String> = p.get("pref").await.map_err(|e| e.to_string())?;
        (v.as_deref() == Some("tls"))
            .then_some(())
            .ok_or(format!("{v:?}"))
    };
    eventually(
        "TLS and plaintext on the port",
        Duration::from_secs(10),
        both_kinds,
    )
    .await;
    // The front is the agent's: with the agent gone, the port answers nothing, while the node still serves TLS on
    // its own TLS port (so it is not failed over).
    agents[front_of].kill9();
    assert!(
        tls_conn_by_name(pip, pport, pname, &ca).await.is_err(),
        "no front without its agent"
    );
    let own_tls = engine::config::listen_ports(pport, Some(engine::config::TlsMode::Preferred)).1;
    tls_conn_by_name(pip, own_tls, pname, &ca)
        .await
        .expect("the node itself serves");
    agents[front_of].spawn(None);
    eventually(
        "both again after the agent's restart",
        Duration::from_secs(20),
        both_kinds,
    )
    .await;
    assert_eq!(
        current_primary(&describe_group(&c, "tls-pref").await),
        current_primary(&pref),
        "the agent's restart failed nothing over"
    );

    // Cluster mode over TLS on the hosts: the cluster bus between hosts is TLS, and clients follow it.
    let token = "a-token-of-the-tls-cluster";
    c.create_replication_group()
        .replication_group_id("tls-sharded")
        .replication_group_description("TLS cluster mode on hosts")
        .num_node_groups(2)
        .replicas_per_node_group(1)
        .transit_encryption_enabled(true)
        .auth_token(token)
        .send()
        .await
        .expect("create a TLS cluster");
    let sharded = wait_available(&c, "tls-sharded", Duration::from_secs(60)).await;
    let cfg = sharded
        .configuration_endpoint()
        .expect("configuration endpoint");
    let cfg_name = cfg.address().expect("name");
    assert!(
        cfg_name.starts_with("clustercfg.tls-sharded."),
        "{cfg_name}"
    );
    let cfg_ip = resolve_one(dns, cfg_name, None).await;
    let on_agents: usize = agents
        .iter()
        .map(|a| {
            a.node_pids()
                .iter()
                .filter(|(n, _)| n.starts_with("tls-sharded-"))
                .count()
        })
        .sum();
    assert_eq!(on_agents, 4, "every node of the cluster on a host");
    // The configuration name answers nodes that serve discovery; a cluster client starts there and follows the
    // nodes' own addresses, which their certificates name.
    let mut first = tls_conn_by_name(cfg_ip, cfg.port().expect("port") as u16, cfg_name, &ca)
        .await
        .expect("TLS to the configuration name");
    let _: () = redis::cmd("AUTH")
        .arg(token)
        .query_async(&mut first)
        .await
        .expect("auth");
    let client = redis::cluster::ClusterClient::builder(vec![format!(
        "rediss://:{token}@{cfg_ip}:{}/",
        cfg.port().expect("port")
    )])
    .certs(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(std::fs::read(&ca).expect("CA bundle")),
    })
    .build()
    .expect("cluster client");
    let cc = client
        .get_async_connection()
        .await
        .expect("TLS cluster connection");
    let keys: Vec<String> = (0..200).map(|i| format!("tls-key:{i}")).collect();
    common::cluster::set_all(&cc, &keys).await;
    common::cluster::assert_all(&cc, &keys).await;

    for id in ["tls-hosted", "tls-sharded", "tls-restored", "tls-pref"] {
        c.delete_replication_group()
            .replication_group_id(id)
            .send()
            .await
            .expect("delete");
    }
    for id in ["tls-hosted", "tls-sharded", "tls-restored", "tls-pref"] {
        wait_deleted(&c, id, Duration::from_secs(60)).await;
    }
    assert!(agents.iter().all(|a| a.node_pids().is_empty()));
}
