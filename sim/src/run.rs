//! Running a scenario: scripted actions, healing and quiescence, the final
//! comparison, the report, and shrinking a failure to its shortest failing
//! step prefix.

use super::check::final_check;
use super::external::ProcessServer;
use super::fail::{tag, Fail};
use super::progress::{Progress, ProgressPhase};
use super::report::{Invariant, Phase, Report, Shrunk, Violation};
use super::scenario::{FaultKind, Scenario, ScenarioBuilder};
use super::script::Action;
use super::server::{ReferenceServer, ServerChoice, ServerError, SyncServer};
use super::serving::{no_server, snapshot_packet};
use super::trace::{cause_chain, note, subject_of};
use super::truth::Truth;
use super::world::World;
use receiptdb::Result;
use serde_json::json;

/// Most steps quiescence may take before the run counts as stuck.
const QUIESCE_CAP: u64 = 5_000;

impl World<'_> {
    /// Performs one scripted action.
    pub(super) fn script(&mut self, a: &Action) -> std::result::Result<(), Fail> {
        let now = self.now;
        match a {
            Action::Send {
                from,
                group,
                to,
                receipt,
            } => self.send(*from, *group, *to, *receipt)?,
            Action::Read { client } => {
                let cl = &mut self.clients[*client];
                if cl.is_up() {
                    cl.read(&mut self.rng, true, &mut self.c)
                        .map_err(|f| tag(&cl.name, f))?;
                }
            }
            Action::Crash { client, down_for } => {
                if self.clients[*client].is_up() {
                    self.crash(*client, *down_for);
                }
            }
            Action::Offline { client, steps } => {
                self.clients[*client].offline_until = now.saturating_add(*steps);
                self.fault(FaultKind::Offline);
            }
            Action::Partition { clients, steps } => {
                self.net.partition(clients, now.saturating_add(*steps));
                self.fault(FaultKind::Partition);
            }
            Action::Heal => {
                self.net.heal();
                for i in 0..self.clients.len() {
                    let cl = &mut self.clients[i];
                    if cl.offline_until > now {
                        cl.offline_until = now;
                        if cl.is_up() {
                            let p = cl.sync_request();
                            self.net.send(now, p);
                        }
                    }
                }
            }
            Action::Stale { client } => {
                for snap in self.replays.oldest(*client) {
                    self.fault(FaultKind::Stale);
                    self.net.send(now, snapshot_packet(*client, snap));
                }
            }
            Action::MarkRead {
                client,
                conversation,
                sequence,
            } => {
                let cl = &mut self.clients[*client];
                if cl.is_up() {
                    let conv = conversation
                        .clone()
                        .or_else(|| cl.reads.newest_in_conversation());
                    if let Some(conv) = conv {
                        cl.mark(&conv, *sequence, &mut self.c)
                            .map_err(|f| tag(&cl.name, f))?;
                    }
                }
            }
            Action::MarkAllRead { client } => {
                let cl = &mut self.clients[*client];
                if cl.is_up() {
                    cl.mark_all(&mut self.c).map_err(|f| tag(&cl.name, f))?;
                }
            }
            Action::Sync { client } => {
                if self.clients[*client].is_online(now) {
                    let p = self.clients[*client].sync_request();
                    self.net.send(now, p);
                }
            }
            Action::Recall { message } => {
                let n = self.ledger.msgs.len();
                let idx = match message {
                    Some(m) => (*m as usize).wrapping_sub(1),
                    None => n.wrapping_sub(1),
                };
                self.recall(idx)?;
            }
            Action::Join { group, user } => self.membership(*group, *user, true)?,
            Action::Leave { group, user } => self.membership(*group, *user, false)?,
        }
        Ok(())
    }

    /// Heals everything, lets the traffic drain, syncs every client once
    /// more, and returns the steps it took.
    fn quiesce(&mut self, progress: &mut dyn FnMut(Progress)) -> std::result::Result<u64, Fail> {
        self.quiet = true;
        self.net.cause = ("the harness, healing".into(), None);
        self.net.heal();
        self.net.cfg.drop = 0.0;
        self.net.cfg.duplicate = 0.0;
        self.crash_due.iter_mut().for_each(|c| *c = None);
        let start = self.now;
        for i in 0..self.clients.len() {
            self.clients[i].offline_until = 0;
            if !self.clients[i].is_up() {
                self.reopen(i)?;
            }
            self.clients[i].outbox_dirty = true;
        }
        let mut final_sync = false;
        loop {
            self.now += 1;
            let now = self.now;
            note(
                &self.trace,
                || json!({"kind": "step", "step": now, "phase": "quiesce"}),
            );
            let took = self.now - start;
            if took > QUIESCE_CAP {
                return Err(Fail::new(
                    Invariant::Liveness,
                    format!("still busy {QUIESCE_CAP} steps after healing"),
                ));
            }
            progress(Progress {
                phase: ProgressPhase::Quiesce,
                step: took,
                total: 0,
            });
            self.exchange(false)?;
            if !self.net.is_empty() {
                continue;
            }
            let mut busy = false;
            for cl in &mut self.clients {
                let pending = cl.pending(&mut self.c).map_err(|f| tag(&cl.name, f))?;
                if pending > 0 || cl.live_batches() > 0 {
                    busy = true;
                    cl.outbox_dirty = true;
                }
                let reads = cl.read_pending(&mut self.c).map_err(|f| tag(&cl.name, f))?;
                if reads > 0 {
                    busy = true;
                    cl.reads.dirty = true;
                }
                // Delivery acks not handed out yet show only when asked for.
                cl.del.dirty = true;
                if cl.del.live() > 0
                    || cl.mark_pending(&mut self.c).map_err(|f| tag(&cl.name, f))? > 0
                {
                    busy = true;
                    cl.mk.dirty = true;
                }
            }
            if busy {
                continue;
            }
            if final_sync {
                return Ok(took);
            }
            final_sync = true;
            self.net.cause = ("the harness's last sync after healing".into(), None);
            for i in 0..self.clients.len() {
                let p = self.clients[i].sync_request();
                self.net.send(self.now, p);
            }
        }
    }

    fn violation(&self, f: Fail, phase: Phase) -> Violation {
        Violation {
            invariant: f.invariant,
            phase,
            step: self.now,
            client: f.client,
            detail: f.detail,
        }
    }

    fn report(&mut self, violation: Option<Violation>, converge: Option<u64>) -> Report {
        let s = self.net.stats;
        self.c.packets_sent = s.sent;
        self.c.packets_delivered = s.delivered.saturating_sub(self.lost);
        self.c.packets_lost = s.dropped + s.partitioned + self.lost;
        let mut faults = std::mem::take(&mut self.faults);
        for (k, n) in [
            (FaultKind::Delay, s.delayed),
            (FaultKind::Reorder, s.reordered),
            (FaultKind::Duplicate, s.duplicated),
            (FaultKind::Drop, s.dropped),
        ] {
            *faults.entry(k).or_insert(0) += n;
        }
        Report {
            scenario: self.sc.clone(),
            users: self.ledger.users.len(),
            faults,
            counters: std::mem::take(&mut self.c),
            converge_steps: converge,
            passed: violation.is_none(),
            violation,
            shrunk: None,
            cause: Vec::new(),
            traced: false,
            trace: None,
        }
    }
}

/// A fresh server for one run of `sc`.
fn make_server(sc: &Scenario) -> std::result::Result<Box<dyn SyncServer>, ServerError> {
    match &sc.server {
        ServerChoice::Reference => Ok(Box::new(ReferenceServer::new())),
        ServerChoice::Command { cmd, timeout_ms } => {
            Ok(Box::new(ProcessServer::spawn(cmd, *timeout_ms)?))
        }
        ServerChoice::Custom(f) => f(),
    }
}

/// Runs a scenario once, stopping at the first violated invariant.
fn run_once(sc: &Scenario, progress: &mut dyn FnMut(Progress)) -> Result<Report> {
    run_maybe_traced(sc, progress, false).map(|(r, _)| r)
}

/// Runs a scenario once with a trace; the report carries its cause chain.
fn run_traced(sc: &Scenario) -> Result<(Report, Vec<serde_json::Value>)> {
    let (mut report, log) = run_maybe_traced(sc, &mut |_| {}, true)?;
    let log = log.unwrap_or_default();
    if let Some(v) = &report.violation {
        let subject = v.detail.lines().next().and_then(subject_of);
        if let (Some(client), Some(subject)) = (&v.client, subject) {
            let short = client.split('/').next().unwrap_or(client);
            report.cause = cause_chain(&log, short, &subject, &v.detail);
        }
    }
    Ok((report, log))
}

fn run_maybe_traced(
    sc: &Scenario,
    progress: &mut dyn FnMut(Progress),
    traced: bool,
) -> Result<(Report, Option<Vec<serde_json::Value>>)> {
    let server = make_server(sc).map_err(no_server)?;
    let mut w = World::new(sc, server)?;
    let trace = traced.then(|| w.start_trace());
    let report = drive(&mut w, sc, progress);
    let mut report = match report {
        Ok(r) => r,
        Err(f) => {
            let phase = f.1;
            let v = w.violation(f.0, phase);
            let converge = f.2;
            let vj = serde_json::to_value(&v).unwrap_or_default();
            let now = w.now;
            note(
                &w.trace,
                || json!({"kind": "violation", "step": now, "violation": vj}),
            );
            w.report(Some(v), converge)
        }
    };
    if let Some(d) = w.server.diagnostics().filter(|_| traced) {
        note(&w.trace, || json!({"kind": "server-stderr", "text": d}));
    }
    let log = trace
        .flatten()
        .map(|t| std::mem::take(&mut *t.borrow_mut()));
    report.traced = log.is_some();
    Ok((report, log))
}

/// A run's failure: what, in which phase, and the convergence steps if
/// quiescence was reached.
type Stop = (Fail, Phase, Option<u64>);

/// Runs the world to its end; the report of a passing run, or where it stopped.
fn drive(
    w: &mut World,
    sc: &Scenario,
    progress: &mut dyn FnMut(Progress),
) -> std::result::Result<Report, Stop> {
    w.start().map_err(|f| (f, Phase::Run, None))?;
    let total = sc.effective_steps();
    for step in 0..total {
        w.now = step;
        w.c.steps = step + 1;
        w.step().map_err(|f| (f, Phase::Run, None))?;
        progress(Progress {
            phase: ProgressPhase::Run,
            step: step + 1,
            total,
        });
    }
    let converge = w.quiesce(progress).map_err(|f| (f, Phase::Quiesce, None))?;
    let all: Vec<usize> = (0..w.ledger.msgs.len()).collect();
    w.full_truth()
        .and_then(|t| w.query_beyond(&all, true).map(|x| (t, x)))
        .and_then(|((readers, positions), extra)| {
            let truth = Truth {
                ledger: &w.ledger,
                readers,
                positions,
                extra,
            };
            final_check(&truth, &mut w.clients, &mut w.c)
        })
        .and_then(|()| w.failed_final())
        .map_err(|f| (f, Phase::Final, Some(converge)))?;
    Ok(w.report(None, Some(converge)))
}

/// Most runs one shrink may take (each is a short run: it starts from the
/// shortest failing prefix).
const SHRINK_BUDGET: u64 = 150;

/// Runs a scenario; on failure, shrinks it: first the shortest failing step
/// prefix (bisection: prefixes replay exactly), then fewer clients, groups,
/// messages and fault kinds, each kept only when the run still violates the
/// same invariant (greedy delta debugging; a smaller scenario is a new run of
/// the same seed, not a subset of the first one), then the prefix again.
pub(crate) fn run_and_shrink(sc: &Scenario, progress: &mut dyn FnMut(Progress)) -> Result<Report> {
    let mut report = shrink(sc, progress)?;
    // The cause chain (and, when asked for, the trace) come from running
    // the smallest failing scenario again with a trace: it replays exactly.
    // Unshrunk failures (`--no-shrink`, a server failure) get one only with
    // a trace asked for: the rerun would be as long as the run.
    let again = match &report.shrunk {
        Some(s) => Some(s.scenario.clone()),
        None if sc.trace => Some(sc.clone()),
        None => None,
    };
    let Some(mut again) = again else {
        return Ok(report);
    };
    again.shrink = false;
    let (traced, log) = run_traced(&again)?;
    report.cause = traced.cause;
    if sc.trace {
        report.trace = Some(log);
        report.traced = true;
    }
    Ok(report)
}

fn shrink(sc: &Scenario, progress: &mut dyn FnMut(Progress)) -> Result<Report> {
    let mut report = run_once(sc, progress)?;
    let Some(v) = report.violation.clone() else {
        return Ok(report);
    };
    // A server that broke the protocol is reported as it broke: a process
    // that hangs would make every shrinking run wait for its timeout.
    if !sc.shrink || v.invariant == Invariant::Server {
        return Ok(report);
    }
    let mut runs = 0;
    let mut best = sc.clone();
    best.shrink = false;
    let hi = match v.phase {
        Phase::Run => (v.step + 1).min(sc.effective_steps()),
        _ => sc.effective_steps(),
    };
    let (prefix, mut best_v) = shortest_prefix(&best, hi, v.clone(), &mut runs, progress)?;
    best.prefix = Some(prefix);
    // Greedy passes over the other dimensions until none shrinks.
    let mut changed = true;
    while changed && runs < SHRINK_BUDGET {
        changed = false;
        for cand in smaller(&best) {
            if runs >= SHRINK_BUDGET {
                break;
            }
            if cand.validate().is_err() {
                continue;
            }
            progress(Progress {
                phase: ProgressPhase::Shrink,
                step: runs,
                total: SHRINK_BUDGET,
            });
            let r = run_once(&cand, &mut |_| {})?;
            runs += 1;
            if let Some(cv) = r.violation {
                if cv.invariant == v.invariant {
                    best = cand;
                    best_v = cv;
                    changed = true;
                    break;
                }
            }
        }
    }
    if best.clients != sc.clients || best.messages != sc.messages || best.groups != sc.groups {
        let hi = best.effective_steps();
        let (p, pv) = shortest_prefix(&best, hi, best_v.clone(), &mut runs, progress)?;
        best.prefix = Some(p);
        best_v = pv;
    }
    best.shrink = sc.shrink;
    report.shrunk = Some(Shrunk {
        prefix: best.effective_steps(),
        runs,
        violation: best_v,
        scenario: best,
    });
    Ok(report)
}

/// The shortest failing prefix of `sc` in `0..=hi` (bisection), with its
/// violation; `hi` is known to fail with `v`.
fn shortest_prefix(
    sc: &Scenario,
    mut hi: u64,
    mut v: Violation,
    runs: &mut u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<(u64, Violation)> {
    let mut lo = 0;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let mut probe = sc.clone();
        probe.prefix = Some(mid);
        probe.shrink = false;
        progress(Progress {
            phase: ProgressPhase::Shrink,
            step: mid,
            total: hi,
        });
        let r = run_once(&probe, &mut |_| {})?;
        *runs += 1;
        match r.violation {
            Some(x) => {
                hi = mid;
                v = x;
            }
            None => lo = mid + 1,
        }
    }
    Ok((hi, v))
}

/// Candidates one step smaller than `sc`, the biggest cuts first.
fn smaller(sc: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Scenario)| {
        let mut c = sc.clone();
        f(&mut c);
        c
    };
    if sc.clients > 2 {
        let half = (sc.clients / 2).max(2);
        out.push(with(&|c| {
            c.clients = half;
            c.members = c.members.min(c.users());
        }));
        if half != sc.clients - 1 {
            out.push(with(&|c| {
                c.clients -= 1;
                c.members = c.members.min(c.users());
            }));
        }
    }
    if sc.groups > 0 {
        out.push(with(&|c| c.groups /= 2));
        if sc.groups > 1 {
            out.push(with(&|c| c.groups -= 1));
        }
    }
    if sc.messages > 1 {
        out.push(with(&|c| c.messages /= 2));
        out.push(with(&|c| c.messages -= c.messages / 4 + 1));
    }
    for &k in &sc.faults {
        out.push(with(&|c| {
            c.faults.remove(&k);
        }));
    }
    out
}

// Running lives here, not in scenario.rs, so a scenario knows nothing of runs.
impl Scenario {
    /// Runs the scenario (and, on failure, shrinks it when `shrink` is set).
    /// Errors are setup failures (invalid scenario, no temporary directory);
    /// a failed invariant is a [`Report`] with `passed: false`.
    pub fn run(&self) -> Result<Report> {
        self.run_with_progress(&mut |_| {})
    }

    /// Like [`Scenario::run`], calling `progress` as the run advances.
    pub fn run_with_progress(&self, progress: &mut dyn FnMut(Progress)) -> Result<Report> {
        self.validate()?;
        run_and_shrink(self, progress)
    }
}

impl ScenarioBuilder {
    /// Builds and runs it.
    pub fn run(self) -> Result<Report> {
        self.build()?.run()
    }
}
