//! `cacheplane`: the command line. `serve` runs the daemon; `credentials` prints how to reach it; `status` shows
//! what runs; `console-logout-all` ends every session of the web console.

mod agent;
mod api;
mod app;
mod config;
mod console;
mod dns;
mod hosts;
mod secret;
mod server;
mod status_text;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A self-hosted control plane that speaks the Amazon ElastiCache API and runs real Redis behind it.
#[derive(Parser, Debug)]
#[command(name = "cacheplane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How the daemon's own log lines are written to standard error: `text` for people, `json` (one object a
    /// line: timestamp, level, target, fields) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// Where a stopped or running daemon keeps its state, for the tools beside it.
#[derive(clap::Args, Debug)]
struct StateArgs {
    #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// The daemon's PostgreSQL store, when it was started with one (`serve --store`).
    #[arg(
        long,
        env = "CACHEPLANE_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    store: Option<String>,
}

impl StateArgs {
    /// The absolute data directory and the store.
    fn resolve(&self) -> anyhow::Result<(PathBuf, control::store::StoreAt)> {
        let data_dir = config::absolute(&self.data_dir)?;
        let store = control::store::StoreAt::new(&data_dir, self.store.as_deref())?;
        Ok((data_dir, store))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: the API on --listen, nodes as local redis-server processes, state in --data-dir.
    Serve(Box<config::ServeArgs>),
    /// Print the API credentials and endpoint of a data directory, as environment variables for the AWS CLI.
    Credentials {
        #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:9736")]
        listen: SocketAddr,
        #[arg(long, env = "CACHEPLANE_REGION", default_value = "us-east-1")]
        region: String,
    },
    /// Show the replication groups and cache clusters of a data directory as their nodes report them now: roles,
    /// replication links, for a migration the link from the source and how far the target is behind it, for a
    /// Memcached cluster its nodes' items and memory and the node list auto discovery serves.
    Status {
        #[command(flatten)]
        state: StateArgs,
        /// Only this replication group or cache cluster (Memcached, or Redis/Valkey outside a group): the flag
        /// takes either kind of id.
        #[arg(long)]
        replication_group_id: Option<String>,
        /// `text` for people, `json` for scripts (with --watch: one JSON document a refresh, a line each).
        #[arg(long, value_enum, default_value_t = watch::Output::Text)]
        output: watch::Output,
        /// Redraw every SECONDS (default 2) with a progress bar for each long operation, until interrupted.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2",
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        watch: Option<u64>,
        /// With --watch: stop after this many refreshes.
        #[arg(long, requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// End every session of the web console ("log out everywhere"): every browser, and every copy of a session
    /// cookie, must log in again. Works while the daemon runs (which reads its sessions from the store on each
    /// request) and while it is stopped.
    ConsoleLogoutAll {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Run the host agent of this machine: it starts, adopts, watches and stops the nodes the leading daemon places
    /// here. The first start joins the deployment with a token of `cacheplane hosts token`.
    Agent(Box<agent::AgentArgs>),
    /// The hosts of a deployment: make a join token for a new one, or list those that joined.
    Hosts {
        #[command(subcommand)]
        command: HostsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum HostsCommand {
    /// Print a one-use token a new agent joins with (`cacheplane agent --join-token …`).
    Token {
        #[command(flatten)]
        state: StateArgs,
        /// Minutes the token stays good for.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10080))]
        valid_for: u64,
    },
    /// List the hosts that joined: name, zone, agent address, address range, and whether the leader hears its agent
    /// (`reporting`) or took it for lost.
    List {
        #[command(flatten)]
        state: StateArgs,
    },
}

fn hosts_command(command: HostsCommand) -> anyhow::Result<()> {
    match command {
        HostsCommand::Token { state, valid_for } => {
            let (data_dir, store) = state.resolve()?;
            let token = control::actions::hosts::new_token(
                &data_dir,
                &store,
                std::time::Duration::from_secs(valid_for * 60),
            )?;
            println!("{token}");
            Ok(())
        }
        HostsCommand::List { state } => {
            let (data_dir, store) = state.resolve()?;
            for h in control::actions::hosts::list(&data_dir, &store)? {
                let state = match h.lost {
                    Some(t) => format!("lost since {}", t.to_rfc3339()),
                    None => "reporting".to_string(),
                };
                let room = h.room.map_or("room unknown".to_string(), |r| {
                    format!("room {}", control::rules::progress::human_bytes(r))
                });
                println!(
                    "{}\t{}\t{}\t{}\t{state}\t{room}",
                    h.name, h.zone, h.url, h.addresses
                );
            }
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Every file this process and the nodes it starts create is this user's only.
    engine::private::restrict_umask();
    // The DNS server logs every query at `info`: only its warnings, unless CACHEPLANE_LOG names it.
    let mut spec = std::env::var("CACHEPLANE_LOG").unwrap_or_else(|_| "info".into());
    if !spec.contains("hickory") {
        spec.push_str(",hickory_server=warn");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let result = match cli.command {
        Command::Serve(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(server::serve(*args))),
        Command::Credentials {
            data_dir,
            listen,
            region,
        } => config::absolute(&data_dir)
            .and_then(|data_dir| config::print_credentials(&data_dir, listen, &region)),
        Command::Status {
            state,
            replication_group_id,
            output,
            watch: every,
            count,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                let (data_dir, store) = state.resolve()?;
                rt.block_on(watch::run(watch::Options {
                    data_dir: &data_dir,
                    store: &store,
                    group: replication_group_id.as_deref(),
                    output,
                    watch: every.map(std::time::Duration::from_secs),
                    count,
                }))
            }),
        Command::Agent(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(agent::run(*args))),
        Command::Hosts { command } => hosts_command(command),
        Command::ConsoleLogoutAll { state } => state.resolve().and_then(|(data_dir, store)| {
            let n = control::actions::console_sessions::end_all(&data_dir, &store)?;
            println!(
                "cacheplane: ended {n} console session{}; every browser must log in again",
                if n == 1 { "" } else { "s" }
            );
            Ok(())
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cacheplane: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
