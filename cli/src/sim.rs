//! The command-line glue of `receiptdb sim`: arguments, progress bar and
//! output. The simulator itself (`receiptdb-sim`) needs none of it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use receiptdb::{Error, Result};
use receiptdb_sim::{
    parse_faults, sweep, Invariant, Mutation, ProgressPhase, Report, Scenario, SeedRange,
    ServerChoice, Shard, SweepSummary,
};

/// Command-line arguments of `receiptdb sim`. Options given here override
/// the scenario file, which overrides the defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimArgs {
    /// Seed of every random choice (default 42).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Client devices; every third is a user's second device (default 10).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Groups (default 4).
    #[arg(long)]
    pub groups: Option<usize>,
    /// Initial members per group (default 5).
    #[arg(long)]
    pub members: Option<usize>,
    /// Messages sent over the run (default 1000).
    #[arg(long)]
    pub messages: Option<usize>,
    /// Fault kinds: all, none, or a comma list of delay, reorder, duplicate,
    /// drop, stale, partition, offline, crash, reject ("-kind" removes one).
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,
    /// Steps of the faulty phase (default 1500).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Run only the first N steps, exactly as the full run runs them.
    #[arg(long, value_name = "N")]
    pub prefix: Option<u64>,
    /// A JSON scenario file (see docs/SIM.md).
    #[arg(long, value_name = "FILE.json")]
    pub scenario: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Plant a bug to check the simulator catches it (docs/SIM.md, Mutation testing).
    #[arg(long, value_name = "MUTATION", value_parser = ["lww", "tally", "delivered-lww", "readtime-latest", "mark-arrival", "count-failed", "recall-thaw"])]
    pub mutate: Option<String>,
    /// Do not search for the shortest failing prefix.
    #[arg(long)]
    pub no_shrink: bool,
    /// Sweep: run every seed of A..B (both included) and print a summary.
    #[arg(long, value_name = "A..B", conflicts_with_all = ["seed", "prefix", "merge"])]
    pub seeds: Option<String>,
    /// Sweep threads (default: every core).
    #[arg(long, value_name = "N", requires = "seeds")]
    pub jobs: Option<usize>,
    /// Run only shard i of n of the sweep (every n-th seed, from the i-th).
    #[arg(long, value_name = "i/n", requires = "seeds")]
    pub shard: Option<String>,
    /// Run against a server process instead of the reference server: it
    /// speaks the JSON-lines protocol of docs/SIM-SERVER.md on stdin/stdout.
    #[arg(long, value_name = "CMD")]
    pub server_cmd: Option<String>,
    /// Most milliseconds the server process may take to answer one request
    /// (default 10000).
    #[arg(long, value_name = "MS", requires = "server_cmd")]
    pub server_timeout_ms: Option<u64>,
    /// Write the trace of the smallest failing run (or of the run, when it
    /// passes) to FILE, one JSON object a line; a server process's stderr
    /// goes beside it, to FILE.stderr.txt.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with = "seeds")]
    pub trace: Option<PathBuf>,
    /// Write a self-contained HTML timeline of the smallest failing run (or
    /// of the run, when it passes) to FILE.
    #[arg(long, value_name = "FILE.html", conflicts_with = "seeds")]
    pub html: Option<PathBuf>,
    /// Merge the `--json` summaries of every shard of one sweep into the
    /// summary of the whole sweep.
    #[arg(long, value_name = "FILE.json", num_args = 1..)]
    pub merge: Vec<PathBuf>,
}

impl SimArgs {
    /// The scenario these arguments describe.
    pub fn scenario(&self) -> Result<Scenario> {
        let mut members_given = false;
        let mut sc = match &self.scenario {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Io(
                        format!("cannot read scenario {}: {e}", path.display()),
                        None,
                    )
                })?;
                let (mut sc, given) = Scenario::parse_json(&text)?;
                members_given = given;
                sc.source = Some(path.display().to_string());
                sc
            }
            None => Scenario::default(),
        };
        if let Some(v) = self.seed {
            sc.seed = v;
        }
        if let Some(v) = self.clients {
            sc.clients = v;
        }
        if let Some(v) = self.groups {
            sc.groups = v;
        }
        match self.members {
            Some(v) => sc.members = v,
            // Neither the file nor the command line gave it: the default,
            // fitted to the users (the same rule as Scenario::from_json).
            None if !members_given => sc.fit_default_members(),
            None => {}
        }
        if let Some(v) = self.messages {
            sc.messages = v;
        }
        if let Some(v) = self.steps {
            sc.steps = v;
        }
        if let Some(v) = self.prefix {
            sc.prefix = Some(v);
        }
        if let Some(f) = &self.faults {
            sc.faults = parse_faults(f)?;
        }
        match self.mutate.as_deref() {
            Some("lww") => sc.mutate = Some(Mutation::Lww),
            Some("tally") => sc.mutate = Some(Mutation::Tally),
            Some("delivered-lww") => sc.mutate = Some(Mutation::DeliveredLww),
            Some("readtime-latest") => sc.mutate = Some(Mutation::ReadtimeLatest),
            Some("mark-arrival") => sc.mutate = Some(Mutation::MarkArrival),
            Some("count-failed") => sc.mutate = Some(Mutation::CountFailed),
            Some("recall-thaw") => sc.mutate = Some(Mutation::RecallThaw),
            _ => {}
        }
        if self.no_shrink {
            sc.shrink = false;
        }
        if self.trace.is_some() || self.html.is_some() {
            sc.trace = true;
        }
        if let Some(cmd) = &self.server_cmd {
            sc.server = ServerChoice::Command {
                cmd: cmd.clone(),
                timeout_ms: self.server_timeout_ms,
            };
        }
        sc.validate()?;
        Ok(sc)
    }
}

fn progress_bar(hidden: bool, len: u64) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let target = if hidden || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} steps {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("simulating");
    bar
}

/// `--json` output: the deterministic report, and wall-clock figures apart.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOut<'a> {
    report: &'a Report,
    wall: Wall,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Wall {
    run_seconds: f64,
    total_seconds: f64,
    store_calls_per_second: f64,
}

/// Runs `receiptdb sim`: prints the report (deterministic) on standard
/// output and the wall-clock time on standard error; exit status 0 on PASS,
/// 1 on FAIL, 2 when the scenario is invalid, the run could not start or
/// the server broke the protocol.
pub fn run_cli(args: &SimArgs) -> ExitCode {
    if !args.merge.is_empty() {
        return merge_cli(args);
    }
    if args.seeds.is_some() {
        return sweep_cli(args);
    }
    let sc = match args.scenario() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("receiptdb sim: {e}");
            return ExitCode::from(2);
        }
    };
    let bar = progress_bar(args.json, sc.effective_steps());
    let started = Instant::now();
    let mut main_run: Option<Duration> = None;
    let result = sc.run_with_progress(&mut |p| match p.phase {
        ProgressPhase::Run => bar.set_position(p.step),
        ProgressPhase::Quiesce => bar.set_message(format!("quiesce {}", p.step)),
        ProgressPhase::Shrink => {
            main_run.get_or_insert_with(|| started.elapsed());
            bar.set_message(format!("shrink {}", p.step));
        }
    });
    bar.finish_and_clear();
    let total = started.elapsed();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("receiptdb sim: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &args.trace {
        if let Err(e) = write_trace(path, &report) {
            eprintln!(
                "receiptdb sim: cannot write the trace {}: {e}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    if let Some(path) = &args.html {
        let page = receiptdb_sim::timeline_html(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, page) {
            eprintln!(
                "receiptdb sim: cannot write the timeline {}: {e}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    let run = main_run.unwrap_or(total).as_secs_f64();
    let per_sec = report.counters.store_ops as f64 / run.max(1e-9);
    if args.json {
        let out = JsonOut {
            report: &report,
            wall: Wall {
                run_seconds: run,
                total_seconds: total.as_secs_f64(),
                store_calls_per_second: per_sec,
            },
        };
        match serde_json::to_string(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("receiptdb sim: cannot write the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        println!("{report}");
        eprintln!(
            "wall-clock (not part of the deterministic report): run {run:.2} s, {per_sec:.0} store calls/s; total {:.2} s",
            total.as_secs_f64()
        );
    }
    match &report.violation {
        None => ExitCode::SUCCESS,
        Some(v) if v.invariant == Invariant::Server => ExitCode::from(2),
        Some(_) => ExitCode::from(1),
    }
}

/// Writes the report's trace as JSON lines, and a server's stderr beside it.
fn write_trace(path: &std::path::Path, report: &Report) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in report.trace.iter().flatten() {
        writeln!(out, "{e}")?;
        if e.get("kind").and_then(|k| k.as_str()) == Some("server-stderr") {
            let text = e.get("text").and_then(|t| t.as_str()).unwrap_or_default();
            let mut side = path.as_os_str().to_owned();
            side.push(".stderr.txt");
            std::fs::write(side, text)?;
        }
    }
    out.flush()
}

/// Prints a sweep summary (text, or JSON with `--json`); exit 0 when every
/// seed passed, 1 otherwise.
fn print_summary(args: &SimArgs, summary: &SweepSummary) -> ExitCode {
    if args.json {
        match serde_json::to_string(summary) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("receiptdb sim: cannot write the summary: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{summary}");
    }
    let server_broke = summary
        .failures
        .iter()
        .any(|f| f.what.contains(&format!("[{}]", Invariant::Server.name())));
    if summary.all_passed() {
        ExitCode::SUCCESS
    } else if server_broke {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// `--seeds A..B [--jobs N] [--shard i/n]`.
fn sweep_cli(args: &SimArgs) -> ExitCode {
    let parsed = (|| -> Result<(Scenario, SeedRange, Option<Shard>)> {
        let sc = args.scenario()?;
        let range = SeedRange::parse(args.seeds.as_deref().unwrap_or_default())?;
        let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
        Ok((sc, range, shard))
    })();
    let (sc, range, shard) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("receiptdb sim: {e}");
            return ExitCode::from(2);
        }
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let bar = progress_bar(args.json, 0);
    bar.set_message("seeds");
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} seeds {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = Instant::now();
    let result = sweep(&sc, range, shard, jobs, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("receiptdb sim: {e}");
            return ExitCode::from(2);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    // After the summary, as after a single run's report.
    let code = print_summary(args, &summary);
    eprintln!(
        "wall-clock (not part of the deterministic summary): {} seeds in {secs:.1} s on {jobs} jobs, {:.1} seeds/min",
        summary.runs,
        summary.runs as f64 * 60.0 / secs.max(1e-9)
    );
    code
}

/// `--merge FILE...`: the shards' `--json` summaries into the whole sweep's.
fn merge_cli(args: &SimArgs) -> ExitCode {
    let mut parts = Vec::new();
    for path in &args.merge {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("receiptdb sim: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        match serde_json::from_str::<SweepSummary>(&text) {
            Ok(s) => parts.push(s),
            Err(e) => {
                eprintln!(
                    "receiptdb sim: {} is not a sweep summary (sim --seeds ... --json): {e}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        }
    }
    match SweepSummary::merge(&parts) {
        Ok(s) => print_summary(args, &s),
        Err(e) => {
            eprintln!("receiptdb sim: {e}");
            ExitCode::from(2)
        }
    }
}
