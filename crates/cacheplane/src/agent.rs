//! `cacheplane agent`: the host agent of one machine. The first start joins the deployment (a join token and a
//! certificate request sent to any daemon of `--control`); every start serves the leader's calls on `--listen`
//! over mutual TLS, with the host CA's certificate of this host, until stopped. The nodes it started keep
//! running when it stops, and are adopted when it starts again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::agent::{Call, Host, Refusal, CALL_PATH, GENERATION_HEADER, REPORT_PATH};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_rustls::TlsAcceptor;

/// The agent's flags.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// A control-plane daemon's API address (repeat it for each daemon): a first start joins through whichever
    /// answers.
    #[arg(long = "control", value_name = "URL", required = true)]
    pub controls: Vec<String>,
    /// The availability zone of this machine: the zone of every node it runs.
    #[arg(long)]
    pub zone: String,
    /// Where the agent keeps its certificate, its generation and its nodes' directories.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The addresses this machine's nodes may take, each node its own (an IPv4 range, a.b.c.d/n); the agent itself
    /// listens on the first.
    #[arg(long, default_value = "127.16.0.0/16")]
    pub addresses: String,
    /// The port the agent listens on, at the first address of --addresses.
    #[arg(long, default_value_t = 9740)]
    pub port: u16,
    /// The one-use token of `cacheplane hosts token`, needed for the first start only (it names the host CA the
    /// agent will trust).
    #[arg(long, env = "CACHEPLANE_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<String>,
    /// The name this host asks for when it joins (default: <zone>-<n>).
    #[arg(long)]
    pub name: Option<String>,
    /// An engine binary this machine runs (repeatable); default: those on PATH.
    #[arg(long = "engine-binary")]
    pub engine_binaries: Vec<PathBuf>,
    /// The memory all nodes of this host may hold together (bytes, or with a unit: 512MB, 8GB, 4GiB), as the
    /// daemon's flag of that name: the host reports the smaller of the kernel's MemAvailable and what the limit
    /// leaves, and a restore or a replica add whose data the hosts cannot hold is refused.
    #[arg(long, value_parser = crate::config::parse_bytes)]
    pub memory_limit: Option<u64>,
}

/// What an agent keeps of its joining.
#[derive(serde::Serialize, serde::Deserialize)]
struct Joined {
    host: String,
    certificate: String,
    key: String,
    ca: String,
}

const JOINED_FILE: &str = "agent.json";

/// The agent's listening address: the first of its range.
fn listen_addr(args: &AgentArgs) -> anyhow::Result<SocketAddr> {
    let range = control::model::AddressRange::parse(&args.addresses).with_context(|| {
        format!(
            "--addresses {}: give an IPv4 range a.b.c.d/n with n from 8 to 30",
            args.addresses
        )
    })?;
    Ok(SocketAddr::new(range.agent_address(), args.port))
}

/// Joins the deployment through the first daemon of `--control` that answers.
async fn join(args: &AgentArgs, listen: SocketAddr) -> anyhow::Result<Joined> {
    let token = args.join_token.clone().context(
        "this agent has not joined yet: give it a join token (--join-token, or CACHEPLANE_JOIN_TOKEN) made with \
         `cacheplane hosts token`",
    )?;
    let (key, csr) = engine::tls::agent_request()?;
    let request = control::actions::hosts::JoinRequest {
        token,
        csr,
        zone: args.zone.clone(),
        addresses: args.addresses.clone(),
        listen,
        name: args.name.clone(),
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut last = None;
    for url in &args.controls {
        let at = format!("{}{}", url.trim_end_matches('/'), crate::hosts::JOIN_PATH);
        match http.post(&at).json(&request).send().await {
            Ok(r) if r.status().is_success() => {
                let j: control::actions::hosts::Joined = r.json().await?;
                let named = control::actions::hosts::token_ca(&request.token);
                if named != Some(control::actions::hosts::ca_fingerprint(&j.ca).as_str()) {
                    anyhow::bail!(
                        "{url} answered with a host CA the join token does not name: this agent does not trust it \
                         (is something between this machine and the daemon?). Make a token with `cacheplane hosts \
                         token` on the deployment and try again"
                    );
                }
                return Ok(Joined {
                    host: j.host,
                    certificate: j.certificate,
                    key: key.serialize_pem(),
                    ca: j.ca,
                });
            }
            // Refused: another daemon would refuse as well.
            Ok(r) => {
                let status = r.status();
                anyhow::bail!(
                    "{url} refused to let this host join ({status}): {}",
                    r.text().await?
                )
            }
            Err(e) => last = Some(format!("{url}: {e}")),
        }
    }
    anyhow::bail!(
        "no daemon of --control answered: {}",
        last.unwrap_or_default()
    )
}

/// What the agent keeps of its joining, joining first when it has not.
async fn joined(args: &AgentArgs, listen: SocketAddr) -> anyhow::Result<Joined> {
    let file = args.data_dir.join(JOINED_FILE);
    match std::fs::read_to_string(&file) {
        Ok(s) => Ok(serde_json::from_str(&s)
            .with_context(|| format!("{} is not an agent's record", file.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let j = join(args, listen).await?;
            engine::secret::write_private(&file, &serde_json::to_string(&j)?)?;
            println!("cacheplane agent: joined as host {}", j.host);
            Ok(j)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// Runs the agent until it is stopped (`SIGINT`, `SIGTERM`); its nodes keep running.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    engine::private::create_dir(&args.data_dir)?;
    let data_dir = crate::config::absolute(&args.data_dir)?;
    let _lock = engine::private::DirLock::acquire(
        &data_dir,
        &format!("agent, pid {}", std::process::id()),
    )?;
    let listen = listen_addr(&args)?;
    let j = joined(&args, listen).await?;
    let binaries = engine::binary::discover(&args.engine_binaries)?;
    let host = Host::open(&j.host, &data_dir, binaries, args.memory_limit)?;
    host.restore_fronts().await;
    let tls = engine::agent::server_config(&j.ca, &j.certificate, &j.key)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    println!(
        "cacheplane agent: host {} in {} answers the leader on https://{listen}",
        j.host, args.zone
    );
    serve(listener, TlsAcceptor::from(Arc::new(tls)), router(host)).await;
    println!("cacheplane agent: stopped; its nodes keep running");
    Ok(())
}

fn router(host: Arc<Host>) -> Router {
    Router::new()
        .route(CALL_PATH, post(call))
        .route(REPORT_PATH, get(report))
        .with_state(host)
}

fn refused(status: StatusCode, message: String) -> Response<Body> {
    let mut r = Response::new(Body::from(message));
    *r.status_mut() = status;
    r
}

/// The generation a request carries.
fn generation_of(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(GENERATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

fn no_generation() -> Response<Body> {
    refused(
        StatusCode::BAD_REQUEST,
        format!("a request carries its generation ({GENERATION_HEADER})"),
    )
}

fn refusal(generation: u64, e: &Refusal) -> Response<Body> {
    let status = match e {
        Refusal::Fenced { .. } => StatusCode::CONFLICT,
        Refusal::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    if matches!(e, Refusal::Fenced { .. }) {
        tracing::warn!(target: "agent", generation, error = %e, "request refused");
    }
    refused(status, e.to_string())
}

async fn call(
    State(host): State<Arc<Host>>,
    headers: HeaderMap,
    Json(call): Json<Call>,
) -> Response<Body> {
    let Some(generation) = generation_of(&headers) else {
        return no_generation();
    };
    match host.obey(generation, call).await {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => refusal(generation, &e),
    }
}

#[derive(serde::Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

/// A report, read by the leader: its generation is obeyed from then on (an older leader's reads are refused).
async fn report(
    State(host): State<Arc<Host>>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Response<Body> {
    let Some(generation) = generation_of(&headers) else {
        return no_generation();
    };
    if let Err(e) = host.admit(generation).await {
        return refusal(generation, &e);
    }
    Json(host.report(q.after).await).into_response()
}

/// Connections the agent serves at once (the leader keeps a few; anything past this is closed at once).
const MAX_CONNECTIONS: usize = 64;

/// Serves `app` over TLS on `listener` until the process is told to stop.
async fn serve(listener: tokio::net::TcpListener, tls: TlsAcceptor, app: Router) {
    let signal = crate::server::shutdown_signal();
    tokio::pin!(signal);
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut signal => return,
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(target: "agent", %peer, "connection refused: {MAX_CONNECTIONS} open");
            continue;
        };
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(
                std::time::Duration::from_secs(10),
                tls.accept(stream),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(target: "agent", %peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await;
        });
    }
}
