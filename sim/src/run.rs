//! Running a scenario: scripted actions, healing and quiescence, the final
//! comparison, the report, and shrinking a failure to its shortest failing
//! step prefix.

use super::check::final_check;
use super::client::Fail;
use super::progress::{Progress, ProgressPhase};
use super::report::{Invariant, Phase, Report, Shrunk, Violation};
use super::scenario::{FaultKind, Scenario, ScenarioBuilder};
use super::script::Action;
use super::world::{snapshot_packet, tag, World};
use receiptdb::Result;

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
            } => self.send(*from, *group, *to, *receipt),
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
                for snap in self.server.oldest_snapshots(*client) {
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
                    let conv = conversation.clone().or_else(|| cl.newest_in_conversation());
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
                let n = self.server.msgs.len();
                let idx = match message {
                    Some(m) => (*m as usize).wrapping_sub(1),
                    None => n.wrapping_sub(1),
                };
                if self.server.recall(idx) {
                    self.fault(FaultKind::Reject);
                }
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
                    cl.read_dirty = true;
                }
            }
            if busy {
                continue;
            }
            if final_sync {
                return Ok(took);
            }
            final_sync = true;
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

    fn report(mut self, violation: Option<Violation>, converge: Option<u64>) -> Report {
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
            users: self.server.users.len(),
            faults,
            counters: self.c,
            converge_steps: converge,
            passed: violation.is_none(),
            violation,
            shrunk: None,
        }
    }
}

/// Runs a scenario once, stopping at the first violated invariant.
fn run_once(sc: &Scenario, progress: &mut dyn FnMut(Progress)) -> Result<Report> {
    let mut w = World::new(sc)?;
    if let Err(f) = w.start() {
        let v = w.violation(f, Phase::Run);
        return Ok(w.report(Some(v), None));
    }
    let total = sc.effective_steps();
    for step in 0..total {
        w.now = step;
        w.c.steps = step + 1;
        if let Err(f) = w.step() {
            let v = w.violation(f, Phase::Run);
            return Ok(w.report(Some(v), None));
        }
        progress(Progress {
            phase: ProgressPhase::Run,
            step: step + 1,
            total,
        });
    }
    let converge = match w.quiesce(progress) {
        Ok(n) => n,
        Err(f) => {
            let v = w.violation(f, Phase::Quiesce);
            return Ok(w.report(Some(v), None));
        }
    };
    if let Err(f) = final_check(&w.server, &mut w.clients, &mut w.c) {
        let v = w.violation(f, Phase::Final);
        return Ok(w.report(Some(v), Some(converge)));
    }
    Ok(w.report(None, Some(converge)))
}

/// Runs a scenario; on failure, bisects the step prefix for the shortest
/// one that still fails (prefixes replay exactly, so the search is sound
/// whenever failing is monotone in the prefix; it always returns a failing one).
pub(crate) fn run_and_shrink(sc: &Scenario, progress: &mut dyn FnMut(Progress)) -> Result<Report> {
    let mut report = run_once(sc, progress)?;
    let Some(v) = report.violation.clone() else {
        return Ok(report);
    };
    if !sc.shrink {
        return Ok(report);
    }
    let mut hi = match v.phase {
        Phase::Run => (v.step + 1).min(sc.effective_steps()),
        _ => sc.effective_steps(),
    };
    let mut lo = 0;
    let mut best = v;
    let mut runs = 0;
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
        runs += 1;
        match r.violation {
            Some(v) => {
                hi = mid;
                best = v;
            }
            None => lo = mid + 1,
        }
    }
    report.shrunk = Some(Shrunk {
        prefix: hi,
        runs,
        violation: best,
    });
    Ok(report)
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
