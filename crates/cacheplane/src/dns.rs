//! The DNS server of `--dns-zone`: answers the endpoints' names ([`control::Resolution`]) over UDP, with
//! `hickory-server`.
//!
//! - Authoritative for the zone only: a name outside it is `REFUSED` (no recursion, no forwarding).
//! - `A` (and `AAAA`) answers carry a TTL of [`TTL`] seconds and at most [`MAX_ANSWERS`] addresses (as Route 53's
//!   multivalue answers), rotated at every query so that clients that take the first spread over the replicas.
//! - A name of no endpoint is `NXDOMAIN`, an endpoint without an address of the type asked for an empty answer,
//!   both with the zone's SOA (its minimum, the negative TTL, is also [`TTL`]).
//! - The apex answers its SOA and one `NS`, `ns.<zone>`, which is this server at the address it listens on.
//! - UDP only: every answer fits in 512 bytes, and no connection can be held open. At most [`MAX_IN_FLIGHT`]
//!   queries are answered at once (the rest get no answer, and are asked again); on a shared store an answer is
//!   at most 100 ms behind it ([`control`]'s `recent_state`).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use hickory_server::proto::op::{MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

use control::Resolution;

/// Seconds a resolver may keep an answer: how long after a failover a client may still be sent to the old primary.
pub const TTL: u32 = 5;
/// The most addresses one answer carries.
pub const MAX_ANSWERS: usize = 8;
/// The most queries answered at once; a query beyond them gets no answer (its client asks again).
pub const MAX_IN_FLIGHT: usize = 64;

struct Handler {
    control: control::Control,
    /// The zone's SOA record.
    soa: Record,
    /// `ns.<zone>`: the name server the SOA and the apex's `NS` name.
    ns: Name,
    /// Where this server listens (the address of `ns.<zone>` unless it is the unspecified one).
    listen: IpAddr,
    /// Rotates multi-address answers.
    turn: AtomicUsize,
    /// Bounds the queries answered at once ([`MAX_IN_FLIGHT`]).
    in_flight: tokio::sync::Semaphore,
}

/// What is said of a query given no answer.
fn unanswered(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    metadata.response_code = ResponseCode::ServFail;
    hickory_server::proto::op::Header {
        metadata,
        counts: Default::default(),
    }
    .into()
}

impl Handler {
    fn answer(&self, name: &Name, kind: RecordType) -> (ResponseCode, Vec<Record>, bool) {
        // The zone's name server, `ns.<zone>`: this server, at the address it listens on (when it is one address).
        if *name == self.ns {
            let ip = (!self.listen.is_unspecified()).then_some(self.listen);
            return self.addresses(name, kind, ip.into_iter().collect());
        }
        if *name == self.soa.name && kind == RecordType::NS {
            let ns = Record::from_rdata(name.clone(), TTL, RData::NS(NS(self.ns.clone())));
            return (ResponseCode::NoError, vec![ns], false);
        }
        let resolution = self.control.resolve_name(&name.to_ascii());
        let addresses = match resolution {
            Resolution::NotInZone => return (ResponseCode::Refused, vec![], false),
            Resolution::NoSuchName => return (ResponseCode::NXDomain, vec![], true),
            Resolution::Addresses(a) => a,
        };
        if kind == RecordType::SOA && *name == self.soa.name {
            return (ResponseCode::NoError, vec![self.soa.clone()], false);
        }
        self.addresses(name, kind, addresses)
    }

    /// The `A` (or `AAAA`) records of `name`, rotated and at most [`MAX_ANSWERS`]; an empty answer with the SOA for
    /// a type it has none of.
    fn addresses(
        &self,
        name: &Name,
        kind: RecordType,
        addresses: Vec<IpAddr>,
    ) -> (ResponseCode, Vec<Record>, bool) {
        let mut records: Vec<Record> = addresses
            .into_iter()
            .filter_map(|ip| match (ip, kind) {
                (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
                (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
                _ => None,
            })
            .map(|rdata| Record::from_rdata(name.clone(), TTL, rdata))
            .collect();
        if records.len() > 1 {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed) % records.len();
            records.rotate_left(turn);
        }
        records.truncate(MAX_ANSWERS);
        let empty = records.is_empty();
        (ResponseCode::NoError, records, empty)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: hickory_server::net::runtime::Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return unanswered(request);
        };
        let builder = MessageResponseBuilder::from_message_request(request);
        let sent = match request.request_info() {
            Ok(info)
                if info.metadata.message_type == MessageType::Query
                    && info.metadata.op_code == OpCode::Query =>
            {
                let name: Name = info.query.name().into();
                let (code, answers, with_soa) = self.answer(&name, info.query.query_type());
                let mut metadata = Metadata::response_from_request(info.metadata);
                metadata.response_code = code;
                metadata.authoritative = code != ResponseCode::Refused;
                metadata.recursion_available = false;
                let soa = with_soa.then_some(&self.soa);
                response
                    .send_response(builder.build(metadata, answers.iter(), None, soa, None))
                    .await
            }
            // Updates, notifies and messages of several questions: not something this server does.
            _ => {
                response
                    .send_response(builder.error_msg(&request.metadata, ResponseCode::NotImp))
                    .await
            }
        };
        match sent {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "could not send a DNS answer");
                unanswered(request)
            }
        }
    }
}

/// The DNS server, bound.
pub struct DnsServer {
    server: Server<Handler>,
    listen: SocketAddr,
    zone: String,
}

impl DnsServer {
    /// The zone it answers for.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Where it answers.
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Answers until the daemon stops.
    pub async fn run(mut self) {
        if let Err(error) = self.server.block_until_done().await {
            tracing::error!(%error, "the DNS server stopped");
        }
    }
}

/// Binds the DNS server of `control`'s zone (`--dns-zone`) on `listen` (UDP); `None` without a zone.
pub async fn bind(
    control: &control::Control,
    listen: SocketAddr,
) -> anyhow::Result<Option<DnsServer>> {
    let Some(zone) = control.dns_zone().map(str::to_string) else {
        return Ok(None);
    };
    let origin = Name::from_str(&format!("{zone}."))
        .with_context(|| format!("--dns-zone {zone} is not a domain name"))?;
    let ns = Name::from_str("ns")?.append_domain(&origin)?;
    let soa = Record::from_rdata(
        origin.clone(),
        TTL,
        RData::SOA(SOA::new(
            ns.clone(),
            Name::from_str("hostmaster")?.append_domain(&origin)?,
            1,
            60,
            10,
            3600,
            TTL,
        )),
    );
    let socket = tokio::net::UdpSocket::bind(listen).await.with_context(|| {
        format!(
            "cannot listen on {listen} (UDP) for the DNS names of --dns-zone {zone} (is another daemon answering \
             there?): choose another address with --dns-listen ADDR:PORT"
        )
    })?;
    let listen = socket.local_addr()?;
    let mut server = Server::new(Handler {
        control: control.clone(),
        soa,
        ns,
        listen: listen.ip(),
        turn: AtomicUsize::new(0),
        in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
    });
    server.register_socket(socket);
    Ok(Some(DnsServer {
        server,
        listen,
        zone,
    }))
}
