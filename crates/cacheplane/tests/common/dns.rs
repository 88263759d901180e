//! Resolving the endpoints' DNS names (`--dns-zone`) as a client would: through a resolver pointed at a daemon's
//! DNS server, asking afresh each time (no cache).

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::Resolver;

/// A daemon whose endpoints are names under `zone`, and where its DNS server answers.
pub fn daemon_with_names(log: &'static str, zone: &str) -> (crate::common::Daemon, SocketAddr) {
    let dns: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
        .parse()
        .expect("dns");
    let d = crate::common::Daemon::start_with_args(
        log,
        &["--dns-zone", zone, "--dns-listen", &dns.to_string()],
    );
    (d, dns)
}

/// A free UDP port of 127.0.0.1, for `--dns-listen`.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

/// The IPv4 addresses `name` resolves to through the DNS server at `server`; an error names the answer (NXDOMAIN,
/// refused, nothing).
pub async fn resolve(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, String> {
    let mut conn = ConnectionConfig::udp();
    conn.port = server.port();
    let ns = NameServerConfig::new(server.ip(), true, vec![conn]);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    opts.timeout = std::time::Duration::from_millis(500);
    let resolver = Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| e.to_string())?;
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let found = resolver
        .ipv4_lookup(fqdn.as_str())
        .await
        .map_err(|e| e.to_string())?;
    Ok(found
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            hickory_resolver::proto::rr::RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect())
}

/// `redis://ADDRESS:PORT` of an endpoint named under a zone, resolved through `server` (its first address).
pub async fn named_url(
    server: SocketAddr,
    ep: &aws_sdk_elasticache::types::Endpoint,
) -> Result<String, String> {
    let name = ep.address().ok_or("an endpoint without an address")?;
    let ips = resolve(server, name).await?;
    let ip = ips.first().ok_or(format!("{name}: no address"))?;
    Ok(format!("redis://{ip}:{}", ep.port().unwrap_or(6379)))
}

/// [`members_of`](crate::common::members_of) with each node's name resolved through `server`.
pub async fn named_members(
    server: SocketAddr,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for m in g.node_groups()[0].node_group_members() {
        let ep = m.read_endpoint().expect("read endpoint");
        let url = named_url(server, ep).await.expect("a node's name resolves");
        out.push((
            m.cache_cluster_id().unwrap_or_default().to_string(),
            m.current_role().unwrap_or_default().to_string(),
            url,
        ));
    }
    out
}
