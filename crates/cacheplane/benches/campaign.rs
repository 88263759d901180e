//! The full fault campaign (issue 12): for every long operation, 20 `SIGKILL`s of the daemon spread over the
//! operation's steps under a continuous writer, then the same with `SIGKILL` / `SIGSTOP` of nodes; prints one row
//! per operation (kills, violations of each invariant, acknowledged writes lost where a failover is expected,
//! worst convergence time). `CAMPAIGN_KILLS` changes the number of kills per operation, `CAMPAIGN_OPS` picks
//! operations by name.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/fault/mod.rs"]
mod fault;

use std::time::Duration;

use fault::stall::{run_stalls, stall_table, Frozen};
use fault::{fault_table, run_op, run_op_on, table, Op, Store};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kills: usize = std::env::var("CAMPAIGN_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    let mut rows = Vec::new();
    // CAMPAIGN_OPS=failover,switch runs only the operations whose names contain one of those words.
    let only: Vec<String> = std::env::var("CAMPAIGN_OPS")
        .map(|v| v.split(',').map(str::to_lowercase).collect())
        .unwrap_or_default();
    for op in Op::ALL.into_iter().chain(Op::NODES).chain(Op::HOSTS) {
        if !only.is_empty() && !only.iter().any(|o| op.name().to_lowercase().contains(o)) {
            continue;
        }
        let row = run_op(op, kills, Duration::from_millis(20)).await;
        eprintln!("{}: {} violations", row.op, row.violations());
        for n in &row.notes {
            eprintln!("  {n}");
        }
        rows.push(row);
    }
    println!(
        "fault campaign ({kills} kills per operation):\n{}",
        table(&rows)
    );
    // The leader killed: two daemons on PostgreSQL (CAMPAIGN_LEADER_KILLS per operation, 5 by default; 0 for none).
    let leader_kills: usize = std::env::var("CAMPAIGN_LEADER_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(5);
    let mut leader = Vec::new();
    if leader_kills > 0 {
        let _pg = fault::shared_postgres();
        for op in Op::ALL.into_iter().chain(Op::HOSTS) {
            if !only.is_empty() && !only.iter().any(|o| op.name().to_lowercase().contains(o)) {
                continue;
            }
            let row = run_op_on(Store::Postgres, op, leader_kills, Duration::from_millis(20)).await;
            eprintln!(
                "{} (leader killed): {} violations",
                row.op,
                row.violations()
            );
            for n in &row.notes {
                eprintln!("  {n}");
            }
            leader.push(row);
        }
        println!(
            "the leader killed ({leader_kills} kills per operation):\n{}",
            table(&leader)
        );
    }
    println!(
        "daemon killed and leader killed, side by side:\n{}",
        fault_table(&rows, &leader)
    );
    let mut plan = Vec::new();
    for frozen in [Frozen::Daemon, Frozen::Everything] {
        for seconds in [1, 3, 10] {
            plan.push((frozen, seconds));
        }
    }
    let stalls = if only.is_empty() || only.iter().any(|o| "stall".contains(o.as_str())) {
        run_stalls(&plan).await
    } else {
        vec![]
    };
    for r in &stalls {
        for n in &r.notes {
            eprintln!("  {} {} s: {n}", r.what, r.seconds);
        }
    }
    println!("{}", stall_table(&stalls));
    let total: usize = rows
        .iter()
        .chain(&leader)
        .map(|r| r.violations())
        .sum::<usize>()
        + stalls.iter().map(|r| r.violations()).sum::<usize>();
    println!("violations in all: {total}");
}
