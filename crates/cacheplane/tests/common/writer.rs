//! The background writer: a client that keeps writing through an endpoint while a test changes the group, and
//! the log of what it saw.

use std::time::{Duration, Instant};

use super::*;

/// A client that keeps `INCR`-ing a counter through an endpoint, reconnecting after every error, the way an
/// application with a retry loop does.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Writes acknowledged so far (for tests that wait until the writer is writing, or has written again).
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<WriterLog>,
}

impl Writer {
    pub fn start(url: String, key: &'static str) -> Self {
        Self::start_client(redis::Client::open(url).expect("url"), key)
    }

    /// A writer through `client` (e.g. a TLS one).
    pub fn start_client(client: redis::Client, key: &'static str) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = acked.clone();
        let task = tokio::spawn(async move {
            let mut log = WriterLog::default();
            let mut conn = None;
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                if conn.is_none() {
                    match client_conn_with_timeout(&client, Duration::from_millis(200)).await {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            log.errors += 1;
                            log.error_times.push(Instant::now());
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let r: redis::RedisResult<i64> = redis::cmd("INCR").arg(key).query_async(c).await;
                match r {
                    Ok(v) => {
                        log.acks.push((Instant::now(), v));
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => {
                        log.errors += 1;
                        log.error_times.push(Instant::now());
                        conn = None;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
            log
        });
        Self { stop, acked, task }
    }

    /// How many writes were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Until `n` more writes than now are acknowledged (within 20 s): the writer writes, through whatever the
    /// endpoint now reaches.
    pub async fn wait_for_more_acks(&self, n: usize) {
        let goal = self.acked() + n;
        eventually(
            &format!("{goal} acknowledged writes"),
            Duration::from_secs(20),
            || async { (self.acked() >= goal).then_some(()).ok_or(self.acked()) },
        )
        .await
    }

    pub async fn stop(self) -> WriterLog {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.expect("writer task")
    }
}

/// What the writer saw: every acknowledged `INCR` (when, and the value it returned), and when one failed.
#[derive(Debug, Default)]
pub struct WriterLog {
    pub acks: Vec<(Instant, i64)>,
    pub errors: usize,
    pub error_times: Vec<Instant>,
}

impl WriterLog {
    /// The outage a failure at `t` caused: from `t` to the first acknowledged write after the first error
    /// that followed `t` (a write in flight when the node failed may still be answered by it).
    pub fn gap_after(&self, t: Instant) -> Option<Duration> {
        let first_error = self.error_times.iter().copied().find(|e| *e >= t)?;
        Some(self.first_ack_after(first_error)? - t)
    }
    /// The first acknowledged write after `t`.
    pub fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        self.acks.iter().map(|(at, _)| *at).find(|at| *at > t)
    }
    /// The longest time between two acknowledged writes.
    pub fn longest_pause(&self) -> Duration {
        self.acks
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .max()
            .unwrap_or_default()
    }

    /// Acknowledged values that a later acknowledgement shows were lost: each time `INCR` answers a value not
    /// above the one acknowledged before it, the counter went back and the values in between were lost.
    pub fn lost(&self) -> i64 {
        self.acks
            .windows(2)
            .map(|w| (w[0].1 - w[1].1 + 1).max(0))
            .sum()
    }
}
