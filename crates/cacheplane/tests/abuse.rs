//! The abuse campaign, short: every listener the daemon opens (the API with the console and the Logs API, metrics,
//! the reader endpoint's forwarder, a TLS `preferred` front, a Memcached configuration endpoint) under an idle
//! flood, slowloris, an endless line and random bytes, each held briefly, with a valid client arriving meanwhile
//! (the full run, longer and harder, is `cargo bench --bench abuse`, run by `scripts/bench.sh`).

#[path = "abuse/mod.rs"]
mod abuse;
mod common;

use abuse::{campaign, table, Attack, Scale};
use common::Daemon;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_survives_every_attack_within_its_bounds() {
    // The daemon starts with a stock machine's limit of open files, as a new user's would.
    abuse::stock_nofile();
    let d = Daemon::start_logging("warn");
    let rows = campaign(&d, &Attack::ALL, Scale::CI).await;
    let printed = table(&rows);
    eprintln!("{printed}");
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.failures().is_empty())
        .map(|r| format!("{} / {}: {}", r.listener, r.attack, r.failures().join("; ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} rows miss a goal:\n{}\n{printed}",
        failed.len(),
        failed.join("\n")
    );
}
