//! Why a run failed: `--trace` writes the smallest failing run as JSON
//! lines (packets, server requests, store calls, events, faults, the
//! violation), the report names the cause chain, and `--html` writes a
//! timeline that renders in headless Chromium with the violation in its DOM.

mod support;

use std::collections::BTreeSet;

#[test]
fn a_failing_run_gives_a_trace_a_cause_chain_and_a_timeline_chromium_renders() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let trace = dir.path().join("run.jsonl");
    let html = dir.path().join("run.html");
    let (t, h) = (trace.display().to_string(), html.display().to_string());
    let (code, stdout, _) = support::sim(&["--mutate", "lww", "--trace", &t, "--html", &h]);
    assert_eq!(code, 1, "{stdout}");
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

    // A lane per client of the smallest failing run, and the server's.
    support::check_timeline(&html, support::replay_clients(&stdout) + 1, "monotone");
}
