//! The leader's lease in a shared store (see `docs/design/multi-host.md`): one row, `leader`, naming the daemon that
//! runs the workers and the health monitor, until when, and its generation — a number that rises at every change
//! of leader. Taking and renewing it are one `UPDATE` judged by the database's clock, so the daemons' clocks do
//! not matter. The lease is renewed over a connection of its own, so that no long store request delays it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use postgres::{Client, NoTls};

use crate::error::{ControlError, Result};

/// What a daemon's commits are fenced by: its holder id, and the generation under which it leads (0: it does not
/// lead, and its commits are those of the API, which any daemon may make).
#[derive(Debug)]
pub struct Fence {
    pub holder: String,
    generation: AtomicI64,
}

impl Fence {
    pub fn new() -> Self {
        Fence {
            holder: uuid::Uuid::new_v4().to_string(),
            generation: AtomicI64::new(0),
        }
    }

    /// The generation this daemon leads under (0: none).
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, generation: i64) {
        self.generation.store(generation, Ordering::SeqCst);
    }
}

impl Default for Fence {
    fn default() -> Self {
        Self::new()
    }
}

/// The lease table and its one row (made with the store's schema).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS leader (
    id INT PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    generation BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO leader (id, holder, generation, expires_at) VALUES (1, '', 0, 'epoch') ON CONFLICT (id) DO NOTHING;
";

/// The lease of one daemon, over its own connection.
pub struct Lease {
    url: String,
    client: Option<Client>,
    fence: std::sync::Arc<Fence>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({})", self.fence.holder)
    }
}

impl Lease {
    pub fn new(url: &str, fence: std::sync::Arc<Fence>) -> Self {
        Lease {
            url: url.to_string(),
            client: None,
            fence,
        }
    }

    pub fn fence(&self) -> &std::sync::Arc<Fence> {
        &self.fence
    }

    /// Where the store is.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Takes the lease for `ttl` when it is free or expired, or renews it when this daemon holds it; the
    /// generation this daemon leads under, or `None` when another leads. Connecting and the statement are each
    /// bounded by `timeout`: an error is a lease not confirmed.
    pub fn try_lead(&mut self, ttl: Duration, timeout: Duration) -> Result<Option<i64>> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let mut config: postgres::Config = self.url.parse().map_err(pg)?;
            config
                .connect_timeout(timeout)
                .keepalives(true)
                .keepalives_idle(Duration::from_secs(1));
            let mut c = config.connect(NoTls).map_err(pg)?;
            c.batch_execute(&format!(
                "SET statement_timeout = {}",
                timeout.as_millis().max(1)
            ))
            .map_err(pg)?;
            self.client = Some(c);
        }
        let Some(c) = self.client.as_mut() else {
            return Err(ControlError::Internal("no lease connection".into()));
        };
        let ttl_ms = ttl.as_millis() as i64;
        let row = c
            .query_opt(
                "UPDATE leader SET \
                   generation = CASE WHEN holder = $1 THEN generation ELSE generation + 1 END, \
                   holder = $1, expires_at = now() + $2::bigint * interval '1 millisecond' \
                 WHERE id = 1 AND (holder = $1 OR expires_at < now()) RETURNING generation",
                &[&self.fence.holder, &ttl_ms],
            )
            .map_err(pg);
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                self.client = None;
                return Err(e);
            }
        };
        let generation: Option<i64> = row.map(|r| r.get(0));
        if let Some(g) = generation {
            self.fence.set(g);
        }
        Ok(generation)
    }

    /// Gives the lease up (a daemon stopping): another daemon may lead at once.
    pub fn release(&mut self) {
        if let Some(c) = self.client.as_mut() {
            let _ = c.execute(
                "UPDATE leader SET expires_at = 'epoch' WHERE id = 1 AND holder = $1",
                &[&self.fence.holder],
            );
        }
    }
}

/// The channel every transaction that changed documents notifies (once, at its commit).
pub const CHANGES_CHANNEL: &str = "cacheplane_changes";

/// Calls `on_change` whenever some daemon commits a change of documents (and once after each connection, for
/// what may have landed while none was open), until `stop`; over a connection of its own, made again when lost.
pub fn listen(url: &str, stop: &std::sync::atomic::AtomicBool, on_change: &dyn Fn()) {
    use postgres::fallible_iterator::FallibleIterator;
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::SeqCst) {
        let connected = url
            .parse::<postgres::Config>()
            .map_err(pg)
            .and_then(|mut config| {
                config
                    .connect_timeout(Duration::from_secs(5))
                    .keepalives(true)
                    .keepalives_idle(Duration::from_secs(5));
                config.connect(NoTls).map_err(pg)
            })
            .and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
                    .map_err(pg)?;
                Ok(c)
            });
        let mut client = match connected {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other daemons' changes; trying again");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        on_change();
        while !stop.load(Ordering::SeqCst) {
            let next = client
                .notifications()
                .timeout_iter(Duration::from_millis(500))
                .next();
            match next {
                Ok(Some(_)) => on_change(),
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other daemons' changes failed; listening again");
                    break;
                }
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
            }
        }
    }
}

fn pg(e: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(format!("PostgreSQL lease: {e}"))
}
