//! The console's defences, tried as an attacker would, over raw TCP: a copied cookie after logout, after "log out
//! everywhere" (the console's button and the CLI) and after a restart; a foreign `Host` (DNS rebinding) on the
//! console and the metrics listener; 40 parallel password guessers; secrets on the command line, a short console
//! password and a console on a non-loopback address refused at start; a taken metrics port said in `cacheplane
//! status` and the console.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "a-console-password-for-tests";

/// One HTTP/1.1 exchange on a connection of its own: the status, the headers (lower-cased names) and the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie the answer sets (`name=value`), if any.
    fn cookie(&self) -> Option<String> {
        let c = self.header("set-cookie")?;
        let pair = c.split(';').next()?.trim().to_string();
        (!pair.ends_with('=')).then_some(pair)
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 30 s")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

fn host(d: &Daemon) -> String {
    d.addr.to_string()
}

async fn login_as(d: &Daemon, host: &str, body: &str) -> Answer {
    http(
        d.addr,
        "POST",
        "/console/login",
        host,
        &[("X-Console", "1"), ("Content-Type", "application/json")],
        body,
    )
    .await
}

/// A login with the API's key pair; returns the session cookie.
async fn login(d: &Daemon) -> String {
    let body = serde_json::json!({"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET})
        .to_string();
    let a = login_as(d, &host(d), &body).await;
    assert_eq!(a.status, 200, "login: {}", a.body);
    a.cookie().expect("a session cookie")
}

/// `GET /console/api/list` with `cookie`: its status.
async fn list_with(d: &Daemon, cookie: &str) -> u16 {
    http(
        d.addr,
        "GET",
        "/console/api/list",
        &host(d),
        &[("Cookie", cookie)],
        "",
    )
    .await
    .status
}

async fn post_with(d: &Daemon, path: &str, cookie: &str) -> Answer {
    http(
        d.addr,
        "POST",
        path,
        &host(d),
        &[("Cookie", cookie), ("X-Console", "1")],
        "",
    )
    .await
}

#[tokio::test]
async fn a_copied_cookie_is_refused_after_logout_and_after_a_restart() {
    let mut d = Daemon::start();
    let ended = login(&d).await;
    let kept = login(&d).await;
    assert_eq!(list_with(&d, &ended).await, 200);
    // The browser logs out; an attacker kept a copy of its cookie.
    let out = post_with(&d, "/console/logout", &ended).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        list_with(&d, &ended).await,
        401,
        "the copied cookie after logout"
    );
    assert_ne!(ended, kept, "every login is a session of its own");
    assert_eq!(list_with(&d, &kept).await, 200, "another session goes on");
    // A cookie of a session that never was, in the old signed format or any other, opens nothing.
    assert_eq!(
        list_with(&d, "cacheplane_console=v1.99999999999.00").await,
        401
    );
    d.kill9();
    d.spawn();
    assert_eq!(
        list_with(&d, &ended).await,
        401,
        "a restart does not revive an ended session"
    );
    assert_eq!(
        list_with(&d, &kept).await,
        200,
        "a live session outlives a restart"
    );
}

#[tokio::test]
async fn log_out_everywhere_from_the_console_and_from_the_cli() {
    let d = Daemon::start();
    let a = login(&d).await;
    let b = login(&d).await;
    let all = post_with(&d, "/console/logout-all", &a).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(list_with(&d, &a).await, 401);
    assert_eq!(
        list_with(&d, &b).await,
        401,
        "another browser's session ended too"
    );

    // The CLI, while the daemon runs (it holds the data directory).
    let c = login(&d).await;
    assert_eq!(list_with(&d, &c).await, 200);
    let out = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["console-logout-all", "--data-dir"])
        .arg(d.data_dir())
        .output()
        .expect("run the CLI");
    assert!(
        out.status.success(),
        "console-logout-all: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ended 1 console session"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(list_with(&d, &c).await, 401, "ended by the CLI");
    // A new login works.
    let again = login(&d).await;
    assert_eq!(list_with(&d, &again).await, 200);
}

#[tokio::test]
async fn a_foreign_host_is_refused_by_the_console_and_the_metrics() {
    let d = Daemon::start();
    let creds = serde_json::json!({"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET})
        .to_string();
    let port = d.addr.port();
    for foreign in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1.evil.example:{port}"),
        String::new(),
    ] {
        let a = login_as(&d, &foreign, &creds).await;
        assert!(
            a.status == 421,
            "login with Host {foreign:?}: {} {}",
            a.status,
            a.body
        );
        assert!(
            a.header("set-cookie").is_none(),
            "no cookie for {foreign:?}"
        );
        assert!(a.body.contains("--allowed-host"), "{}", a.body);
        let page = http(d.addr, "GET", "/console/", &foreign, &[], "").await;
        assert_eq!(page.status, 421, "the page with Host {foreign:?}");
    }
    for ours in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LocalHost".to_string(),
    ] {
        let a = login_as(&d, &ours, &creds).await;
        assert_eq!(a.status, 200, "login with Host {ours}: {}", a.body);
    }
    // The metrics listener: its own address, localhost, and the allowed names only.
    let metrics = d.metrics.expect("the metrics listener");
    let scrape = |h: String| async move { http(metrics, "GET", "/metrics", &h, &[], "").await };
    assert_eq!(scrape(metrics.to_string()).await.status, 200);
    assert_eq!(
        scrape(format!("localhost:{}", metrics.port())).await.status,
        200
    );
    let foreign = scrape(format!("evil.example:{}", metrics.port())).await;
    assert_eq!(foreign.status, 421, "{}", foreign.body);
    assert!(!foreign.body.contains("cacheplane_"), "no figures");
    // The API itself is signed over its Host: it is not concerned.
    let _ = d
        .client()
        .describe_replication_groups()
        .send()
        .await
        .expect("the API answers");
}

#[tokio::test]
async fn forty_parallel_guessers_make_a_bounded_number_of_guesses() {
    let mut d = Daemon {
        child: None,
        addr: "127.0.0.1:0".parse().expect("addr"),
        dir: tempfile::tempdir().expect("tempdir"),
        log: "info",
        extra_args: vec![],
        log_file: None,
        env: vec![("CACHEPLANE_CONSOLE_PASSWORD".into(), PASSWORD.into())],
        metrics: None,
        beside: None,
    };
    d.spawn();
    let checked = Arc::new(AtomicUsize::new(0));
    let refused_unchecked = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs(8);
    let mut guessers = tokio::task::JoinSet::new();
    for g in 0..40 {
        let (addr, h) = (d.addr, host(&d));
        let (checked, unchecked) = (checked.clone(), refused_unchecked.clone());
        guessers.spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                let body = serde_json::json!({"password": format!("guess-{g}-{n}")}).to_string();
                let a = http(
                    addr,
                    "POST",
                    "/console/login",
                    &h,
                    &[("X-Console", "1")],
                    &body,
                )
                .await;
                match a.status {
                    401 => checked.fetch_add(1, Ordering::Relaxed),
                    429 => {
                        assert!(a.header("retry-after").is_some(), "Retry-After");
                        assert!(a.body.contains("failed logins"), "{}", a.body);
                        unchecked.fetch_add(1, Ordering::Relaxed)
                    }
                    s => panic!("unexpected answer to a guess: {s} {}", a.body),
                };
            }
        });
    }
    while let Some(r) = guessers.join_next().await {
        r.expect("guesser");
    }
    let checked = checked.load(Ordering::Relaxed);
    eprintln!(
        "8 s of 40 guessers: {checked} guesses checked, {} refused unchecked",
        refused_unchecked.load(Ordering::Relaxed)
    );
    // 5 free failures, then one after each of 0.5, 1, 2, 4 s: 8 or 9 in 8 s, whatever the number of guessers.
    assert!(
        checked <= 10,
        "{checked} guesses were checked in 8 s (the limit allows 9)"
    );
    // The operator, once the guessing stops, logs in when the lock opens.
    let deadline = Instant::now() + Duration::from_secs(90);
    let body = serde_json::json!({"password": PASSWORD}).to_string();
    loop {
        let a = login_as(&d, &host(&d), &body).await;
        if a.status == 200 {
            assert!(a.cookie().is_some());
            break;
        }
        assert_eq!(a.status, 429, "{}", a.body);
        assert!(Instant::now() < deadline, "still locked after 90 s");
        let wait: u64 = a
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After seconds");
        tokio::time::sleep(Duration::from_secs(wait.clamp(1, 60))).await;
    }
}

#[tokio::test]
async fn names_given_with_allowed_host_are_served() {
    let d = Daemon::start_with_args("info", &["--allowed-host", "Cacheplane.Internal"]);
    let creds = serde_json::json!({"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET})
        .to_string();
    let a = login_as(
        &d,
        &format!("cacheplane.internal:{}", d.addr.port()),
        &creds,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let metrics = d.metrics.expect("the metrics listener");
    let scrape = http(metrics, "GET", "/metrics", "cacheplane.internal", &[], "").await;
    assert_eq!(scrape.status, 200);
    let other = login_as(&d, "other.internal", &creds).await;
    assert_eq!(other.status, 421);
}

/// `cacheplane serve` with `args` and `env`: it must exit (refusing to start) within 60 s; its stderr.
fn refused_start(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["serve", "--metrics-listen", "off", "--data-dir"])
        .arg(dir)
        .args(args)
        .env("CACHEPLANE_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("CACHEPLANE_SECRET_ACCESS_KEY", SECRET)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "it exited successfully");
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err)
                .expect("stderr");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`cacheplane serve {args:?}` started; it should have refused to");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unsafe_starts_are_refused_with_a_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 0: the daemon refuses before it binds anything.
    let port = 0;
    let listen = format!("127.0.0.1:{port}");
    let short = refused_start(
        dir.path(),
        &["--listen", &listen],
        &[("CACHEPLANE_CONSOLE_PASSWORD", "fifteen-chars!!")],
    );
    assert!(
        short.contains("at least 16 characters"),
        "short password: {short}"
    );
    let file = dir.path().join("console-password");
    std::fs::write(&file, "short\n").expect("write");
    let short_file = refused_start(
        dir.path(),
        &[
            "--listen",
            &listen,
            "--console-password-file",
            file.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(
        short_file.contains("at least 16 characters"),
        "{short_file}"
    );
    // Secrets on the command line are in /proc/*/cmdline for every local user.
    for flag in ["--console-password", "--secret-access-key"] {
        let e = refused_start(
            dir.path(),
            &["--listen", &listen, flag, "a-secret-that-is-long-enough"],
            &[],
        );
        assert!(e.contains("process list"), "{flag}: {e}");
    }
    // The console on an address other machines reach, without TLS.
    let open = refused_start(dir.path(), &["--listen", &format!("0.0.0.0:{port}")], &[]);
    assert!(open.contains("--console-insecure"), "{open}");
    assert!(open.contains("--no-console"), "{open}");
}

#[tokio::test]
async fn the_console_password_and_the_api_secret_come_from_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    // The file wins over the environment's CACHEPLANE_SECRET_ACCESS_KEY (which the harness sets).
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "a-secret-from-a-file\n").expect("write");
    let d = Daemon::start_with_args(
        "info",
        &[
            "--console-password-file",
            file.to_str().expect("utf-8"),
            "--secret-access-key-file",
            secret_file.to_str().expect("utf-8"),
        ],
    );
    client_for(&d.endpoint(), ACCESS_KEY_ID, "a-secret-from-a-file")
        .describe_replication_groups()
        .send()
        .await
        .expect("signed with the file's secret");
    let a = login_as(
        &d,
        &host(&d),
        &serde_json::json!({"password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn a_taken_metrics_port_is_said_in_status_and_the_console() {
    // Whoever holds the default address (this test, or something else on the machine), the daemon runs without
    // metrics there.
    let _held = std::net::TcpListener::bind("127.0.0.1:9737");
    let d = Daemon::start_with_args("info", &["--metrics-listen", "127.0.0.1:9737"]);
    let out = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["status", "--data-dir"])
        .arg(d.data_dir())
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("serves no metrics") && text.contains("127.0.0.1:9737"),
        "status: {text}"
    );
    let cookie = login(&d).await;
    let s = http(
        d.addr,
        "GET",
        "/console/api/session",
        &host(&d),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(s.status, 200);
    let v: serde_json::Value = serde_json::from_str(&s.body).expect("json");
    let notices = v["notices"].as_array().expect("notices");
    assert!(
        notices
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("serves no metrics"))),
        "{notices:?}"
    );
}
