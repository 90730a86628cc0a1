//! Seed sweeps: one scenario run for every seed of a range, on several
//! threads, with a summary that depends only on the scenario and the seeds
//! (never on the number of jobs or the order runs finish in). A sweep can be
//! split into shards with no coordinator (`--shard i/n` takes every n-th seed),
//! and the shards' summaries merge into the summary of the whole sweep.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use receiptdb::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::scenario::Scenario;

/// Seeds `first..=last`, as `--seeds A..B` writes them (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRange {
    /// The first seed.
    pub first: u64,
    /// The last seed (included).
    pub last: u64,
}

impl SeedRange {
    /// Parses `A..B` (both included; `A..=B` is accepted too) or a single seed.
    pub fn parse(s: &str) -> Result<SeedRange> {
        let bad = || Error::InvalidParams(format!("seeds: want A..B (both included), got {s:?}"));
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
            None => (s, s),
        };
        let first: u64 = a.trim().parse().map_err(|_| bad())?;
        let last: u64 = b.trim().parse().map_err(|_| bad())?;
        if last < first {
            return Err(bad());
        }
        if last - first >= 10_000_000 {
            return Err(Error::InvalidParams(
                "seeds: at most 10,000,000 seeds in one sweep".into(),
            ));
        }
        Ok(SeedRange { first, last })
    }

    /// How many seeds.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never empty (`last >= first`); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

/// Shard `index` of `count` (1-based, as `--shard i/n`): the seeds whose
/// position in the range is `index - 1` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1..=count.
    pub index: u64,
    /// How many shards the sweep is split into.
    pub count: u64,
}

impl Shard {
    /// Parses `i/n` with 1 <= i <= n.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || Error::InvalidParams(format!("shard: want i/n with 1 <= i <= n, got {s:?}"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The seeds of `range` in this shard, in order.
    pub fn seeds(&self, range: SeedRange) -> Vec<u64> {
        (range.first..=range.last)
            .filter(|s| (s - range.first) % self.count == self.index - 1)
            .collect()
    }
}

/// One seed that failed (or could not run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// The violation as the report prints it (shrunk when shrinking found
    /// one), or why the run could not start.
    pub what: String,
    /// The command that replays it.
    pub replay: String,
}

/// What a sweep found: deterministic for a scenario and a seed list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    /// The seeds of the whole sweep.
    pub seeds: SeedRange,
    /// The shard this summary covers; `None` for a whole sweep (or a merge).
    pub shard: Option<Shard>,
    /// The scenario every seed ran, as JSON, without its seed: shards merge
    /// only when it is the same.
    pub scenario: String,
    /// Seeds run.
    pub runs: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed, by seed.
    pub failures: Vec<SeedFailure>,
}

impl SweepSummary {
    /// Whether every seed passed.
    pub fn all_passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Merges the summaries of shards `1/n ..= n/n` of one sweep into the
    /// summary of the whole sweep; refuses a missing, repeated or foreign shard.
    pub fn merge(parts: &[SweepSummary]) -> Result<SweepSummary> {
        let bad = |m: String| Error::InvalidParams(format!("merge: {m}"));
        let first = parts.first().ok_or_else(|| bad("no summaries".into()))?;
        let count = first
            .shard
            .map(|s| s.count)
            .ok_or_else(|| bad("a summary without --shard is already whole".into()))?;
        let mut seen = BTreeMap::new();
        for p in parts {
            if p.seeds != first.seeds || p.scenario != first.scenario {
                return Err(bad("the summaries come from different sweeps".into()));
            }
            let shard = p
                .shard
                .filter(|s| s.count == count)
                .ok_or_else(|| bad(format!("every summary must be a shard i/{count}")))?;
            if seen.insert(shard.index, p).is_some() {
                return Err(bad(format!("shard {}/{count} given twice", shard.index)));
            }
        }
        if let Some(missing) = (1..=count).find(|i| !seen.contains_key(i)) {
            return Err(bad(format!("shard {missing}/{count} is missing")));
        }
        let mut failures: Vec<SeedFailure> =
            parts.iter().flat_map(|p| p.failures.clone()).collect();
        failures.sort_by_key(|f| f.seed);
        Ok(SweepSummary {
            seeds: first.seeds,
            shard: None,
            scenario: first.scenario.clone(),
            runs: parts.iter().map(|p| p.runs).sum(),
            passed: parts.iter().map(|p| p.passed).sum(),
            failures,
        })
    }
}

impl fmt::Display for SweepSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shard {
            Some(s) => writeln!(
                f,
                "receiptdb sim sweep: seeds {} shard {}/{}",
                self.seeds, s.index, s.count
            )?,
            None => writeln!(f, "receiptdb sim sweep: seeds {}", self.seeds)?,
        }
        writeln!(f, "scenario: {}", self.scenario)?;
        writeln!(
            f,
            "runs: {}, passed {}, failed {}",
            self.runs,
            self.passed,
            self.failures.len()
        )?;
        for x in &self.failures {
            writeln!(f, "FAIL seed {}: {}", x.seed, x.what)?;
            writeln!(f, "  replay: {}", x.replay)?;
        }
        if self.all_passed() {
            writeln!(f, "result: PASS")
        } else {
            writeln!(f, "result: FAIL ({} seeds)", self.failures.len())
        }
    }
}

/// The scenario as JSON without its seed (what every seed of a sweep shares).
fn shared_part(sc: &Scenario) -> String {
    let mut v = serde_json::to_value(sc).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("seed");
        o.remove("prefix");
    }
    v.to_string()
}

/// A failing report as one line, and the command that replays it.
fn failure_of(seed: u64, r: &Report) -> SeedFailure {
    let what = match (&r.shrunk, &r.violation) {
        (Some(s), _) => format!(
            "{} (shortest failing prefix: {} steps)",
            s.violation, s.prefix
        ),
        (None, Some(v)) => v.to_string(),
        (None, None) => "failed".into(),
    };
    SeedFailure {
        seed,
        what,
        replay: r.replay_command().unwrap_or_else(|| r.run_command()),
    }
}

/// Runs `scenario` once per seed of `seeds` (the seeds of one shard, or the
/// whole range) on `jobs` threads; `done(finished, total)` is called after
/// each run, from the thread that ran it.
pub fn sweep(
    scenario: &Scenario,
    range: SeedRange,
    shard: Option<Shard>,
    jobs: usize,
    done: &(dyn Fn(u64, u64) + Sync),
) -> Result<SweepSummary> {
    scenario.validate()?;
    let seeds = shard.unwrap_or(Shard { index: 1, count: 1 }).seeds(range);
    let total = seeds.len() as u64;
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<u64, std::result::Result<Report, String>>> =
        Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(seeds.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else {
                    break;
                };
                let mut sc = scenario.clone();
                sc.seed = seed;
                sc.prefix = None;
                let r = sc.run().map_err(|e| e.to_string());
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(seed, r);
                let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                done(n as u64, total);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut summary = SweepSummary {
        seeds: range,
        shard,
        scenario: shared_part(scenario),
        runs: results.len() as u64,
        passed: 0,
        failures: Vec::new(),
    };
    for (seed, r) in results {
        match r {
            Ok(rep) if rep.passed => summary.passed += 1,
            Ok(rep) => summary.failures.push(failure_of(seed, &rep)),
            Err(e) => {
                let mut sc = scenario.clone();
                sc.seed = seed;
                summary.failures.push(SeedFailure {
                    seed,
                    what: format!("could not run: {e}"),
                    replay: crate::report::run_command_of(&sc),
                });
            }
        }
    }
    Ok(summary)
}
