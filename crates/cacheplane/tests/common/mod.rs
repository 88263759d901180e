//! Test harness shared by the end-to-end tests and the benchmarks, by concern: the daemon ([`daemon`]), the
//! ElastiCache API ([`aws`]), the nodes' side ([`redis_io`]), the background writer ([`writer`]), waiting on
//! observed state ([`waits`]), benchmark figures ([`measure`]); cluster mode ([`cluster`]) and the large dataset
//! ([`dataset`]) are used by name.

#![allow(dead_code)]

pub mod agent;
pub mod aws;
pub mod cluster;
pub mod daemon;
pub mod dataset;
pub mod dns;
pub mod measure;
pub mod pg;
pub mod redis_io;
pub mod waits;
pub mod writer;

// Each test uses some of these: the rest are not unused, only unused there.
#[allow(unused_imports)]
pub use agent::*;
#[allow(unused_imports)]
pub use aws::*;
#[allow(unused_imports)]
pub use daemon::*;
#[allow(unused_imports)]
pub use dns::*;
#[allow(unused_imports)]
pub use measure::*;
#[allow(unused_imports)]
pub use pg::*;
#[allow(unused_imports)]
pub use redis_io::*;
#[allow(unused_imports)]
pub use waits::*;
#[allow(unused_imports)]
pub use writer::*;
