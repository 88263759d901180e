//! `cacheplane status`: once, or `--watch` redrawn every few seconds with a progress bar for each long operation
//! under way (creation, resharding, rolling upgrade, snapshot, a node's load or full sync); `--output json` for
//! scripts (one JSON document a refresh when watching).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    pub group: Option<&'a str>,
    pub output: Output,
    /// Redraw every this often (`None`: print once).
    pub watch: Option<Duration>,
    /// Stop after this many refreshes when watching (`None`: until interrupted).
    pub count: Option<u64>,
}

fn json(r: &control::status::Report) -> anyhow::Result<String> {
    Ok(serde_json::to_string(r)?)
}

/// Runs `cacheplane status`.
pub async fn run(o: Options<'_>) -> anyhow::Result<()> {
    let Some(every) = o.watch else {
        let r = control::status::report(o.data_dir, o.group).await?;
        match o.output {
            Output::Text => print!("{}", r.text()),
            Output::Json => println!("{}", json(&r)?),
        }
        return Ok(());
    };
    let tty = std::io::stdout().is_terminal();
    let mut view = View::new(tty && o.output == Output::Text);
    let mut n = 0u64;
    loop {
        let r = control::status::report(o.data_dir, o.group).await?;
        match o.output {
            Output::Json => println!("{}", json(&r)?),
            Output::Text if view.drawing => view.draw(&r),
            // Not a terminal: the text view each refresh, a blank line between.
            Output::Text => println!("{}", r.text()),
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
    view.finish();
    Ok(())
}

/// The redrawn terminal view: a line a text line of the report, then a bar an operation.
struct View {
    drawing: bool,
    multi: MultiProgress,
    lines: Vec<ProgressBar>,
    bars: HashMap<String, ProgressBar>,
}

impl View {
    fn new(drawing: bool) -> Self {
        let target = if drawing {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            drawing,
            multi: MultiProgress::with_draw_target(target),
            lines: Vec::new(),
            bars: HashMap::new(),
        }
    }

    fn draw(&mut self, r: &control::status::Report) {
        let text = r.text();
        let wanted: Vec<&str> = text.lines().collect();
        while self.lines.len() > wanted.len() {
            if let Some(b) = self.lines.pop() {
                b.finish_and_clear();
                self.multi.remove(&b);
            }
        }
        while self.lines.len() < wanted.len() {
            let b = ProgressBar::new_spinner()
                .with_style(ProgressStyle::with_template("{wide_msg}").expect("template"));
            let b = match self.lines.last() {
                Some(last) => self.multi.insert_after(last, b),
                None => self.multi.insert(0, b),
            };
            self.lines.push(b);
        }
        for (b, line) in self.lines.iter().zip(wanted) {
            b.set_message(line.to_string());
        }
        let ops = r.operations();
        let keys: Vec<String> = ops
            .iter()
            .map(|(who, o)| format!("{who} {}", o.kind))
            .collect();
        self.bars.retain(|k, b| {
            let keep = keys.contains(k);
            if !keep {
                b.finish_and_clear();
            }
            keep
        });
        for ((who, o), key) in ops.iter().zip(keys) {
            let b = self.bars.entry(key).or_insert_with(|| {
                let b = match o.percent {
                    Some(_) => ProgressBar::new(1000).with_style(
                        ProgressStyle::with_template(
                            "{prefix:.bold} [{bar:32.cyan/blue}] {percent:>3}%  {msg}",
                        )
                        .expect("template")
                        .progress_chars("=> "),
                    ),
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{prefix:.bold} {spinner} {msg}")
                            .expect("template"),
                    ),
                };
                let b = self.multi.add(b);
                b.set_prefix(format!("{who} {}", o.kind));
                b
            });
            if let Some(p) = o.percent {
                b.set_position((p * 10.0).round().clamp(0.0, 1000.0) as u64);
            } else {
                b.tick();
            }
            b.set_message(o.label.clone());
        }
    }

    fn finish(&mut self) {
        for b in self.bars.values() {
            b.abandon();
        }
        for b in &self.lines {
            b.abandon();
        }
    }
}
