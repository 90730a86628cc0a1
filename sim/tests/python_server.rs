//! The example servers in Python, through `--server-cmd` (docs/SIM-SERVER.md):
//! the reference server passes the default run, gives the same report twice
//! (deterministic as long as the server is) and passes a small sweep; the
//! planted-bug variant fails an invariant (exit 1, not a protocol failure),
//! shrunk, with a trace and a timeline that renders in headless Chromium.

mod support;

fn server(name: &str) -> String {
    format!(
        "python3 {}/../examples/servers/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn sim(args: &[&str]) -> (i32, String) {
    let (code, out, _) = support::sim(args);
    (code, out)
}

#[test]
fn the_python_reference_server_passes_the_default_run_deterministically() {
    let cmd = server("reference_server.py");
    let (code, first) = sim(&["--server-cmd", &cmd]);
    assert_eq!(code, 0, "{first}");
    assert!(first.contains("result: PASS"), "{first}");
    let (_, second) = sim(&["--server-cmd", &cmd]);
    assert_eq!(first, second, "two runs of one seed differ");
}

#[test]
fn the_python_reference_server_passes_a_small_sweep() {
    let cmd = server("reference_server.py");
    let (code, out) = sim(&[
        "--seeds",
        "1..6",
        "--jobs",
        "2",
        "--clients",
        "6",
        "--groups",
        "2",
        "--members",
        "4",
        "--messages",
        "150",
        "--steps",
        "300",
        "--server-cmd",
        &cmd,
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_planted_bug_in_python_is_caught_shrunk_traced_and_drawn() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let html = dir.path().join("buggy.html");
    let trace = dir.path().join("buggy.jsonl");
    let cmd = server("buggy_server.py");
    let (html_s, trace_s) = (html.display().to_string(), trace.display().to_string());
    let (code, out) = sim(&["--server-cmd", &cmd, "--html", &html_s, "--trace", &trace_s]);
    assert_eq!(code, 1, "an invariant, not the protocol:\n{out}");
    assert!(out.contains("shrunk (in"), "{out}");
    assert!(out.contains("cause (in the smallest failing run"), "{out}");
    assert!(
        out.contains("--server-cmd"),
        "the replay line names the server:\n{out}"
    );
    let lines = std::fs::read_to_string(&trace).unwrap_or_else(|e| panic!("{e}"));
    assert!(lines.lines().count() > 10, "{lines}");
    let invariant = out
        .lines()
        .find_map(|l| l.strip_prefix("smallest failing run: ["))
        .map(|l| {
            if l.starts_with("never ahead") {
                "soundness"
            } else {
                ""
            }
        })
        .unwrap_or_default();
    support::check_timeline(&html, support::replay_clients(&out) + 1, invariant);
}
