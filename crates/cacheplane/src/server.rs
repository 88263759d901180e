//! The HTTP server: every request is size-limited, SigV4-verified, decoded, dispatched and encoded; every
//! failure is an `ErrorResponse` with the AWS code and status.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Response, StatusCode};
use axum::Router;
use tokio::sync::watch;

use crate::app::{answer, dispatch_form, AppState, BODY_TIMEOUT};
use crate::config::{self, ServeArgs};
use crate::secret::same_secret;
use wire::{ApiError, ErrorCode};

/// The largest request body accepted. ElastiCache requests are small; the largest real ones (many tags) are a
/// few kilobytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// How much of an oversized body is read before answering 413.
const DRAIN_LIMIT: usize = 4 << 20;
/// Connections held at once. One more takes the place of the connection idle longest (no request in progress:
/// its headers unfinished, or kept alive between requests), which is closed; when every connection has a request
/// in progress, it is closed at once (nothing of it is read).
pub const MAX_CONNECTIONS: usize = 256;
/// Requests whose bodies are read or handled at once; more wait (holding only their headers). With
/// [`MAX_BODY_BYTES`], this bounds the memory bodies can take (32 MiB).
pub const MAX_IN_FLIGHT: usize = 32;
/// How long a client may take to send a request's headers (and, on a kept-alive connection, to start the next).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of headers hyper buffers for one request.
const MAX_HEADER_BYTES: usize = 64 << 10;
/// Connections the metrics listener holds at once (a scraper keeps one open); one more takes the place of the
/// connection idle longest, as on the API ([`MAX_CONNECTIONS`]).
pub const MAX_METRICS_CONNECTIONS: usize = 16;
/// How long a scraper may take to send a request's headers (Prometheus sends them at once).
pub const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How an HTTP listener is bounded before any request is handled.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// What the listener is, for the log.
    name: &'static str,
    /// Connections held at once; one more takes the place of the connection idle longest, or is closed at once
    /// (nothing of it is read) when every connection has a request in progress.
    connections: usize,
    /// How long a client may take to send a request's headers (and, kept alive, to start the next).
    header_timeout: Duration,
}

const API_BOUNDS: Bounds = Bounds {
    name: "API listener",
    connections: MAX_CONNECTIONS,
    header_timeout: HEADER_TIMEOUT,
};

const METRICS_BOUNDS: Bounds = Bounds {
    name: "metrics listener",
    connections: MAX_METRICS_CONNECTIONS,
    header_timeout: METRICS_HEADER_TIMEOUT,
};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before any file is opened: every node started later inherits the raised limit.
    let files = engine::limits::raise_file_limit();
    tracing::info!(
        limit = files.limit,
        was = files.before,
        kept_for_the_control_plane = files.reserve,
        "open files: the soft limit raised to the hard one; customers' connections may hold the rest"
    );
    let metrics_token = args
        .metrics_token_file
        .as_deref()
        .map(read_metrics_token)
        .transpose()?;
    let metrics_listen = args.metrics_listen.clone();
    let metrics_interval = Duration::from_secs(args.metrics_interval);
    let mut cfg = config::resolve(args)?;
    let console_on = cfg.console;
    let binaries = engine::binary::discover(&cfg.engine_binaries)?;
    engine::private::prepare_socket_dir(&cfg.data_dir)?;
    let control = open_control(&cfg, &binaries).await?;
    // What the daemons of the machine share is set up: the next one may start.
    drop(cfg.init.take());
    let listener = bind_api(cfg.listen).await?;
    let local = listener.local_addr()?;
    let metrics = bind_metrics(&metrics_listen).await?;
    let dns = crate::dns::bind(&control, cfg.dns_listen).await?;
    // What the operator must know of this start, for `cacheplane status` and the console.
    let notices = crate::console::start_notices(
        metrics.is_none() && metrics_listen == config::DEFAULT_METRICS_LISTEN,
        &metrics_listen,
        (console_on && cfg.console_insecure).then_some(local),
    );
    control::status::write_notices(&cfg.data_dir, &notices)?;
    let mut listening = vec![local];
    if let Some(m) = &metrics {
        listening.push(m.local_addr()?);
    }
    let hosts = Arc::new(crate::console::AllowedHosts::new(
        &listening,
        &cfg.allowed_hosts,
    ));

    let (stop_tx, stop_rx) = watch::channel(false);
    // On a shared store the API answers at once and the workers run once this daemon leads. Alone on its store the
    // daemon leads from the start: its endpoints are bound before it says it listens.
    let mut leadership = control.start_leadership();
    let mut tasks = match leadership {
        None => Some(begin_leading(&control, 1, &stop_rx, console_on, metrics_interval).await),
        Some(_) => None,
    };
    let app = api_app(
        app_state(&cfg, &control, metrics_interval, notices)?,
        console_on,
        &hosts,
    );

    announce(&cfg, &binaries, local, &control);
    // The metrics are answered only for this daemon's own names (DNS rebinding).
    let metrics_app = metrics_app(control.clone(), metrics_interval, metrics_token).layer(
        axum::middleware::from_fn_with_state(hosts, crate::console::host_check),
    );
    serve_beside(
        metrics.map(|m| (m, metrics_app)),
        console_on.then_some(local),
        dns,
    )?;
    let api = serve_bounded(listener, app, API_BOUNDS);
    tokio::pin!(api);
    let mut _lock = cfg.lock; // held until the daemon exits
    if let (None, Some(l)) = (&tasks, leadership.as_mut()) {
        let (held, generation) = tokio::select! {
            () = &mut api => {
                tracing::info!("shutting down (this daemon did not lead)");
                if let Some(l) = leadership { l.release(); }
                return Ok(());
            }
            held = lead(l, &cfg.data_dir, local) => held?,
        };
        _lock = Some(held);
        tasks =
            Some(begin_leading(&control, generation, &stop_rx, console_on, metrics_interval).await);
    }
    let Some(mut tasks) = tasks else {
        anyhow::bail!("the daemon neither leads nor follows");
    };

    // The API never answers with nothing behind it: should the reconciler or the notifier end (a panic), the
    // daemon stops with a clear error (the nodes keep running; a restart adopts them). A leader that lost its
    // lease stops at once: its workers must not act beside the new leader's.
    let died = tokio::select! {
        () = &mut api => None,
        d = tasks.died() => Some(d),
        () = lost(leadership.as_mut()) => {
            eprintln!("cacheplane: this daemon lost its lease on the store; it stops so that only the new leader acts (its nodes keep running)");
            std::process::exit(1);
        }
    };
    if let Some((task, r)) = died {
        return Err(ended(task, r));
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    tasks.finish().await;
    if let Some(l) = leadership {
        l.release();
    }
    if let Err(e) = control::status::write_notices(&cfg.data_dir, &[]) {
        tracing::warn!(error = %e, "could not remove the daemon's notices");
    }
    if cfg.stop_nodes_on_exit {
        control.stop_all_nodes().await;
        tracing::info!("stopped every node (--stop-nodes-on-exit)");
    } else {
        tracing::info!("nodes keep running; the next start adopts them");
    }
    Ok(())
}

/// Serves the metrics listener and the DNS server beside the API, and says where each listener is (after the API's
/// own line, which callers wait for first).
fn serve_beside(
    metrics: Option<(tokio::net::TcpListener, Router)>,
    console: Option<std::net::SocketAddr>,
    dns: Option<crate::dns::DnsServer>,
) -> anyhow::Result<()> {
    if let Some((m, app)) = metrics {
        println!("cacheplane: metrics on http://{}/metrics", m.local_addr()?);
        tokio::spawn(serve_bounded(m, app, METRICS_BOUNDS));
    }
    if let Some(local) = console {
        println!("cacheplane: console on http://{local}/console/");
    }
    if let Some(d) = dns {
        println!(
            "cacheplane: DNS names under {} on udp://{}",
            d.zone(),
            d.local_addr()
        );
        tokio::spawn(d.run());
    }
    Ok(())
}

/// The API's routes: the console's (unless `--no-console`, and only for this daemon's own names), and every other
/// request to the AWS API.
fn api_app(state: AppState, console_on: bool, hosts: &Arc<crate::console::AllowedHosts>) -> Router {
    if console_on {
        crate::console::routes().route_layer(axum::middleware::from_fn_with_state(
            hosts.clone(),
            crate::console::host_check,
        ))
    } else {
        Router::new()
    }
    .route(
        crate::hosts::JOIN_PATH,
        axum::routing::post(crate::hosts::join),
    )
    .fallback(handle)
    .with_state(Arc::new(state))
}

/// The daemon's error when a background task of it ended.
fn ended(task: &str, r: Result<(), tokio::task::JoinError>) -> anyhow::Error {
    let why = match r {
        Ok(()) => "it returned".to_string(),
        Err(e) => e.to_string(),
    };
    tracing::error!(task, why, "a background task of the daemon ended; stopping");
    anyhow::anyhow!("the {task} ended ({why}); the daemon stopped with it. Its nodes keep running; start the daemon again to adopt them")
}

/// What the leader runs: (on a shared store, a listener for other daemons' changes,) its groups' endpoints bound
/// again, then the workers, the notifier, the deliveries and the
/// collector.
async fn begin_leading(
    control: &control::Control,
    generation: i64,
    stop_rx: &watch::Receiver<bool>,
    console_on: bool,
    metrics_interval: Duration,
) -> Background {
    control.set_leading(generation);
    control.listen_for_changes();
    for (id, e) in control.restore_endpoints().await {
        tracing::warn!(group = %id, error = %e, "could not bind the endpoints yet; the reconciler retries");
    }
    Background::spawn(control, stop_rx.clone(), console_on, metrics_interval)
}

/// Waits until this daemon leads, then for the data directory's lock (held by a leader of before that has not
/// exited yet); the lock and the generation it leads under.
async fn lead(
    l: &mut control::runtime::leader::Leadership,
    data_dir: &std::path::Path,
    listen: std::net::SocketAddr,
) -> anyhow::Result<(engine::private::DirLock, i64)> {
    use control::runtime::leader::{Leading, RENEW_EVERY};
    println!("cacheplane: following; this daemon runs the workers once it leads");
    let mut said = false;
    loop {
        match *l.state.borrow_and_update() {
            Leading::Leads(generation) => match config::lock_for(data_dir, listen) {
                Ok(lock) => {
                    println!("cacheplane: leading (generation {generation})");
                    return Ok((lock, generation));
                }
                Err(e) if !said => {
                    said = true;
                    tracing::warn!(error = %e, "leading, but the data directory is still held: waiting for it");
                }
                Err(_) => {}
            },
            // It had not begun to lead: it follows again.
            Leading::Lost | Leading::Follows => {}
        }
        tokio::select! {
            r = l.state.changed() => r.map_err(|_| anyhow::anyhow!("the lease's thread ended"))?,
            () = tokio::time::sleep(RENEW_EVERY) => {}
        }
    }
}

/// Resolves when this daemon, having led, lost its lease; never without a shared store.
async fn lost(l: Option<&mut control::runtime::leader::Leadership>) {
    let Some(l) = l else {
        return std::future::pending().await;
    };
    let _ = l
        .state
        .wait_for(|s| *s == control::runtime::leader::Leading::Lost)
        .await;
}

/// Reads what every engine build's ACL understands (from the builds themselves) and opens the control plane.
async fn open_control(
    cfg: &config::Resolved,
    binaries: &[engine::binary::EngineBinary],
) -> anyhow::Result<control::Control> {
    let mut vocabularies = Vec::new();
    for (i, b) in binaries
        .iter()
        .enumerate()
        .filter(|(_, b)| b.engine != engine::binary::MEMCACHED)
    {
        // Of this process: daemons sharing the data directory may start at once.
        let scratch = cfg
            .data_dir
            .join(format!("probe-{}-{i}", std::process::id()));
        vocabularies.push(
            engine::vocabulary::read(&b.path, &scratch)
                .await
                .with_context(|| {
                    format!(
                        "the engine binary {} did not start as a server to tell its commands (its own reason \
                         follows); mend or replace that binary, or register others with --engine-binary",
                        b.path.display(),
                    )
                })?,
        );
    }
    let settings = control::Settings {
        data_dir: cfg.data_dir.clone(),
        store: cfg.store.clone(),
        region: cfg.region.clone(),
        account_id: cfg.account_id.clone(),
        availability_zones: cfg.availability_zones.clone(),
        binaries: binaries.to_vec(),
        migration_attempt_timeout: std::time::Duration::from_secs(cfg.migration_attempt_timeout),
        snapshot_quota: cfg.snapshot_quota as usize,
        failover_budget: cfg.failover_budget,
        acl_vocabulary: engine::vocabulary::AclVocabulary::common(&vocabularies),
        memory_limit: cfg.memory_limit,
        dns_zone: cfg.dns_zone.clone(),
    };
    control::Control::open(settings).context("opening the control plane")
}

/// The API's listener.
async fn bind_api(listen: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!(
            "cannot listen on {listen} for the API (is another daemon running there?): stop what holds it, or choose \
             another address with --listen ADDR:PORT"
        )
    })
}

/// The API's state: the control plane, the key pair and the console (unless `--no-console`).
fn app_state(
    cfg: &config::Resolved,
    control: &control::Control,
    metrics_interval: Duration,
    notices: Vec<String>,
) -> anyhow::Result<AppState> {
    Ok(AppState {
        control: control.clone(),
        in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        region: cfg.region.clone(),
        access_key_id: cfg.access_key_id.clone(),
        secret_access_key: cfg.secret_access_key.clone(),
        console: if cfg.console {
            Some(crate::console::Console::new(
                control::actions::console_sessions::Sessions::open(&cfg.data_dir, &cfg.store)
                    .context("opening the console's sessions")?,
                cfg.console_password.clone(),
                metrics_interval,
                notices,
            ))
        } else {
            None
        },
    })
}

/// What the daemon tells its operator at start: the engine binaries, generated credentials, where it listens.
fn announce(
    cfg: &config::Resolved,
    binaries: &[engine::binary::EngineBinary],
    local: std::net::SocketAddr,
    control: &control::Control,
) {
    for b in binaries {
        tracing::info!(version = %b.version, path = %b.path.display(), "engine binary");
    }
    // Shown without a password the URL may hold.
    tracing::info!(store = ?cfg.store, "state");
    if cfg.generated_credentials {
        eprintln!(
            "cacheplane: generated API credentials in {}; to use them:\n{}",
            cfg.data_dir.join("credentials").display(),
            config::usage_lines(
                local,
                &cfg.region,
                &cfg.access_key_id,
                &cfg.data_dir.join("credentials")
            )
        );
    }
    println!(
        "cacheplane: API listening on http://{local} (region {}, data {}, CA bundle for TLS clients {})",
        cfg.region,
        cfg.data_dir.display(),
        control.ca_bundle().display()
    );
}

/// The daemon's background tasks: the reconciler, the notifier, log delivery and the metrics collector.
struct Background {
    reconciler: tokio::task::JoinHandle<()>,
    notifier: tokio::task::JoinHandle<()>,
    log_delivery: tokio::task::JoinHandle<()>,
    collector: tokio::task::JoinHandle<()>,
}

impl Background {
    fn spawn(
        control: &control::Control,
        stop_rx: watch::Receiver<bool>,
        console_on: bool,
        metrics_interval: Duration,
    ) -> Self {
        let reconciler = {
            let c = control.clone();
            let rx = stop_rx.clone();
            tokio::spawn(async move { c.run_reconciler(rx).await })
        };
        let notifier = {
            let c = control.clone();
            let rx = stop_rx.clone();
            tokio::spawn(async move { c.run_notifier(rx).await })
        };
        let log_delivery = {
            let c = control.clone();
            let rx = stop_rx.clone();
            tokio::spawn(async move { c.run_log_delivery(rx).await })
        };
        // The nodes' figures of the last hour, for the console's charts (one INFO per node per interval, shared
        // with the scrapes). Without the console nothing reads the nodes but a scrape.
        let collector = {
            let c = control.clone();
            tokio::spawn(async move {
                if console_on {
                    c.run_collector(metrics_interval, stop_rx).await
                } else {
                    let mut stop = stop_rx;
                    let _ = stop.wait_for(|s| *s).await;
                }
            })
        };
        Self {
            reconciler,
            notifier,
            log_delivery,
            collector,
        }
    }

    /// The first task to end, and how.
    async fn died(&mut self) -> (&'static str, Result<(), tokio::task::JoinError>) {
        tokio::select! {
            r = &mut self.reconciler => ("reconciler", r),
            r = &mut self.notifier => ("notifier", r),
            r = &mut self.log_delivery => ("log delivery", r),
            r = &mut self.collector => ("metrics collector", r),
        }
    }

    /// Waits for the tasks once told to stop: in-flight steps finish (a node start is bounded by its readiness
    /// timeout); none starts a node after this.
    async fn finish(self) {
        let _ = tokio::time::timeout(Duration::from_secs(30), self.reconciler).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.notifier).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.log_delivery).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.collector).await;
    }
}

/// The metrics listener's routes: `GET /metrics`, behind the bearer `token` when there is one.
fn metrics_app(control: control::Control, interval: Duration, token: Option<String>) -> Router {
    let token: Option<Arc<str>> = token.map(Arc::from);
    Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let c = control.clone();
            let token = token.clone();
            async move {
                if let Some(t) = token {
                    if !bearer_matches(&headers, &t) {
                        let mut r = Response::new(Body::from(
                            "This metrics listener needs the bearer token of --metrics-token-file.\n",
                        ));
                        *r.status_mut() = StatusCode::UNAUTHORIZED;
                        r.headers_mut().insert(
                            "www-authenticate",
                            HeaderValue::from_static("Bearer realm=\"cacheplane metrics\""),
                        );
                        return r;
                    }
                }
                let mut r = Response::new(Body::from(c.scrape_metrics(interval).await));
                r.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
        }),
    )
}

/// Whether `headers` carry `Authorization: Bearer <token>` (see [`same_secret`]).
fn bearer_matches(headers: &axum::http::HeaderMap, token: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim(), token))
}

/// The metrics bearer token from `path`: its content, without surrounding white space.
fn read_metrics_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = config::secret_file(path, "--metrics-token-file", "give no --metrics-token-file")?;
    let token = text.trim();
    anyhow::ensure!(
        token.len() >= 16 && !token.contains(char::is_whitespace),
        "the metrics token file {} must hold one token of at least 16 characters without spaces (for one: \
         openssl rand -hex 32 > {})",
        path.display(),
        path.display()
    );
    Ok(token.to_string())
}

/// Serves `app` on `listener` until SIGTERM or SIGINT, within `bounds` (the API: [`MAX_CONNECTIONS`]
/// connections, headers within [`HEADER_TIMEOUT`]) and [`MAX_HEADER_BYTES`]. On the signal, accepting stops and
/// every connection finishes the request it is serving (for up to 10 s).
///
/// At the cap, a new connection does not lose to idle ones: the connection idle longest is closed for it
/// ([`engine::limits::Gate`]). A connection is idle once what it sent with its connection was read and found
/// without whole headers, and again once its response is flushed (kept alive); from the headers until the
/// response is flushed it is busy and never closed for another. Which idle one goes, and when it is judged: see
/// [`engine::limits::Gate`].
async fn serve_bounded(listener: tokio::net::TcpListener, app: Router, bounds: Bounds) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let max = bounds.connections;
    let name = match listener.local_addr() {
        Ok(a) => format!("{} {a}", bounds.name),
        Err(_) => bounds.name.to_string(),
    };
    // The daemon's own listeners: their descriptors are in the reserve, not the customers' budget.
    let gate = engine::limits::Gate::reserved(name, max);
    let connections = tokio_util::task::TaskTracker::new();
    let (closing_tx, closing) = watch::channel(false);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut signal => break,
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, for one: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(admission) = gate.admit_idle(1).await else {
            tracing::debug!(%peer, "connection refused: {max} connections open, each with a request in progress");
            continue;
        };
        // Bytes it sent that are not read yet keep it from being evicted until read.
        admission.watch(&stream);
        let activity = admission.activity();
        // Its bytes tell the gate when it holds part of a request; an answer ends its request once flushed.
        let stream = engine::limits::Heard::new(stream, activity.clone());
        let service = WhileBusy::service(app.clone(), activity.clone(), stream.unflushed());
        let mut closing = closing.clone();
        connections.spawn(async move {
            let _admission = admission;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.header_timeout)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            // What the client sent with its connection is read (a request's headers that came with it make it
            // busy) before a newer connection may evict it.
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::future::Future::poll(conn.as_mut(), cx))
            })
            .await;
            activity.arrived();
            if first.is_ready() {
                return;
            }
            tokio::select! {
                _ = conn.as_mut() => return,
                // Closed for a newer connection while idle: nothing is cut.
                () = activity.evicted() => return,
                _ = closing.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(11), connections.wait()).await;
}

/// A response body that keeps its connection busy ([`engine::limits::Busy`]) until it is written whole and
/// flushed (or the connection ends).
struct WhileBusy {
    body: Body,
    busy: Option<engine::limits::Busy>,
    unflushed: engine::limits::Unflushed,
}

impl Drop for WhileBusy {
    fn drop(&mut self) {
        // Dropped once its last frame is taken: the bytes may still wait in hyper's buffer.
        if let Some(b) = self.busy.take() {
            self.unflushed.hold(b);
        }
    }
}

impl WhileBusy {
    /// `app` as a connection's service: busy from a request's headers until its response is written.
    fn service(
        app: Router,
        activity: engine::limits::Activity,
        unflushed: engine::limits::Unflushed,
    ) -> impl hyper::service::Service<
        Request<hyper::body::Incoming>,
        Response = Response<WhileBusy>,
        Error = std::io::Error,
        Future = impl Send,
    > + Clone {
        let app = hyper_util::service::TowerToHyperService::new(app);
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let busy = activity.busy();
            let handled = busy
                .is_some()
                .then(|| hyper::service::Service::call(&app, req));
            let unflushed = unflushed.clone();
            async move {
                let (Some(busy), Some(handled)) = (busy, handled) else {
                    return Err(std::io::Error::other(
                        "the connection was closed for a newer one",
                    ));
                };
                let response = match handled.await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                Ok(response.map(|body| WhileBusy {
                    body,
                    busy: Some(busy),
                    unflushed,
                }))
            }
        })
    }
}

impl hyper::body::Body for WhileBusy {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The metrics listener: `None` for `off`, or when the default address is taken (said in the log); an address
/// given explicitly must be free.
async fn bind_metrics(listen: &str) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    if listen == "off" {
        return Ok(None);
    }
    let addr: std::net::SocketAddr = listen.parse().with_context(|| {
        format!("--metrics-listen {listen} is not an address: give ADDR:PORT, or off")
    })?;
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(Some(l)),
        Err(e) if listen == config::DEFAULT_METRICS_LISTEN => {
            tracing::warn!(%addr, error = %e, "metrics are off: their default address is taken (choose one with --metrics-listen)");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot listen on {addr} for metrics: stop what holds it, or choose another address with \
                 --metrics-listen (or off)"
            )
        }),
    }
}

pub(crate) async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn handle(State(app): State<Arc<AppState>>, req: Request) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    // The CloudWatch Logs API, served on the same endpoint for delivered logs: JSON, named by X-Amz-Target.
    if let Some(target) = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.starts_with(wire::logs::TARGET_PREFIX))
        .map(str::to_string)
    {
        return match handle_logs(&app, req, &target).await {
            Ok(json) => json_response(200, json, &request_id),
            Err(e) => {
                tracing::debug!(code = %e.code, message = %e.message, "logs request refused");
                json_response(e.status, e.to_json(), &request_id)
            }
        };
    }
    let started = std::time::Instant::now();
    let mut action = "-";
    let result = handle_inner(&app, req, &request_id, &mut action).await;
    answer(&app, action, started, result, &request_id)
}

fn json_response(status: u16, body: String, request_id: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(wire::logs::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// A Logs API request: the same bounds and signature checks as the ElastiCache API, for the service `logs`.
async fn handle_logs(
    app: &AppState,
    req: Request,
    target: &str,
) -> Result<String, wire::logs::LogsError> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "The CloudWatch Logs API accepts only POST.",
        )
        .into());
    }
    wire::logs::require_signed_target(
        parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    )?;
    let (_permit, body) = read_signed(app, &parts, body, wire::logs::SERVICE).await?;
    let request = wire::logs::LogsRequest::decode(target, &body)?;
    let answer = app.control.logs_request(request).await?;
    Ok(answer.to_json())
}

/// Checks the headers' signature, reads the body within the bounds, and verifies the whole request's signature
/// for `service`. Returns the body, and the in-flight permit the request holds until it is answered.
async fn read_signed<'a>(
    app: &'a AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    service: &str,
) -> Result<(tokio::sync::SemaphorePermit<'a>, Bytes), ApiError> {
    let header_pairs: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    let pairs: Vec<(&str, &str)> = header_pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let secret_for = |id: &str| (id == app.access_key_id).then(|| app.secret_access_key.clone());
    // What the headers alone can refuse is refused before a byte of the body is read.
    wire::sigv4::verify_headers(&pairs, secret_for, &app.region, service, control::now())?;
    let permit = app.in_flight.acquire().await.map_err(|_| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The server is shutting down.",
        )
    })?;
    if parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES)
    {
        // Read (and drop) a moderately oversized body so the client, still sending, gets the 413 rather than a
        // reset connection; past DRAIN_LIMIT the connection is simply closed.
        let _ = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, DRAIN_LIMIT)).await;
        return Err(too_large());
    }
    let body: Bytes =
        tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES))
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "The request body did not arrive within {} seconds.",
                        BODY_TIMEOUT.as_secs()
                    ),
                )
            })?
            .map_err(|_| too_large())?;
    let request_parts = wire::sigv4::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &pairs,
        body: &body,
    };
    wire::sigv4::verify(
        &request_parts,
        secret_for,
        &app.region,
        service,
        control::now(),
    )?;
    Ok((permit, body))
}

/// One Query API request; `action` is set to its action once it is known (for the metrics).
async fn handle_inner(
    app: &AppState,
    req: Request,
    request_id: &str,
    action: &mut &'static str,
) -> Result<String, ApiError> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST && parts.method != Method::GET {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "The Query API accepts only GET and POST.",
        ));
    }
    let (_permit, body) = read_signed(app, &parts, body, "elasticache").await?;
    let query = parts.uri.query().unwrap_or("");
    let mut form = wire::form::Form::parse(query.as_bytes())?;
    if parts.method == Method::POST {
        form.merge(wire::form::Form::parse(&body)?)?;
    }
    dispatch_form(app, form, request_id, action).await
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::RequestEntityTooLarge,
        format!("The request body is larger than the {MAX_BODY_BYTES} bytes this API accepts."),
    )
}
