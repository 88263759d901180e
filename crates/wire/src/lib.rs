//! The ElastiCache Query protocol (API version 2015-02-02), and the CloudWatch Logs subset served beside it, with no
//! knowledge of Redis, storage or async I/O.
//!
//! - [`form`]: decoding `application/x-www-form-urlencoded` pairs into a cursor that typed inputs read from,
//!   with lists and nested structures named by the model's member names.
//! - [`decode`]: declarative decoding: an input is declared once with its members' wire names ([`input!`],
//!   [`structure!`]), and each member's type says how it is read.
//! - [`input`](mod@input): one typed input struct per supported action, and [`input::Request`] to pick one by `Action`;
//!   [`with_actions!`] is the one list of actions (input and output of each) everything else is made from.
//! - [`encode`]: declarative encoding, the mirror of [`decode`]: an output shape is declared once with its
//!   members' wire names ([`output!`]), and written inside the `<OpResponse>` envelope.
//! - [`output`](mod@output): the output shapes of the supported actions.
//! - [`error`]: the error-code table (code on the wire, HTTP status) and `ErrorResponse` rendering.
//! - [`logs`]: the subset of the CloudWatch Logs API (JSON protocol) served for delivered logs.
//! - [`sigv4`]: AWS Signature Version 4 verification (and signing, for tests and benchmarks) as pure functions.

#[macro_use]
pub mod decode;
#[macro_use]
pub mod encode;
pub mod error;
pub mod form;
pub mod input;
pub mod logs;
pub mod output;
pub mod sigv4;
pub mod xml;

pub use error::{ApiError, ErrorCode};
pub use input::Action;

/// The only API version ElastiCache speaks.
pub const API_VERSION: &str = "2015-02-02";
/// The XML namespace of every response.
pub const XML_NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";
