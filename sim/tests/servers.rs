//! Servers other than the built-in one: a Rust server through the
//! `SyncServer` trait (the reference server itself passes, the example's
//! planted bug is caught and shrunk), and server processes that break the
//! protocol (each ends the run as a server failure with a report that says
//! what was wrong, and `receiptdb sim` exits 2), never a hang, panic or PASS.

mod support;

#[path = "../examples/custom_server.rs"]
#[allow(dead_code)]
mod custom_server;

use std::time::{Duration, Instant};

use receiptdb_sim::{Invariant, ReferenceServer, Scenario, ServerChoice};

fn run(sc: &Scenario) -> receiptdb_sim::Report {
    sc.run().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_reference_server_through_the_trait_passes() {
    let sc = custom_server::scenario(ServerChoice::custom(ReferenceServer::new))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    assert!(r.passed, "{r}");
    assert!(r.counters.receipts_accepted > 0, "{r}");
}

#[test]
fn a_planted_bug_in_a_rust_server_is_caught_and_shrunk() {
    let mut sc = custom_server::scenario(ServerChoice::custom(custom_server::TallyServer::default))
        .unwrap_or_else(|e| panic!("{e}"));
    sc.trace = true;
    let r = run(&sc);
    let v = r
        .violation
        .as_ref()
        .unwrap_or_else(|| panic!("not caught:\n{r}"));
    assert!(
        matches!(v.invariant, Invariant::Soundness | Invariant::Convergence),
        "{r}"
    );
    assert!(v.detail.contains("readCount"), "{r}");
    let shrunk = r
        .shrunk
        .as_ref()
        .unwrap_or_else(|| panic!("not shrunk:\n{r}"));
    assert!(shrunk.prefix < sc.steps, "{r}");
    // Why: the notify packet that carried the inflated count, and the
    // receipts that made the server send it.
    assert!(r.cause.iter().any(|c| c.contains("(notify)")), "{r}");
    assert!(
        r.cause.iter().any(|c| c.contains("the receipts of device")),
        "{r}"
    );
    let page = receiptdb_sim::timeline_html(&r).unwrap_or_else(|| panic!("no trace kept"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let html = dir.path().join("tally.html");
    std::fs::write(&html, page).unwrap_or_else(|e| panic!("{e}"));
    let invariant = match shrunk.violation.invariant {
        Invariant::Soundness => "soundness",
        _ => "convergence",
    };
    support::check_timeline(&html, shrunk.scenario.clients + 1, invariant);
}

fn broken(mode: &str, timeout_ms: Option<u64>) -> Scenario {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/broken.py");
    Scenario::builder()
        .clients(4)
        .groups(1)
        .members(3)
        .messages(20)
        .steps(40)
        .server(ServerChoice::Command {
            cmd: format!("python3 {script} {mode}"),
            timeout_ms,
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a broken server; returns the violation's detail (it must be a
/// server failure, not shrunk).
fn server_failure(mode: &str, timeout_ms: Option<u64>) -> String {
    let r = run(&broken(mode, timeout_ms));
    let v = r
        .violation
        .as_ref()
        .unwrap_or_else(|| panic!("{mode} passed:\n{r}"));
    assert_eq!(v.invariant, Invariant::Server, "{mode}:\n{r}");
    assert!(r.shrunk.is_none(), "{mode}: a server failure is not shrunk");
    v.detail.clone()
}

#[test]
fn every_kind_of_broken_server_ends_the_run_with_a_clear_report() {
    let cases: [(&str, &[&str]); 9] = [
        (
            "exit-at-hello",
            &[
                "exited with status 3",
                "giving up before the handshake",
                "hello",
            ],
        ),
        ("old-protocol", &["protocol version 2;", "version 3"]),
        (
            "exit",
            &["exited with status 4", "request 2", "got request 2"],
        ),
        (
            "not-json",
            &["not JSON", "this is not json at all", "request 2"],
        ),
        ("unknown-kind", &["packet 0", "teleport", "unknown variant"]),
        ("wrong-type", &["packet 0", "invalid type", "\"zero\""]),
        ("bad-device", &["device 999", "only 4 devices"]),
        ("no-packets", &["no \"packets\"", "pakets"]),
        ("error", &["with an error", "database unavailable"]),
    ];
    for (mode, needles) in cases {
        let detail = server_failure(mode, None);
        for n in needles {
            assert!(
                detail.contains(n),
                "{mode}: {n:?} not in the report:\n{detail}"
            );
        }
        // Which step: every report says it.
        assert!(detail.contains("at step"), "{mode}:\n{detail}");
    }
}

#[test]
fn a_hanging_server_is_killed_after_the_timeout() {
    let started = Instant::now();
    let detail = server_failure("hang", Some(500));
    assert!(detail.contains("within 500 ms"), "{detail}");
    assert!(detail.contains("killed"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_command_line_exits_2_for_a_broken_server_and_shows_its_stderr() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/broken.py");
    let cmd = format!("python3 {script} not-json");
    let (code, stdout, _) = support::sim(&[
        "--clients",
        "4",
        "--groups",
        "1",
        "--members",
        "3",
        "--messages",
        "20",
        "--steps",
        "40",
        "--server-cmd",
        &cmd,
    ]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains("[the server kept the protocol]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("broken server starting in mode not-json"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--server-cmd"),
        "the replay line names the server:\n{stdout}"
    );
}
