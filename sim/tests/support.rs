//! What the simulator's tests share: running `receiptdb sim`, reading a
//! report's replay line, and opening a timeline in headless Chromium.
#![allow(dead_code)]

#[path = "../../tests/common/bin.rs"]
mod bin;

use std::path::Path;
use std::process::Command;

use receiptdb_sim::{Invariant, Mutation, Report, Scenario};

/// Runs `receiptdb sim ARGS`: exit status, stdout, stderr.
pub fn sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin::receiptdb_bin())
        .arg("sim")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run receiptdb: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `--clients` of a report's replay line.
pub fn replay_clients(report: &str) -> usize {
    report
        .lines()
        .find_map(|l| l.strip_prefix("replay: "))
        .and_then(|r| r.split("--clients ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no replay line:\n{report}"))
}

/// Opens an `--html` timeline in headless Chromium and checks it renders
/// `lanes` lanes, packets, and a violation whose heading names `invariant`.
pub fn check_timeline(html: &Path, lanes: usize, invariant: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/html/check_timeline.mjs");
    let check = Command::new("node")
        .arg(script)
        .arg(html)
        .arg(lanes.to_string())
        .arg(invariant)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        check.status.success(),
        "the timeline did not render as it should: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// The default scenario (no shrinking), with a planted bug or without.
pub fn run(m: Option<Mutation>) -> Report {
    let mut b = Scenario::builder().shrink(false);
    if let Some(m) = m {
        b = b.mutate(m);
    }
    b.run().unwrap_or_else(|e| panic!("{e}"))
}

/// The planted bug `m` is caught by `invariant`, with `detail` in its report.
pub fn caught(m: Mutation, invariant: Invariant, detail: &str) {
    let report = run(Some(m));
    let v = report
        .violation
        .unwrap_or_else(|| panic!("{m:?} was not caught"));
    assert_eq!(v.invariant, invariant, "{v}");
    assert!(v.detail.contains(detail), "{v}");
}
