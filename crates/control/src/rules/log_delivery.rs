//! `LogDeliveryConfigurations`: AWS's rules for the slow log and the engine log of a group's nodes, and the records
//! delivered, in AWS's formats.
//!
//! One configuration per log type; a request with `Enabled` false (and nothing else needed) disables its type. A
//! new configuration is `enabling`, a changed one `modifying`, a disabled one `disabling`, until the delivery worker
//! (see [`crate::runtime::worker`]'s `deliver_logs`) has taken it up on every node: then `active` (or gone). The slow log
//! needs Redis OSS 6.0 (any Valkey), the engine log Redis OSS 6.2.
//!
//! Destinations: `cloudwatch-logs` delivers into the daemon's own log store, served through its CloudWatch Logs API
//! (one stream per node, `elasticache/<engine>/<cache cluster id>/<node id>/<log type>`; a log group that does not
//! exist is created); `kinesis-firehose` has no Firehose here: records are appended, one a line, to
//! `<data dir>/firehose/<delivery stream>.log` (all nodes into one file, told apart by the ids in each record), kept
//! to [`FIREHOSE_FILE_BYTES`] with one older file beside it.

use wire::input::LogDeliveryConfigurationRequest;
use wire::output;

use crate::error::{combination, invalid, Result};
use crate::model::LogDelivery;

/// The size at which a Firehose sink file is rotated (the previous one is kept as `<name>.log.1`).
pub const FIREHOSE_FILE_BYTES: u64 = 64 << 20;

/// The views of a group's configurations and of the pending ones.
pub fn views(
    list: &[LogDelivery],
) -> (
    Vec<output::LogDeliveryConfiguration>,
    Vec<output::LogDeliveryConfiguration>,
) {
    (
        list.iter().map(LogDelivery::view).collect(),
        list.iter()
            .filter(|l| l.pending())
            .map(LogDelivery::view)
            .collect(),
    )
}

/// Whether `engine` `version` can deliver `log_type` (AWS: slow log from Redis OSS 6.0, engine log from 6.2; every
/// Valkey).
fn supported(log_type: &str, engine: &str, version: &str) -> bool {
    let v = engine::binary::parse_version(version).unwrap_or((0, 0, 0));
    engine == "valkey"
        || match log_type {
            "slow-log" => v >= (6, 0, 0),
            _ => v >= (6, 2, 0),
        }
}

/// A Firehose delivery stream name: 1–64 characters of letters, digits, `_`, `.` and `-`.
fn check_stream_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(invalid(format!(
            "Invalid DeliveryStream '{}': it must be 1 to 64 letters, digits, '_', '.' or '-'.",
            crate::rules::shown(name)
        )));
    }
    Ok(())
}

/// The configurations after `requests` are applied to `current`, by AWS's rules.
pub fn apply(
    current: &[LogDelivery],
    requests: &[LogDeliveryConfigurationRequest],
    engine: &str,
    version: &str,
) -> Result<Vec<LogDelivery>> {
    let mut out: Vec<LogDelivery> = current.to_vec();
    let mut seen: Vec<String> = Vec::new();
    for r in requests {
        let Some(log_type) = r.log_type.clone() else {
            return Err(invalid(
                "Each LogDeliveryConfigurationRequest needs a LogType (slow-log or engine-log).",
            ));
        };
        if seen.contains(&log_type) {
            return Err(combination(format!(
                "LogType {log_type} is given more than once: one configuration per log type."
            )));
        }
        seen.push(log_type.clone());
        let at = out.iter().position(|l| l.log_type == log_type);
        if r.enabled == Some(false) {
            if let Some(i) = at {
                out[i].status = "disabling".into();
                out[i].message = None;
            }
            continue;
        }
        if !supported(&log_type, engine, version) {
            return Err(invalid(format!(
                "{log_type} log delivery is not available for this {engine} engine version."
            )));
        }
        let destination_type = r.destination_type.clone().ok_or_else(|| {
            invalid(format!(
                "DestinationType is required to enable {log_type} delivery (cloudwatch-logs or kinesis-firehose)."
            ))
        })?;
        let format = r.log_format.clone().ok_or_else(|| {
            invalid(format!(
                "LogFormat is required to enable {log_type} delivery (json or text)."
            ))
        })?;
        let details = r.destination_details.as_ref();
        let destination = if destination_type == "cloudwatch-logs" {
            let group = details
                .and_then(|d| d.cloud_watch_logs_details.as_ref())
                .and_then(|c| c.log_group.clone())
                .ok_or_else(|| {
                    invalid(
                        "DestinationDetails.CloudWatchLogsDetails.LogGroup is required for cloudwatch-logs.",
                    )
                })?;
            crate::rules::log_delivery::check_group_name(&group).map_err(|e| invalid(e.message))?;
            group
        } else {
            let stream = details
                .and_then(|d| d.kinesis_firehose_details.as_ref())
                .and_then(|k| k.delivery_stream.clone())
                .ok_or_else(|| {
                    invalid(
                        "DestinationDetails.KinesisFirehoseDetails.DeliveryStream is required for kinesis-firehose.",
                    )
                })?;
            check_stream_name(&stream)?;
            stream
        };
        let wanted = LogDelivery {
            log_type: log_type.clone(),
            destination_type,
            destination,
            format,
            status: "enabling".into(),
            message: None,
        };
        match at {
            Some(i) => {
                let same = out[i].destination_type == wanted.destination_type
                    && out[i].destination == wanted.destination
                    && out[i].format == wanted.format;
                if !same || out[i].status == "disabling" || out[i].status == "error" {
                    out[i] = LogDelivery {
                        status: if out[i].status == "disabling" {
                            "enabling".into()
                        } else {
                            "modifying".into()
                        },
                        ..wanted
                    };
                }
            }
            None => out.push(wanted),
        }
    }
    out.sort_by(|a, b| b.log_type.cmp(&a.log_type));
    Ok(out)
}

/// A slow log entry's command as AWS shows it, without its arguments' values: `GET ... (1 more arguments)`.
pub fn command_summary(e: &engine::logs::SlowEntry) -> String {
    match e.args.split_first() {
        None => String::new(),
        Some((name, [])) => name.clone(),
        Some((name, rest)) => format!("{name} ... ({} more arguments)", rest.len()),
    }
}

/// A slow log entry as AWS delivers it.
pub fn slow_record(cluster: &str, node: &str, e: &engine::logs::SlowEntry, format: &str) -> String {
    if format == "json" {
        serde_json::json!({
            "CacheClusterId": cluster,
            "CacheNodeId": node,
            "Id": e.id,
            "Timestamp": e.timestamp,
            "Duration (us)": e.duration_us,
            "Command": command_summary(e),
            "ClientAddress": e.client_address,
            "ClientName": e.client_name,
        })
        .to_string()
    } else {
        format!(
            "{cluster},{node},{},{},{},{},{}",
            e.timestamp,
            e.duration_us,
            command_summary(e),
            e.client_address,
            e.client_name
        )
    }
}

/// An engine log line as AWS delivers it.
pub fn engine_record(cluster: &str, node: &str, l: &engine::logs::LogLine, format: &str) -> String {
    let level = match l.level {
        '.' => "DEBUG",
        '-' => "VERBOSE",
        '#' => "WARNING",
        _ => "NOTICE",
    };
    if format == "json" {
        serde_json::json!({
            "CacheClusterId": cluster,
            "CacheNodeId": node,
            "LogLevel": level,
            "Role": l.role.to_string(),
            "Time": format!("{} UTC", l.time),
            "Message": l.message,
        })
        .to_string()
    } else {
        format!(
            "{cluster}/{node}:{} {} UTC {} {}",
            l.role, l.time, l.level, l.message
        )
    }
}

/// The time of an engine log line (`29 Oct 2020 20:12:20.499`, UTC) in Unix milliseconds.
pub fn engine_time_ms(l: &engine::logs::LogLine) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(&l.time, "%d %b %Y %H:%M:%S%.3f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Checks a log group name: 1–512 characters of letters, digits, `.`, `-`, `_`, `/` and `#`.
pub fn check_group_name(name: &str) -> std::result::Result<(), wire::logs::LogsError> {
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
    {
        return Err(wire::logs::LogsError::invalid(format!(
            "Invalid log group name '{}': it must be 1 to 512 characters of letters, digits, '.', '-', '_', '/' and '#'.",
            name.chars().take(100).collect::<String>()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::input::{CloudWatchLogsDetails, DestinationDetails, KinesisFirehoseDetails};

    fn cw(log_type: &str, group: &str, format: &str) -> LogDeliveryConfigurationRequest {
        LogDeliveryConfigurationRequest {
            log_type: Some(log_type.into()),
            destination_type: Some("cloudwatch-logs".into()),
            destination_details: Some(DestinationDetails {
                cloud_watch_logs_details: Some(CloudWatchLogsDetails {
                    log_group: Some(group.into()),
                }),
                kinesis_firehose_details: None,
            }),
            log_format: Some(format.into()),
            enabled: None,
        }
    }

    #[test]
    fn aws_rules_for_configurations() {
        let on = apply(&[], &[cw("slow-log", "/g", "json")], "redis", "7.0.15").expect("ok");
        assert_eq!(on.len(), 1);
        assert_eq!(on[0].status, "enabling");
        let mut active = on.clone();
        active[0].status = "active".into();
        assert_eq!(
            apply(&active, &[cw("slow-log", "/g", "json")], "redis", "7.0.15").expect("same"),
            active,
            "the same configuration changes nothing"
        );
        let changed =
            apply(&active, &[cw("slow-log", "/g", "text")], "redis", "7.0.15").expect("ok");
        assert_eq!(changed[0].status, "modifying");
        let off = LogDeliveryConfigurationRequest {
            log_type: Some("slow-log".into()),
            enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(
            apply(&active, &[off], "redis", "7.0.15").expect("off")[0].status,
            "disabling"
        );
        let dup = apply(
            &[],
            &[cw("slow-log", "/g", "json"), cw("slow-log", "/h", "json")],
            "redis",
            "7.0.15",
        );
        assert!(dup.is_err());
        assert!(apply(&[], &[cw("engine-log", "/g", "json")], "redis", "6.0.16").is_err());
        assert!(apply(&[], &[cw("slow-log", "/g", "json")], "redis", "6.0.16").is_ok());
        assert!(apply(
            &[],
            &[cw("slow-log", "bad group", "json")],
            "redis",
            "7.0.15"
        )
        .is_err());
        let no_stream = LogDeliveryConfigurationRequest {
            log_type: Some("engine-log".into()),
            destination_type: Some("kinesis-firehose".into()),
            destination_details: Some(DestinationDetails {
                cloud_watch_logs_details: None,
                kinesis_firehose_details: Some(KinesisFirehoseDetails {
                    delivery_stream: None,
                }),
            }),
            log_format: Some("text".into()),
            enabled: Some(true),
        };
        assert!(apply(&[], &[no_stream], "redis", "7.0.15").is_err());
    }

    #[test]
    fn commands_are_summarised_without_their_values() {
        let e = |args: &[&str]| engine::logs::SlowEntry {
            id: 1,
            timestamp: 0,
            duration_us: 0,
            args: args.iter().map(|s| s.to_string()).collect(),
            client_address: String::new(),
            client_name: String::new(),
        };
        assert_eq!(
            command_summary(&e(&["GET", "secret"])),
            "GET ... (1 more arguments)"
        );
        assert_eq!(
            command_summary(&e(&["SET", "k", "v"])),
            "SET ... (2 more arguments)"
        );
        assert_eq!(command_summary(&e(&["PING"])), "PING");
    }

    #[test]
    fn records_in_aws_formats() {
        let e = engine::logs::SlowEntry {
            id: 296,
            timestamp: 1605631822,
            duration_us: 30,
            args: vec!["GET".into(), "k".into()],
            client_address: "192.168.12.104:55452".into(),
            client_name: "app".into(),
        };
        assert_eq!(
            slow_record("c", "0001", &e, "text"),
            "c,0001,1605631822,30,GET ... (1 more arguments),192.168.12.104:55452,app"
        );
        let j: serde_json::Value =
            serde_json::from_str(&slow_record("c", "0001", &e, "json")).expect("json");
        assert_eq!(j["Duration (us)"], 30);
        assert_eq!(j["Id"], 296);
        assert_eq!(j["Command"], "GET ... (1 more arguments)");
        let l = engine::logs::LogLine::parse("7:M 29 Oct 2020 20:12:20.499 * Ready").expect("line");
        assert_eq!(
            engine_record("c", "0001", &l, "text"),
            "c/0001:M 29 Oct 2020 20:12:20.499 UTC * Ready"
        );
        let j: serde_json::Value =
            serde_json::from_str(&engine_record("c", "0001", &l, "json")).expect("json");
        assert_eq!(j["LogLevel"], "NOTICE");
        assert_eq!(j["Time"], "29 Oct 2020 20:12:20.499 UTC");
        assert_eq!(engine_time_ms(&l), Some(1604002340499));
    }
}
