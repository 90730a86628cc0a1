//! The simulator: many seeds pass, a planted bug fails, runs are deterministic.
//! The `receiptdb sim` tests run the binary of `receiptdb-cli`, built by the
//! store crate's test helper.

#[path = "../../tests/common/bin.rs"]
mod bin;

use std::process::Command;

use receiptdb_sim::{Action, FaultKind, Invariant, Mutation, Rates, Scenario};

fn small(seed: u64) -> Scenario {
    let built = Scenario::builder()
        .seed(seed)
        .clients(4 + (seed % 3) as usize)
        .groups(1 + (seed % 2) as usize)
        .members(3)
        .messages(30)
        .steps(80)
        .build();
    match built {
        Ok(s) => s,
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

/// 200 seeds of small scenarios. The runs wait on the disk (each store open
/// and close syncs its file) more than they compute, so a few threads share them.
#[test]
fn two_hundred_seeds_pass() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    let next = AtomicU64::new(1);
    let failed = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed > 200 {
                    break;
                }
                let bad = match small(seed).run() {
                    Ok(r) if r.passed => continue,
                    Ok(r) => format!("{r}"),
                    Err(e) => format!("seed {seed}: {e}"),
                };
                if let Ok(mut f) = failed.lock() {
                    f.push((seed, bad));
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort();
    let text: Vec<String> = failed.into_iter().map(|(_, r)| r).collect();
    assert!(text.is_empty(), "{}", text.join("\n\n"));
}

#[test]
fn scripted_scenario_covers_self_read_crash_recall_and_membership() {
    // 4 clients: users u0, u1, u2; client 3 is u0's second device.
    let rates = Rates {
        read: 0.0,
        ..Rates::default()
    };
    let send = |from, group, to| Action::Send {
        from,
        group,
        to,
        receipt: true,
    };
    let report = Scenario::builder()
        .seed(3)
        .clients(4)
        .groups(1)
        .members(3)
        .messages(0)
        .steps(40)
        .faults([])
        .rates(rates)
        .step(0, send(1, None, Some(0))) // m1
        .step(0, send(1, Some(0), None)) // m2
        .step(0, send(0, Some(0), None)) // m3
        .step(1, send(1, None, Some(0))) // m4
        .step(2, Action::Recall { message: Some(4) })
        .step(4, Action::Read { client: 0 })
        .step(
            4,
            Action::Crash {
                client: 0,
                down_for: 3,
            },
        )
        .step(5, Action::Read { client: 1 })
        .step(8, Action::Sync { client: 1 })
        .step(12, Action::Stale { client: 1 })
        .step(
            14,
            Action::Partition {
                clients: vec![3],
                steps: 5,
            },
        )
        .step(20, Action::Leave { group: 0, user: 2 })
        .step(22, Action::Join { group: 0, user: 2 })
        .step(23, send(2, Some(0), None))
        .step(25, Action::Read { client: 0 })
        .step(
            26,
            Action::Offline {
                client: 2,
                steps: 6,
            },
        )
        .run();
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(report.passed, "{report}");
    let c = &report.counters;
    assert_eq!(c.messages, 5, "{report}");
    // m4's recall reached u0's devices before u0 read it: the store
    // refused the receipt (MESSAGE_RECALLED), so the server had none to reject.
    assert!(c.recall_refusals >= 1, "m4 was recalled: {report}");
    assert_eq!(c.recalls_learned, 3, "u1's device, u0's two: {report}");
    assert!(c.reopens >= 1 && c.durability_checks >= 1, "{report}");
    assert_eq!(c.membership_changes, 2, "{report}");
    assert!(
        report.faults.get(&FaultKind::Stale).copied().unwrap_or(0) >= 1,
        "{report}"
    );
}

#[test]
fn scripted_read_positions_travel_between_devices_and_peers() {
    // 4 clients: users u0, u1, u2; client 3 is u0's second device.
    let rates = Rates {
        read: 0.0,
        ..Rates::default()
    };
    let send = |from, group, to| Action::Send {
        from,
        group,
        to,
        receipt: true,
    };
    let mark = |client, conversation: Option<&str>, sequence| Action::MarkRead {
        client,
        conversation: conversation.map(str::to_string),
        sequence,
    };
    let report = Scenario::builder()
        .seed(5)
        .clients(4)
        .groups(1)
        .members(3)
        .messages(0)
        .steps(40)
        .faults([
            FaultKind::Delay,
            FaultKind::Reorder,
            FaultKind::Duplicate,
            FaultKind::Drop,
            FaultKind::Stale,
        ])
        .rates(rates)
        .step(0, send(1, None, Some(0))) // m1, C2C seq 1
        .step(0, send(1, None, Some(0))) // m2, seq 2
        .step(0, send(0, None, Some(1))) // m3, seq 3 (u0's out)
        .step(0, send(1, None, Some(0))) // m4, seq 4
        .step(0, send(1, Some(0), None)) // m5
        .step(3, mark(3, Some("C2Cu1"), Some(2))) // second device, up to m2
        .step(
            4,
            Action::Offline {
                client: 0,
                steps: 5,
            },
        )
        .step(5, mark(0, None, None)) // offline: the report waits
        .step(8, mark(1, Some("C2Cu0"), None)) // the peer reads m3
        .step(9, Action::Sync { client: 3 })
        .step(10, Action::MarkAllRead { client: 3 })
        .step(
            12,
            Action::Crash {
                client: 3,
                down_for: 3,
            },
        )
        .step(14, Action::Stale { client: 0 })
        .step(16, send(1, None, Some(0))) // m6: unread everywhere
        .step(18, mark(2, None, Some(1)))
        .run();
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(report.passed, "{report}");
    let c = &report.counters;
    assert_eq!(c.marks, 5, "{report}");
    assert!(c.read_reports_moved >= 3, "{report}");
    assert!(c.read_acks >= 1 && c.read_pushes >= 2, "{report}");
    assert!(c.read_state_checks > 0, "{report}");
}

#[test]
fn tally_mutation_breaks_the_read_state_invariant() {
    let report = match Scenario::builder()
        .mutate(Mutation::Tally)
        .shrink(false)
        .run()
    {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(!report.passed, "{report}");
    let Some(v) = report.violation.as_ref() else {
        panic!("no violation: {report}");
    };
    assert_eq!(v.invariant, Invariant::ReadState, "{report}");
    assert!(v.detail.contains("unreadCount of "), "{report}");
}

#[test]
fn lww_fails_in_the_library_and_the_shrunk_prefix_replays_the_failure() {
    let report = match Scenario::builder().mutate(Mutation::Lww).run() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(!report.passed, "{report}");
    let Some(v) = report.violation.as_ref() else {
        panic!("no violation: {report}");
    };
    // The displayed figures went back: a naive cache, not the store.
    assert_eq!(v.invariant, Invariant::Monotone, "{report}");
    let Some(shrunk) = report.shrunk.clone() else {
        panic!("no shrink: {report}");
    };
    assert!(shrunk.prefix <= v.step + 1, "{report}");
    assert_eq!(shrunk.scenario.prefix, Some(shrunk.prefix), "{report}");
    assert_eq!(shrunk.scenario.mutate, Some(Mutation::Lww), "{report}");
    // The smallest failing scenario, run again, fails the same way.
    let mut again = shrunk.scenario.clone();
    again.shrink = false;
    match again.run() {
        Ok(r) => assert_eq!(r.violation, Some(shrunk.violation), "{r}"),
        Err(e) => panic!("{e}"),
    }
}

fn sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin::receiptdb_bin())
        .arg("sim")
        .args(args)
        .output();
    match out {
        Ok(o) => (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => panic!("cannot run receiptdb: {e}"),
    }
}

#[test]
fn cli_lww_mutation_exits_1_with_seed_violation_and_prefix() {
    let (code, out, err) = sim(&["--mutate", "lww"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("result: FAIL (seed 42)"), "{out}");
    assert!(out.contains("first violation: [monotone events]"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("replay: ")
            && l.contains("--prefix ")
            && l.contains("--mutate lww")),
        "{out}"
    );
}

#[test]
fn cli_tally_mutation_exits_1_with_read_state_violation() {
    let (code, out, err) = sim(&["--mutate", "tally"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("result: FAIL (seed 42)"), "{out}");
    assert!(
        out.contains("first violation: [conversation read state]"),
        "{out}"
    );
    assert!(out.contains("--mutate tally"), "{out}");
}

#[test]
fn cli_same_seed_prints_the_same_report_twice() {
    let args = [
        "--seed",
        "9",
        "--steps",
        "150",
        "--messages",
        "80",
        "--clients",
        "6",
    ];
    let (c1, a, e1) = sim(&args);
    let (c2, b, _) = sim(&args);
    assert_eq!((c1, c2), (0, 0), "{a}\n{e1}");
    assert!(a.contains("result: PASS"), "{a}");
    assert_eq!(a, b);
    assert!(e1.contains("wall-clock"), "{e1}");
}

#[test]
fn cli_json_report_and_bad_arguments() {
    let (code, out, _) = sim(&["--seed", "4", "--steps", "60", "--messages", "20", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = match serde_json::from_str(&out) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {out}"),
    };
    assert_eq!(v["report"]["passed"], serde_json::json!(true), "{out}");
    assert!(v["wall"]["runSeconds"].is_number(), "{out}");
    let (code, _, err) = sim(&["--faults", "delay,bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bogus"), "{err}");
    let (code, _, err) = sim(&["--scenario", "/nonexistent/scenario.json"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn example_scenario_file_runs_and_passes() {
    let text = include_str!("../examples/scenario.json");
    let sc = match Scenario::from_json(text) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert!(!sc.script.is_empty());
    match sc.run() {
        Ok(r) => assert!(r.passed, "{r}"),
        Err(e) => panic!("{e}"),
    }
}

/// docs/SIM.md shows the report of the default run: it must be what a real
/// default run prints, or a newcomer comparing the two suspects nondeterminism.
#[test]
fn sim_md_sample_report_is_a_real_default_run() {
    let doc = include_str!("../../docs/SIM.md");
    let Some(start) = doc.find("```\nreceiptdb sim: seed 42\n") else {
        panic!("docs/SIM.md has no sample report of seed 42");
    };
    let body = &doc[start + 4..];
    let Some(end) = body.find("\n```") else {
        panic!("the sample report's block is not closed");
    };
    let sample = &body[..end];
    let report = match Scenario::default().run() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        report.to_string().trim_end(),
        sample.trim_end(),
        "docs/SIM.md's sample report differs from a real default run; the real one:\n{report}"
    );
}

/// One rule for a `members` nobody gave, in a scenario file as with
/// `--clients` alone: the default, lowered to the number of users.
#[test]
fn members_default_fits_the_clients_in_files_and_flags() {
    let sc = match Scenario::from_json(r#"{"clients": 3}"#) {
        Ok(s) => s,
        Err(e) => panic!("{{\"clients\": 3}} is refused: {e}"),
    };
    assert_eq!((sc.clients, sc.users(), sc.members), (3, 2, 2));
    // Given explicitly, it is checked, never lowered.
    let err = Scenario::from_json(r#"{"clients": 3, "members": 5}"#);
    assert!(err.is_err(), "{err:?}");
    let (code, out, err) = sim(&["--clients", "3", "--steps", "30", "--messages", "10"]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("three clients.json");
    std::fs::write(&file, r#"{"clients": 3, "steps": 30, "messages": 10}"#).expect("write");
    let (code, out, err) = sim(&["--scenario", &file.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The replay line of a run from a scenario file names that file (quoted
/// for the shell), not a placeholder.
#[test]
fn replay_line_names_the_real_scenario_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("my scenario.json");
    std::fs::write(
        &file,
        r#"{"seed": 3, "clients": 4, "groups": 1, "members": 3, "messages": 30, "steps": 60, "mutate": "lww"}"#,
    )
    .expect("write");
    let (code, out, err) = sim(&["--scenario", &file.display().to_string()]);
    assert_eq!(code, 1, "a planted bug fails:\n{out}{err}");
    let quoted = format!("--scenario '{}'", file.display());
    assert!(
        out.contains(&quoted),
        "the replay line names {quoted}:\n{out}"
    );
    assert!(!out.contains("FILE.json"), "{out}");
}
