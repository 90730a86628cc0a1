//! The conformance corpus (`tests/conformance/*.jsonl`) through the
//! in-process request handler and through a `receiptdb rpc` process. The C
//! ABI and Node run the same files (`bindings/c/tests/conformance.rs`,
//! `bindings/node/test/conformance.test.js`).
//!
//! `RECEIPTDB_BLESS=1 cargo test --test conformance bless` records the
//! in-process answers into the files (review the diff).

#[path = "common/bin.rs"]
mod bin;
#[path = "conformance/runner.rs"]
mod runner;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use receiptdb::rpc::Session;
use runner::Transport;

struct InProcess(Session);

impl Transport for InProcess {
    fn call(&mut self, line: &str) -> Vec<String> {
        self.0.handle_bytes(line.as_bytes())
    }
}

fn in_process(dir: &Path, user: &str) -> Box<dyn Transport> {
    Box::new(InProcess(
        Session::open(dir.join("store.db"), user).expect("open the store"),
    ))
}

/// A `receiptdb rpc` child: a line in, lines out until the response.
struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Transport for Process {
    fn call(&mut self, line: &str) -> Vec<String> {
        writeln!(self.stdin, "{line}").expect("write to rpc");
        self.stdin.flush().expect("flush");
        let mut out = Vec::new();
        loop {
            let mut l = String::new();
            if self.stdout.read_line(&mut l).expect("read from rpc") == 0 {
                out.push("<the rpc process exited>".into());
                return out;
            }
            let l = l.trim_end_matches('\n').to_string();
            let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
            let is_response = v.get("id").is_some();
            out.push(l);
            if is_response {
                return out;
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn process(dir: &Path, user: &str) -> Box<dyn Transport> {
    let mut child = Command::new(bin::receiptdb_bin())
        .arg("rpc")
        .arg("--db")
        .arg(dir.join("store.db"))
        .arg("--user")
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn receiptdb rpc");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    Box::new(Process {
        child,
        stdin,
        stdout,
    })
}

#[test]
fn corpus_in_process() {
    let n = runner::run_corpus("in-process", in_process);
    assert!(n >= 6, "only {n} corpus files ran");
}

#[test]
fn corpus_through_receiptdb_rpc() {
    let n = runner::run_corpus("rpc", process);
    assert!(n >= 6, "only {n} corpus files ran");
}

/// Records the in-process answers (only with `RECEIPTDB_BLESS=1`).
#[test]
fn bless() {
    if std::env::var_os("RECEIPTDB_BLESS").is_some() {
        runner::bless(in_process);
    }
}

/// The runner's own checks: a wrong answer, a missing line, a placeholder
/// bound twice to different values and a skip without a reason all fail.
#[test]
fn the_runner_can_fail() {
    use serde_json::json;
    let mut b = Default::default();
    assert!(runner::matches(&json!({"a": 1}), &json!({"a": 2}), "$", &mut b).is_err());
    assert!(runner::matches(&json!({"a": 1}), &json!({"a": 1, "b": 2}), "$", &mut b).is_err());
    assert!(runner::matches(&json!([1, 2]), &json!([1]), "$", &mut b).is_err());
    assert!(runner::matches(&json!({"a": "<any>"}), &json!({"a": [3]}), "$", &mut b).is_ok());
    assert!(runner::matches(&json!("<x>"), &json!("one"), "$", &mut b).is_ok());
    assert!(runner::matches(&json!("<x>"), &json!("two"), "$", &mut b).is_err());
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "# skip node:\n> {}\n").expect("write");
    assert!(runner::parse(&bad).is_err(), "a skip says why");
    std::fs::write(&bad, "< {}\n").expect("write");
    assert!(runner::parse(&bad).is_err(), "an answer before a request");
    // A script whose answer is wrong fails with its file and line.
    std::fs::write(
        &bad,
        "> {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getTotalUnreadMessageCount\"}\n< {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"totalUnreadCount\":5}}\n",
    )
    .expect("write");
    let script = runner::parse(&bad).expect("parse");
    let err = runner::run(&script, in_process(dir.path(), "alice").as_mut())
        .expect_err("a wrong count fails");
    assert!(
        err.contains("bad.jsonl:1") && err.contains("totalUnreadCount"),
        "{err}"
    );
}
