//! What a node logs: its slow log (`SLOWLOG GET`) and its log file, read incrementally.
//!
//! Slow log entries carry an id that grows by one per entry within a process (it starts again at 0 when the node
//! restarts); the log file is appended to by every process of the node, so a reader keeps a byte offset and reads
//! only whole lines past it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::admin::AdminClient;
use crate::{io_err, EngineError, Result};

/// One entry of a node's slow log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix seconds when the command ran.
    pub timestamp: i64,
    pub duration_us: u64,
    /// The command and its arguments as the slow log kept them (long ones shortened by the engine).
    pub args: Vec<String>,
    /// `ip:port` of the client.
    pub client_address: String,
    pub client_name: String,
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

fn int(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => *i,
        other => text(other).parse().unwrap_or(0),
    }
}

/// Reads one entry of a `SLOWLOG GET` reply.
fn slow_entry(v: &redis::Value) -> Option<SlowEntry> {
    let redis::Value::Array(f) = v else {
        return None;
    };
    let args = match f.get(3)? {
        redis::Value::Array(a) => a.iter().map(text).collect(),
        _ => vec![],
    };
    Some(SlowEntry {
        id: u64::try_from(int(f.first()?)).ok()?,
        timestamp: int(f.get(1)?),
        duration_us: u64::try_from(int(f.get(2)?)).unwrap_or(0),
        args,
        client_address: f.get(4).map(text).unwrap_or_default(),
        client_name: f.get(5).map(text).unwrap_or_default(),
    })
}

impl AdminClient {
    /// The newest `count` entries of the node's slow log, oldest first.
    pub async fn slowlog(&mut self, count: usize) -> Result<Vec<SlowEntry>> {
        let v: redis::Value = self
            .run(redis::cmd("SLOWLOG").arg("GET").arg(count))
            .await?;
        let redis::Value::Array(entries) = v else {
            return Err(EngineError::Other(format!(
                "SLOWLOG GET on {}: not a list",
                self.addr()
            )));
        };
        let mut out: Vec<SlowEntry> = entries.iter().filter_map(slow_entry).collect();
        out.reverse();
        Ok(out)
    }
}

/// One line of a node's log file: `pid:role DD Mon YYYY HH:MM:SS.mmm level message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub pid: u32,
    /// `M` primary, `S` replica, `C` child process, `X` sentinel.
    pub role: char,
    /// As written: `29 Oct 2020 20:12:20.499`.
    pub time: String,
    /// `.` debug, `-` verbose, `*` notice, `#` warning.
    pub level: char,
    pub message: String,
}

impl LogLine {
    /// Reads a line; `None` for one of another shape (the ASCII-art banner, a stack trace).
    pub fn parse(line: &str) -> Option<Self> {
        let (pid, rest) = line.split_once(':')?;
        let pid: u32 = pid.parse().ok()?;
        let mut chars = rest.chars();
        let role = chars.next()?;
        let rest = chars.as_str().strip_prefix(' ')?;
        // Four words of time, then the level, then the message.
        let mut parts = rest.splitn(6, ' ');
        let (d, m, y, t) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let level = parts.next()?;
        let message = parts.next().unwrap_or("").to_string();
        let level = level.chars().next().filter(|_| level.len() == 1)?;
        if !"MSCX".contains(role) || !".-*#".contains(level) || !t.contains(':') {
            return None;
        }
        Some(Self {
            pid,
            role,
            time: format!("{d} {m} {y} {t}"),
            level,
            message,
        })
    }
}

/// The whole lines of a node's log file `path` past `offset` (at most `max_bytes`) and the offset after them; with
/// no offset, none and the file's length now (a delivery that begins reads from there on).
pub fn read_log(path: &Path, offset: Option<u64>, max_bytes: usize) -> Result<(Vec<String>, u64)> {
    match offset {
        Some(o) => read_lines_from(path, o, max_bytes),
        None => Ok((vec![], std::fs::metadata(path).map_or(0, |m| m.len()))),
    }
}

/// Reads the whole lines of `path` past byte `offset`, at most `max_bytes` of them. Returns the lines and the
/// offset after the last one. A file shorter than `offset` (replaced) is read from its start.
pub fn read_lines_from(path: &Path, offset: u64, max_bytes: usize) -> Result<(Vec<String>, u64)> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(io_err(path)(e)),
    };
    let len = f.metadata().map_err(io_err(path))?.len();
    let start = if len < offset { 0 } else { offset };
    f.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
    let mut buf = Vec::new();
    f.take(max_bytes as u64)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
        return Ok((vec![], start));
    };
    let lines = String::from_utf8_lossy(&buf[..end])
        .split('\n')
        .map(str::to_string)
        .collect();
    Ok((lines, start + end as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_read_and_other_lines_skipped() {
        let l = LogLine::parse("4242:M 29 Oct 2020 20:12:20.499 * Ready to accept connections tcp")
            .expect("a line");
        assert_eq!(l.pid, 4242);
        assert_eq!(l.role, 'M');
        assert_eq!(l.time, "29 Oct 2020 20:12:20.499");
        assert_eq!(l.level, '*');
        assert_eq!(l.message, "Ready to accept connections tcp");
        assert_eq!(
            LogLine::parse("7:S 01 Jan 2026 00:00:00.000 # MASTER aborted").map(|l| l.level),
            Some('#')
        );
        for other in [
            "",
            "                _._",
            "12345:M",
            "x:M 1 Jan 2026 00:00:00.000 * m",
        ] {
            assert_eq!(LogLine::parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn whole_lines_are_read_past_an_offset() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("redis.log");
        std::fs::write(&p, "one\ntwo\nthr").expect("write");
        let (lines, at) = read_lines_from(&p, 0, 1 << 20).expect("read");
        assert_eq!(lines, ["one", "two"]);
        assert_eq!(at, 8);
        let (lines, at2) = read_lines_from(&p, at, 1 << 20).expect("read");
        assert!(lines.is_empty() && at2 == at, "a partial line waits");
        std::fs::write(&p, "new\n").expect("replaced");
        let (lines, _) = read_lines_from(&p, at, 1 << 20).expect("read");
        assert_eq!(lines, ["new"], "a shorter file is read from its start");
        let (lines, at) = read_lines_from(&dir.path().join("none"), 5, 100).expect("missing");
        assert!(lines.is_empty() && at == 5);
    }
}
