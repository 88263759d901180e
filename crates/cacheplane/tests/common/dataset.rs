//! A large dataset written quickly and checked cheaply (the scale test and benchmark of issue 13): `key:0` …
//! `key:<n-1>`, 200-byte values that depend on the key, written by a script on the node itself.

use std::time::{Duration, Instant};

use super::redis_conn_with_timeout;

/// Generous: the point is that a node on its way is waited for; benchmarks measure how long it takes.
pub const WAIT: Duration = Duration::from_secs(600);

/// The value of key `key:i`: 200 bytes that depend on `i` (the same rule as in [`FILL`]; every product stays
/// well inside the integers a Lua number holds exactly).
pub fn value_of(i: u64) -> String {
    format!("{:010}", (i * 40_503) % 1_000_003).repeat(20)
}

/// Writes `key:<from>` … `key:<from+n-1>` in one script: the node does the work, no client round trips.
pub const FILL: &str = "local from, n = tonumber(ARGV[1]), tonumber(ARGV[2]) \
for i = from, from + n - 1 do \
  local s = string.format('%010d', (i * 40503) % 1000003) \
  redis.call('SET', 'key:' .. i, string.rep(s, 20)) \
end return n";

pub async fn fill(url: &str, n: u64) {
    let mut conn = redis_conn_with_timeout(url, Duration::from_secs(60))
        .await
        .expect("connect");
    // Chunks short enough that the node keeps answering its control plane between them.
    let chunk = 50_000;
    let mut from = 0;
    while from < n {
        let k = chunk.min(n - from);
        let _: u64 = redis::cmd("EVAL")
            .arg(FILL)
            .arg(0)
            .arg(from)
            .arg(k)
            .query_async(&mut conn)
            .await
            .expect("fill");
        from += k;
    }
}

/// Every key is on the node at `url`: as many keys as written (waiting while the node still loads or syncs), and a
/// sample spread over the range (first, last, and 1,000 between) with the value it was written with.
pub async fn assert_holds(what: &str, url: &str, n: u64) {
    let deadline = Instant::now() + WAIT;
    let mut conn = loop {
        match redis_conn_with_timeout(url, Duration::from_secs(60)).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "{what}: connect: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    loop {
        let size: redis::RedisResult<u64> = redis::cmd("DBSIZE").query_async(&mut conn).await;
        match size {
            Ok(size) if size == n => break,
            other => {
                assert!(Instant::now() < deadline, "{what}: {other:?} keys, not {n}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let step = (n / 1000).max(1);
    let sample: Vec<u64> = (0..n).step_by(step as usize).chain([n - 1]).collect();
    for ids in sample.chunks(200) {
        let names: Vec<String> = ids.iter().map(|i| format!("key:{i}")).collect();
        let got: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&names)
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{what}: MGET: {e}"));
        for (i, v) in ids.iter().zip(got) {
            assert_eq!(v.as_deref(), Some(value_of(*i).as_str()), "{what}: key:{i}");
        }
    }
}
