//! The full abuse campaign (issue 29): every listener the daemon opens under an idle flood, slowloris, an endless
//! line and random bytes, harder and held longer than in CI (`tests/abuse.rs`), with a valid client arriving
//! meanwhile; prints one row per listener and attack (the daemon's RSS before, at its peak and after, its peak of
//! descriptors, the valid client's and the API's latency, failovers caused, whether the daemon lived) and which
//! goals each row misses.

#[path = "../tests/abuse/mod.rs"]
mod abuse;
#[path = "../tests/common/mod.rs"]
mod common;

use abuse::{campaign, table, Attack, Scale};
use common::Daemon;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The daemon starts with a stock machine's limit of open files, as a new user's would.
    abuse::stock_nofile();
    let d = Daemon::start_logging("warn");
    let rows = campaign(&d, &Attack::ALL, Scale::FULL).await;
    println!("abuse campaign:\n{}", table(&rows));
    for r in &rows {
        println!(
            "  {} / {}: the attacker saw {}",
            r.listener, r.attack, r.attacker
        );
    }
}
