//! A server in any language: a child process driven through JSON lines on
//! its stdin and stdout (docs/SIM-SERVER.md, SPEC §7). One request line,
//! one answer line, in order; every answer is checked before it is used,
//! so a server that exits, hangs, or writes something malformed ends the
//! run with a report that says which request and what was wrong.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::protocol::{Clock, Input, Packet, Query, Setup, PROTOCOL_VERSION};
use super::server::{Answer, ServerError, SyncServer};

/// How long a server may take to answer one request, unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// How much of an offending line a report shows.
const CLIP: usize = 300;
/// How much of the server's stderr is kept (the end of it).
const STDERR_KEEP: usize = 64 * 1024;

/// A server process. See the module doc.
pub struct ProcessServer {
    cmd: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<String>>,
    timeout: Duration,
    seq: u64,
}

fn err(msg: impl Into<String>) -> ServerError {
    ServerError(msg.into())
}

/// The first `CLIP` characters of a line.
pub(crate) fn clip(line: &str) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(CLIP) {
        Some((i, _)) => format!("{}… ({} bytes in all)", &line[..i], line.len()),
        None => line.to_string(),
    }
}

impl ProcessServer {
    /// Starts `cmd` with `sh -c`; `timeout_ms` bounds each answer.
    pub fn spawn(cmd: &str, timeout_ms: Option<u64>) -> Result<ProcessServer, ServerError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(format!("cannot start `{cmd}`: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| err("no stdout pipe"))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let keep = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut s = keep.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if s.len() > STDERR_KEEP {
                        let mut cut = s.len() - STDERR_KEEP;
                        while !s.is_char_boundary(cut) {
                            cut += 1;
                        }
                        s.drain(..cut);
                    }
                }
            });
        }
        Ok(ProcessServer {
            cmd: cmd.to_string(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            stderr,
            timeout: Duration::from_millis(timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(1)),
            seq: 0,
        })
    }

    /// How the process ended, once it has (waits a moment for it).
    fn exit_status(&mut self) -> String {
        for _ in 0..50 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return match st.code() {
                    Some(c) => format!("exited with status {c}"),
                    None => "was killed by a signal".to_string(),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        "closed its stdout".to_string()
    }

    /// Sends one request and returns its answer object.
    fn request(&mut self, at: Clock, body: Value) -> Result<Map<String, Value>, ServerError> {
        self.seq += 1;
        let mut req = Map::new();
        req.insert("seq".into(), self.seq.into());
        req.insert("step".into(), at.step.into());
        req.insert("time".into(), at.time.into());
        if let Value::Object(fields) = body {
            req.extend(fields);
        }
        let kind = req
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let line = Value::Object(req).to_string();
        let wrote = match self.stdin.as_mut() {
            Some(w) => w
                .write_all(line.as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if wrote.is_err() {
            let how = self.exit_status();
            return Err(err(format!(
                "the server process `{}` {how} before request {} ({kind}) could be written",
                self.cmd, self.seq
            )));
        }
        let answer = match self.lines.recv_timeout(self.timeout) {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                return Err(err(format!(
                    "reading its answer to request {}: {e}",
                    self.seq
                )))
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                return Err(err(format!(
                    "no answer to request {} ({kind}) within {} ms (the server process was killed)",
                    self.seq,
                    self.timeout.as_millis()
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let how = self.exit_status();
                return Err(err(format!(
                    "the server process `{}` {how} without answering request {} ({kind})",
                    self.cmd, self.seq
                )));
            }
        };
        let v: Value = serde_json::from_str(&answer).map_err(|e| {
            err(format!(
                "its answer to request {} ({kind}) is not JSON ({e}): {}",
                self.seq,
                clip(&answer)
            ))
        })?;
        let Value::Object(obj) = v else {
            return Err(err(format!(
                "its answer to request {} ({kind}) is not a JSON object: {}",
                self.seq,
                clip(&answer)
            )));
        };
        if let Some(re) = obj.get("re") {
            if re.as_u64() != Some(self.seq) {
                return Err(err(format!(
                    "its answer says \"re\": {re}, but it answers request {} ({kind}): {}",
                    self.seq,
                    clip(&answer)
                )));
            }
        }
        if let Some(e) = obj.get("error") {
            return Err(err(format!(
                "it answered request {} ({kind}) with an error: {}",
                self.seq,
                clip(&e.to_string())
            )));
        }
        Ok(obj)
    }

    /// A field of an answer, read as `T`; the error names the field.
    fn field<T: serde::de::DeserializeOwned>(
        &self,
        obj: &Map<String, Value>,
        name: &str,
        kind: &str,
    ) -> Result<T, ServerError> {
        // The answer is written out again only for a report.
        let whole = |obj: &Map<String, Value>| clip(&Value::Object(obj.clone()).to_string());
        let Some(v) = obj.get(name) else {
            return Err(err(format!(
                "its answer to request {} ({kind}) has no \"{name}\": {}",
                self.seq,
                whole(obj)
            )));
        };
        T::deserialize(v).map_err(|e| {
            err(format!(
                "\"{name}\" in its answer to request {} ({kind}) is wrong: {e}: {}",
                self.seq,
                whole(obj)
            ))
        })
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ServerError> {
    serde_json::to_value(v).map_err(|e| err(format!("cannot encode a request: {e}")))
}

impl SyncServer for ProcessServer {
    fn start(&mut self, setup: &Setup) -> Result<String, ServerError> {
        let mut body = to_value(setup)?;
        if let Value::Object(m) = &mut body {
            m.insert("kind".into(), "hello".into());
        }
        let at = Clock { step: 0, time: 0 };
        let mut ans = self.request(at, body)?;
        let protocol: u64 = self.field(&ans, "protocol", "hello")?;
        if protocol != u64::from(PROTOCOL_VERSION) {
            return Err(err(format!(
                "the server speaks protocol version {protocol}; this harness speaks version {PROTOCOL_VERSION} (docs/SIM-SERVER.md)"
            )));
        }
        let name = match ans.remove("name") {
            Some(Value::String(s)) => s,
            _ => self.cmd.clone(),
        };
        Ok(name)
    }

    fn handle(&mut self, at: Clock, input: &Input) -> Result<Vec<Packet>, ServerError> {
        let kind = input.kind();
        let ans = self.request(at, to_value(input)?)?;
        let raw: Vec<Value> = self.field(&ans, "packets", kind)?;
        let mut out = Vec::with_capacity(raw.len());
        for (i, p) in raw.iter().enumerate() {
            let packet = Packet::deserialize(p).map_err(|e| {
                err(format!(
                    "packet {i} of its answer to request {} ({kind}) is wrong: {e}: {}",
                    self.seq,
                    clip(&p.to_string())
                ))
            })?;
            out.push(packet);
        }
        Ok(out)
    }

    fn query(&mut self, at: Clock, query: &Query) -> Result<Answer, ServerError> {
        let ans = self.request(at, to_value(query)?)?;
        match query {
            Query::Readers { .. } => Ok(Answer::Readers(
                self.field::<BTreeMap<String, Vec<String>>>(&ans, "readers", "readers")?,
            )),
            Query::Positions { .. } | Query::PeerPositions { .. } => Ok(Answer::Positions(
                self.field::<BTreeMap<String, i64>>(&ans, "positions", "positions")?,
            )),
            Query::Delivered { .. } => Ok(Answer::Delivered(
                self.field::<BTreeMap<String, Vec<String>>>(&ans, "delivered", "delivered")?,
            )),
            Query::ReadTimes { .. } => {
                Ok(Answer::ReadTimes(self.field::<BTreeMap<
                    String,
                    BTreeMap<String, i64>,
                >>(
                    &ans, "readTimes", "readTimes"
                )?))
            }
            Query::Marks { .. } => {
                Ok(Answer::Marks(self.field::<BTreeMap<
                    String,
                    super::protocol::MarkState,
                >>(
                    &ans, "marks", "marks"
                )?))
            }
        }
    }

    fn diagnostics(&mut self) -> Option<String> {
        let s = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        Some(s.clone())
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        // Closing stdin asks it to exit; one that does not is killed.
        self.stdin = None;
        for _ in 0..25 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
