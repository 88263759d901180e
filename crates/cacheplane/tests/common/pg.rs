//! The leader lease of daemons on a PostgreSQL store, as the store holds it.

use std::time::Duration;

use super::waits::eventually;

/// The lease row as the store holds it: (holder, generation).
pub fn leader_row(url: &str) -> Option<(String, i64)> {
    testpg::off_runtime(|| {
        let mut c = postgres::Client::connect(url, postgres::NoTls).ok()?;
        let row = c
            .query_opt(
                "SELECT holder, generation FROM leader WHERE id = 1 AND holder <> '' AND expires_at > now()",
                &[],
            )
            .ok()??;
        Some((row.get(0), row.get(1)))
    })
}

pub async fn wait_leader(url: &str, not: Option<i64>) -> (String, i64) {
    eventually("a daemon leads", Duration::from_secs(20), || async {
        match leader_row(url) {
            Some((h, g)) if Some(g) != not => Ok((h, g)),
            other => Err(other),
        }
    })
    .await
}
