//! The subset of the CloudWatch Logs API (2014-03-28, JSON 1.1 protocol) the daemon serves on the same endpoint
//! for the logs it delivers: `CreateLogGroup`, `DeleteLogGroup`, `DescribeLogGroups`, `DescribeLogStreams`,
//! `GetLogEvents`, `FilterLogEvents`. A request is a `POST` with `X-Amz-Target: Logs_20140328.<Action>` and a JSON
//! body, signed for the service `logs`; errors are `{"__type": …, "message": …}`.
//!
//! Every member AWS's model declares for these actions is decoded; a member of another name is refused
//! (`SerializationException`), and members whose feature is not here are refused by the domain by name.

use serde::{Deserialize, Serialize};

/// The `X-Amz-Target` prefix of the Logs API.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
/// The SigV4 service name of the Logs API.
pub const SERVICE: &str = "logs";
/// The response content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error of the Logs API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsError {
    /// `__type`: `ResourceNotFoundException`, `InvalidParameterException`, …
    pub code: String,
    pub message: String,
    pub status: u16,
}

impl LogsError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
            status: 400,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }
    pub fn internal() -> Self {
        Self {
            code: "ServiceUnavailableException".into(),
            message: "The service cannot complete the request.".into(),
            status: 500,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::json!({"__type": self.code, "message": self.message}).to_string()
    }
}

/// Refuses a request whose signature does not cover `X-Amz-Target`: the target is the action, so a captured
/// request signed without it could be replayed as another action (a describe as a delete). A request with no
/// well-formed `Authorization` header passes here; the signature check refuses it with its own reason.
pub fn require_signed_target(authorization: Option<&str>) -> Result<(), LogsError> {
    match authorization.and_then(crate::sigv4::signed_headers) {
        Some(signed) if !signed.contains(&"x-amz-target") => Err(LogsError::new(
            "InvalidSignatureException",
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization: sign the request with the \
             X-Amz-Target header among its SignedHeaders, as the AWS SDKs and CLI do.",
        )),
        _ => Ok(()),
    }
}

impl From<crate::ApiError> for LogsError {
    /// An error of the shared front (signature, size, time) in the Logs API's shape.
    fn from(e: crate::ApiError) -> Self {
        Self {
            code: e.code.code().to_string(),
            message: e.message,
            status: e.code.http_status(),
        }
    }
}

/// `DescribeLogGroups`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DescribeLogGroups {
    pub account_identifiers: Option<Vec<String>>,
    pub log_group_name_prefix: Option<String>,
    pub log_group_name_pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub include_linked_accounts: Option<bool>,
    pub log_group_class: Option<String>,
    pub log_group_identifiers: Option<Vec<String>>,
}

/// `DescribeLogStreams`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DescribeLogStreams {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_name_prefix: Option<String>,
    pub order_by: Option<String>,
    pub descending: Option<bool>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

/// `GetLogEvents`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetLogEvents {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_name: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub start_from_head: Option<bool>,
    pub unmask: Option<bool>,
}

/// `FilterLogEvents`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterLogEvents {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_names: Option<Vec<String>>,
    pub log_stream_name_prefix: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub filter_pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub start_from_head: Option<bool>,
    pub interleaved: Option<bool>,
    pub unmask: Option<bool>,
}

/// `CreateLogGroup`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateLogGroup {
    pub log_group_name: String,
    pub kms_key_id: Option<String>,
    pub tags: Option<std::collections::BTreeMap<String, String>>,
    pub log_group_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

/// `DeleteLogGroup`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteLogGroup {
    pub log_group_name: String,
}

/// A decoded Logs API request.
#[derive(Debug, Clone)]
pub enum LogsRequest {
    DescribeLogGroups(DescribeLogGroups),
    DescribeLogStreams(DescribeLogStreams),
    GetLogEvents(GetLogEvents),
    FilterLogEvents(FilterLogEvents),
    CreateLogGroup(CreateLogGroup),
    DeleteLogGroup(DeleteLogGroup),
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, LogsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| LogsError::new("SerializationException", e.to_string()))
}

impl LogsRequest {
    /// Decodes the request named by `target` (`Logs_20140328.<Action>`).
    pub fn decode(target: &str, body: &[u8]) -> Result<Self, LogsError> {
        let action = target.strip_prefix(TARGET_PREFIX).unwrap_or(target);
        Ok(match action {
            "DescribeLogGroups" => Self::DescribeLogGroups(parse(body)?),
            "DescribeLogStreams" => Self::DescribeLogStreams(parse(body)?),
            "GetLogEvents" => Self::GetLogEvents(parse(body)?),
            "FilterLogEvents" => Self::FilterLogEvents(parse(body)?),
            "CreateLogGroup" => Self::CreateLogGroup(parse(body)?),
            "DeleteLogGroup" => Self::DeleteLogGroup(parse(body)?),
            other => {
                return Err(LogsError::new(
                    "UnknownOperationException",
                    format!(
                        "Operation {other} is not served here; this endpoint serves CreateLogGroup, DeleteLogGroup, \
                         DescribeLogGroups, DescribeLogStreams, GetLogEvents and FilterLogEvents."
                    ),
                ))
            }
        })
    }
}

/// `LogGroup`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    pub log_group_name: String,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i64>,
    pub metric_filter_count: i64,
    pub arn: String,
    pub log_group_arn: String,
    pub stored_bytes: i64,
    pub log_group_class: String,
}

/// `LogStream`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStream {
    pub log_stream_name: String,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ingestion_time: Option<i64>,
    pub arn: String,
    pub stored_bytes: i64,
}

/// An event: `OutputLogEvent` (`GetLogEvents`) or, with its stream and id, `FilteredLogEvent`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,
    pub timestamp: i64,
    pub message: String,
    pub ingestion_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `DescribeLogGroups`' answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroups {
    pub log_groups: Vec<LogGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `DescribeLogStreams`' answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStreams {
    pub log_streams: Vec<LogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `GetLogEvents`' answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    pub events: Vec<LogEvent>,
    pub next_forward_token: String,
    pub next_backward_token: String,
}

/// `SearchedLogStream`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedLogStream {
    pub log_stream_name: String,
    pub searched_completely: bool,
}

/// `FilterLogEvents`' answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredEvents {
    pub events: Vec<LogEvent>,
    pub searched_log_streams: Vec<SearchedLogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The JSON body of an answer.
pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string())
}

/// An answer of the Logs API as the domain gives it; [`LogsResponse::to_json`] is its body.
#[derive(Debug, Clone)]
pub enum LogsResponse {
    /// `CreateLogGroup`, `DeleteLogGroup`: `{}`.
    Empty,
    LogGroups(LogGroups),
    LogStreams(LogStreams),
    Events(Events),
    FilteredEvents(FilteredEvents),
}

impl LogsResponse {
    /// The JSON body.
    pub fn to_json(&self) -> String {
        match self {
            Self::Empty => "{}".to_string(),
            Self::LogGroups(g) => to_json(g),
            Self::LogStreams(s) => to_json(s),
            Self::Events(e) => to_json(e),
            Self::FilteredEvents(f) => to_json(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_by_target_and_refuse_what_the_model_does_not_declare() {
        let r = LogsRequest::decode(
            "Logs_20140328.GetLogEvents",
            br#"{"logGroupName":"g","logStreamName":"s","startFromHead":true,"limit":5}"#,
        )
        .expect("decoded");
        let LogsRequest::GetLogEvents(g) = r else {
            panic!("wrong action")
        };
        assert_eq!(g.log_stream_name, "s");
        assert_eq!(g.start_from_head, Some(true));
        assert!(matches!(
            LogsRequest::decode("Logs_20140328.DescribeLogGroups", b""),
            Ok(LogsRequest::DescribeLogGroups(_))
        ));
        let e = LogsRequest::decode(
            "Logs_20140328.GetLogEvents",
            br#"{"logStreamName":"s","bogus":1}"#,
        )
        .expect_err("unknown member");
        assert_eq!(e.code, "SerializationException");
        let e = LogsRequest::decode("Logs_20140328.GetLogEvents", b"{").expect_err("not json");
        assert_eq!(e.code, "SerializationException");
        let e = LogsRequest::decode("Logs_20140328.PutLogEvents", b"{}").expect_err("not served");
        assert_eq!(e.code, "UnknownOperationException");
        assert!(e
            .to_json()
            .contains("\"__type\":\"UnknownOperationException\""));
    }

    #[test]
    fn answers_use_the_models_member_names() {
        let j = to_json(&Events {
            events: vec![LogEvent {
                timestamp: 1,
                message: "m".into(),
                ingestion_time: 2,
                ..Default::default()
            }],
            next_forward_token: "f/1".into(),
            next_backward_token: "b/1".into(),
        });
        assert_eq!(
            j,
            r#"{"events":[{"timestamp":1,"message":"m","ingestionTime":2}],"nextForwardToken":"f/1","nextBackwardToken":"b/1"}"#
        );
        assert_eq!(LogsResponse::Empty.to_json(), "{}");
        assert_eq!(
            LogsResponse::LogGroups(LogGroups::default()).to_json(),
            r#"{"logGroups":[]}"#
        );
    }

    #[test]
    fn the_target_must_be_signed() {
        let auth = |signed: &str| {
            format!("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/logs/aws4_request, SignedHeaders={signed}, Signature=00")
        };
        let e = require_signed_target(Some(&auth("host;x-amz-date"))).expect_err("unsigned");
        assert_eq!(
            (e.code.as_str(), e.status),
            ("InvalidSignatureException", 400)
        );
        assert!(e
            .message
            .contains("'X-Amz-Target' must be a 'SignedHeader'"));
        assert!(require_signed_target(Some(&auth("host;x-amz-date;x-amz-target"))).is_ok());
        // Left to the signature check, which says what is wrong.
        assert!(require_signed_target(None).is_ok());
        assert!(require_signed_target(Some("Bearer x")).is_ok());
    }
}
