//! Waiting on observed state: [`eventually`] polls a probe until it says done, with a deadline and a failure
//! message naming what was awaited and what was last seen. Tests wait with it instead of sleeping for a time the
//! daemon usually needs.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// What one look of a probe found: done (with a value), or not yet (with what was seen, for the failure message).
pub trait Probe {
    type Value;
    fn outcome(self) -> Result<Self::Value, String>;
}

impl Probe for bool {
    type Value = ();
    fn outcome(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("false".into())
        }
    }
}

impl<T> Probe for Option<T> {
    type Value = T;
    fn outcome(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

/// `Err(seen)`: not yet, and `seen` is what the failure message shows.
impl<T, E: Debug> Probe for Result<T, E> {
    type Value = T;
    fn outcome(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// The pause after the `n`th look: 5 ms, 10 ms, then 20 ms (the polling helpers' old period, which benchmarks'
/// figures depend on).
fn pause(n: u32) -> Duration {
    Duration::from_millis((5u64 << n.min(2)).min(20))
}

/// Polls `probe` until it is done, and returns its value; panics after `max` naming `what` and the last look.
pub async fn eventually<P, F, Fut>(what: &str, max: Duration, mut probe: F) -> P::Value
where
    P: Probe,
    F: FnMut() -> Fut,
    Fut: Future<Output = P>,
{
    let start = Instant::now();
    let mut n = 0;
    loop {
        match probe().await.outcome() {
            Ok(v) => return v,
            Err(seen) => assert!(
                start.elapsed() < max,
                "not within {max:?}: {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(pause(n)).await;
        n += 1;
    }
}

/// [`eventually`] for code that is not async (a process being started, a file being written).
pub fn eventually_blocking<P: Probe>(
    what: &str,
    max: Duration,
    mut probe: impl FnMut() -> P,
) -> P::Value {
    let start = Instant::now();
    let mut n = 0;
    loop {
        match probe().outcome() {
            Ok(v) => return v,
            Err(seen) => assert!(
                start.elapsed() < max,
                "not within {max:?}: {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(pause(n));
        n += 1;
    }
}

/// Until something accepts TCP connections on `addr` (a process just started).
pub fn wait_listening(addr: std::net::SocketAddr, max: Duration) {
    eventually_blocking(&format!("something listening on {addr}"), max, || {
        std::net::TcpStream::connect(addr).map(drop)
    })
}
