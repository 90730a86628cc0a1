//! Why a run failed: `--trace` writes the smallest failing run as JSON
//! lines (packets, server requests, store calls, events, faults, the
//! violation), the report names the cause chain, and `--html` writes a
//! timeline that renders in headless Chromium with the violation in its DOM.

#[path = "../../tests/common/bin.rs"]
mod bin;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn a_failing_run_gives_a_trace_a_cause_chain_and_a_timeline_chromium_renders() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let trace = dir.path().join("run.jsonl");
    let html = dir.path().join("run.html");
    let out = Command::new(bin::receiptdb_bin())
        .args(["sim", "--mutate", "lww", "--trace"])
        .arg(&trace)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap_or_else(|e| panic!("cannot run receiptdb: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("cause (in the smallest failing run"),
        "{stdout}"
    );
    assert!(stdout.contains("was sent by server at step"), "{stdout}");

    let text = std::fs::read_to_string(&trace).unwrap_or_else(|e| panic!("{e}"));
    let mut kinds = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if let Some(k) = v.get("kind").and_then(|k| k.as_str()) {
            kinds.insert(k.to_string());
        }
    }
    for k in [
        "step",
        "send",
        "queued",
        "deliver",
        "server-in",
        "call",
        "event",
        "violation",
    ] {
        assert!(
            kinds.contains(k),
            "no {k} entry in the trace; kinds: {kinds:?}"
        );
    }

    // The smallest failing run of this seed has 8 clients: 9 lanes.
    let lanes = stdout
        .lines()
        .find_map(|l| l.strip_prefix("replay: "))
        .and_then(|r| r.split("--clients ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no replay line:\n{stdout}"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/html/check_timeline.mjs");
    let check = Command::new("node")
        .arg(script)
        .arg(&html)
        .arg((lanes + 1).to_string())
        .arg("monotone")
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        check.status.success(),
        "the timeline did not render as it should: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
