//! Seed sweeps: the summary depends only on the scenario and the seeds (not
//! on the number of jobs), shards merge into the whole sweep's summary, and
//! every failing seed comes with a replay line that fails again.

mod support;

use support::sim;

use receiptdb_sim::{sweep, Mutation, Scenario, SeedRange, Shard, SweepSummary};

fn small() -> Scenario {
    match Scenario::builder()
        .clients(4)
        .groups(1)
        .members(3)
        .messages(30)
        .steps(80)
        .build()
    {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn run(sc: &Scenario, range: &str, shard: Option<&str>, jobs: usize) -> SweepSummary {
    let range = SeedRange::parse(range).unwrap_or_else(|e| panic!("{e}"));
    let shard = shard.map(|s| Shard::parse(s).unwrap_or_else(|e| panic!("{e}")));
    sweep(sc, range, shard, jobs, &|_, _| {}).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_summary_is_the_same_on_one_job_and_on_three() {
    let mut sc = small();
    // A planted bug, so the summary holds failures whose order could vary.
    sc.mutate = Some(Mutation::Tally);
    let one = run(&sc, "1..9", None, 1);
    let three = run(&sc, "1..9", None, 3);
    assert_eq!(one, three);
    assert_eq!(one.runs, 9);
    assert!(!one.failures.is_empty(), "{one}");
    let seeds: Vec<u64> = one.failures.iter().map(|f| f.seed).collect();
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    assert_eq!(seeds, sorted, "failures are listed by seed");
    assert_eq!(one.to_string(), three.to_string());
}

#[test]
fn shards_merge_into_the_whole_sweep_and_bad_merges_are_refused() {
    let mut sc = small();
    sc.mutate = Some(Mutation::Tally);
    let whole = run(&sc, "3..12", None, 2);
    let parts: Vec<SweepSummary> = (1..=3)
        .map(|i| run(&sc, "3..12", Some(&format!("{i}/3")), 1))
        .collect();
    assert_eq!(parts.iter().map(|p| p.runs).sum::<u64>(), 10);
    let merged = SweepSummary::merge(&parts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(merged, whole);
    // A shard missing, given twice, or from another sweep.
    assert!(SweepSummary::merge(&parts[..2]).is_err());
    let twice = vec![parts[0].clone(), parts[0].clone(), parts[2].clone()];
    assert!(SweepSummary::merge(&twice).is_err());
    let mut other = parts.clone();
    other[1].scenario.push(' ');
    assert!(SweepSummary::merge(&other).is_err());
    assert!(
        SweepSummary::merge(&[whole]).is_err(),
        "a whole sweep is not a shard"
    );
}

#[test]
fn cli_sweep_lists_failing_seeds_with_replay_lines_that_fail_again() {
    let base = [
        "--clients",
        "4",
        "--groups",
        "1",
        "--members",
        "3",
        "--messages",
        "30",
        "--steps",
        "80",
    ];
    let mut args = base.to_vec();
    args.extend(["--seeds", "1..4", "--jobs", "2"]);
    let (code, out, err) = sim(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("runs: 4, passed 4, failed 0"), "{out}");
    assert!(err.contains("seeds/min"), "{err}");

    args.extend(["--mutate", "tally"]);
    let (code, out, err) = sim(&args);
    assert_eq!(code, 1, "{out}{err}");
    let replay = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: receiptdb sim "))
        .unwrap_or_else(|| panic!("no replay line:\n{out}"));
    let replay_args: Vec<&str> = replay.split_whitespace().collect();
    let (code, again, _) = sim(&replay_args);
    assert_eq!(code, 1, "the replay line fails again:\n{again}");
}

#[test]
fn cli_shards_merge_and_bad_sweep_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let base = [
        "--clients",
        "4",
        "--groups",
        "1",
        "--members",
        "3",
        "--messages",
        "20",
        "--steps",
        "50",
        "--seeds",
        "1..5",
    ];
    let (code, whole, err) = sim(&base);
    assert_eq!(code, 0, "{whole}{err}");
    let mut files = Vec::new();
    for i in 1..=2 {
        let mut a = base.to_vec();
        let shard = format!("{i}/2");
        a.extend(["--shard", &shard, "--json"]);
        let (code, out, err) = sim(&a);
        assert_eq!(code, 0, "{out}{err}");
        let f = dir.path().join(format!("shard{i}.json"));
        std::fs::write(&f, out).unwrap_or_else(|e| panic!("{e}"));
        files.push(f.display().to_string());
    }
    let mut m = vec!["--merge"];
    m.extend(files.iter().map(String::as_str));
    let (code, merged, err) = sim(&m);
    assert_eq!(code, 0, "{merged}{err}");
    assert_eq!(merged, whole, "the merged summary is the unsharded one");

    for bad in [
        vec!["--seeds", "9..1"],
        vec!["--seeds", "x"],
        vec!["--seeds", "1..3", "--shard", "0/2"],
        vec!["--seeds", "1..3", "--shard", "3/2"],
        vec!["--merge", files[0].as_str()],
    ] {
        let (code, out, err) = sim(&bad);
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
    }
}
