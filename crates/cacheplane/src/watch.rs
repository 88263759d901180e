//! `cacheplane status`: once, or `--watch` redrawn every few seconds with a progress bar for each long operation
//! under way (creation, resharding, rolling upgrade, snapshot, a node's load or full sync); `--output json` for
//! scripts (one JSON document a refresh when watching).
//!
//! On a terminal the text is laid out for its width ([`control::status::Report::wrapped`]): a line too long goes
//! on, indented, on the next one, broken between fields or words, never inside an address or an id. Piped, each
//! item keeps one line, for scripts.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use control::status::Report;

use crate::status_text::{wrap, ReportText};

/// How `cacheplane status` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// Options of `cacheplane status`.
#[derive(Debug)]
pub struct Options<'a> {
    pub data_dir: &'a Path,
    pub store: &'a control::store::StoreAt,
    /// Only this replication group or cache cluster (`--replication-group-id` takes either id).
    pub group: Option<&'a str>,
    pub output: Output,
    /// Redraw every this often (`None`: print once).
    pub watch: Option<Duration>,
    /// Stop after this many refreshes when watching (`None`: until interrupted).
    pub count: Option<u64>,
}

/// Columns of a terminal whose width cannot be read.
const DEFAULT_WIDTH: usize = 80;
/// The widest a progress bar is drawn.
const BAR_WIDTH: usize = 32;

fn json(r: &Report) -> anyhow::Result<String> {
    Ok(serde_json::to_string(r)?)
}

/// The width of the terminal on standard output, when it is one.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let width = console::Term::stdout()
        .size_checked()
        .map_or(DEFAULT_WIDTH, |(_, cols)| usize::from(cols));
    Some(width.max(20))
}

/// Runs `cacheplane status`.
pub async fn run(o: Options<'_>) -> anyhow::Result<()> {
    let Some(every) = o.watch else {
        let r = control::status::report(o.data_dir, o.store, o.group).await?;
        match (o.output, terminal_width()) {
            (Output::Text, Some(width)) => print!("{}", r.wrapped(width)),
            (Output::Text, None) => print!("{}", r.text()),
            (Output::Json, _) => println!("{}", json(&r)?),
        }
        return Ok(());
    };
    let drawing = o.output == Output::Text && std::io::stdout().is_terminal();
    let view = drawing.then(|| {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout())
            .with_style(ProgressStyle::with_template("{msg}").expect("template"))
    });
    let mut n = 0u64;
    loop {
        let r = control::status::report(o.data_dir, o.store, o.group).await?;
        match (o.output, &view) {
            (Output::Json, _) => println!("{}", json(&r)?),
            (Output::Text, Some(view)) => {
                let width = terminal_width().unwrap_or(DEFAULT_WIDTH);
                view.set_message(frame(&r, width, n));
            }
            // Not a terminal: the text view each refresh, a blank line between.
            (Output::Text, None) => println!("{}", r.text()),
        }
        n += 1;
        if o.count.is_some_and(|c| n >= c) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if let Some(view) = view {
        // The last frame stays on the terminal.
        view.abandon();
    }
    Ok(())
}

/// One redraw of `--watch` for a terminal `width` columns wide: the text view, then each long operation's bar
/// (a spinner, turning with `tick`, when its progress cannot be told) with its label under it.
fn frame(r: &Report, width: usize, tick: u64) -> String {
    let mut out = r.wrapped(width);
    for (who, o) in r.operations() {
        let head = format!("{who} {}", o.kind);
        let line = match o.percent {
            Some(p) => {
                // What the head and the percentage leave of the line, within bounds.
                let w = width
                    .saturating_sub(head.chars().count() + 8)
                    .clamp(10, BAR_WIDTH);
                format!("{head} {} {:>3.0}%", bar(p, w), p.clamp(0.0, 100.0))
            }
            None => {
                const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
                format!("{head} {}", SPINNER[(tick % 4) as usize])
            }
        };
        for l in wrap(&line, width)
            .into_iter()
            .chain(wrap(&format!("  {}", o.label), width))
        {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.truncate(out.trim_end_matches('\n').len());
    out
}

/// `[=======>------]`, `width` columns in all, filled `percent` of the way (no space inside: the bar is one word
/// to the layout, which never breaks it).
fn bar(percent: f64, width: usize) -> String {
    let inside = width.saturating_sub(2);
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * inside as f64).round() as usize;
    let mut s = String::with_capacity(width);
    s.push('[');
    for i in 0..inside {
        s.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => '-',
        });
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::status::{GroupReport, NodeReport, Operation, ShardReport};

    fn report() -> Report {
        let node = |id: &str, state: &str, progress: Option<Operation>| {
            let mut n = blank_node();
            n.cache_cluster_id = id.into();
            n.address = "127.201.144.234:6379".into();
            n.zone = "us-east-1a".into();
            n.state = state.into();
            n.progress = progress;
            n
        };
        Report {
            replication_groups: vec![GroupReport {
                id: "web1".into(),
                status: "modifying".into(),
                engine: "redis".into(),
                engine_version: "7.0.15".into(),
                cache_node_type: "cache.t4g.micro".into(),
                cluster_mode: "disabled",
                endpoints: vec![
                    "primary endpoint 127.201.144.230:6379".into(),
                    "reader endpoint 127.201.144.231:6379".into(),
                ],
                operations: vec![Operation {
                    kind: "snapshot",
                    label: "taking snapshot web1-console-20260101120000".into(),
                    percent: None,
                }],
                migration: None,
                shards: vec![ShardReport {
                    id: "0001".into(),
                    slots: None,
                    nodes: vec![
                        node(
                            "web1-001",
                            "primary, 1 replica connected, offset 123456789",
                            None,
                        ),
                        node(
                            "web1-002",
                            "replica of 127.201.144.233:6379, link down, offset 0",
                            Some(Operation {
                                kind: "sync",
                                label: "receiving a full sync: 12.0 MB of 150.6 MB (8%)".into(),
                                percent: Some(8.0),
                            }),
                        ),
                    ],
                }],
            }],
            cache_clusters: vec![],
            ca_bundle: None,
            notices: vec![],
        }
    }

    fn blank_node() -> NodeReport {
        NodeReport::new("", "0001", String::new(), "")
    }

    /// In an 80-column terminal every line of the redrawn view fits, and every word of it is whole: the
    /// addresses, the bar and the labels.
    #[test]
    fn the_watched_view_fits_80_columns_without_cutting_a_word() {
        let r = report();
        let f = frame(&r, 80, 1);
        for line in f.lines() {
            assert!(line.chars().count() <= 80, "{line:?}\n{f}");
        }
        for word in [
            "127.201.144.234:6379",
            "127.201.144.233:6379,",
            "web1-console-20260101120000",
            "(8%)",
        ] {
            assert!(
                f.split_whitespace().any(|w| w == word),
                "{word} cut in\n{f}"
            );
        }
        assert!(
            f.contains(&format!("web1/web1-002 sync [==>{}]   8%", "-".repeat(27))),
            "a bar for the sync:\n{f}"
        );
        assert!(
            f.contains("web1 snapshot /"),
            "a spinner for the snapshot:\n{f}"
        );
        assert!(f.contains("1 replica connected"), "{f}");
        // Narrower still, the bar shrinks and nothing is cut either.
        for line in frame(&r, 40, 0).lines() {
            assert!(
                line.chars().count() <= 40 || !line.trim().contains(' '),
                "{line:?}"
            );
        }
    }

    #[test]
    fn bars_fill_with_the_percentage() {
        assert_eq!(bar(0.0, 12), "[>---------]");
        assert_eq!(bar(50.0, 12), "[=====>----]");
        assert_eq!(bar(100.0, 12), "[==========]");
    }
}
