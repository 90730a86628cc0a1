//! The simulation loop: the faulty phase step by step, then healing and
//! quiescence, then the final comparison; and shrinking a failure to its
//! shortest failing step prefix.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::check::final_check;
use super::client::{Client, Fail};
use super::network::{NetConfig, Network, Node, Packet, Payload};
use super::report::{Counters, Invariant, Phase, Report, Shrunk, Violation};
use super::rng::Rng;
use super::scenario::{Action, FaultKind, Mutation, Scenario};
use super::server::{SGroup, Server};
use super::{Progress, ProgressPhase};
use crate::error::Result;
use crate::merge::MergeMode;
use crate::{GroupType, Member, ReceiptNotification};

/// Server time of step 0 (unix seconds); step `s` is `BASE_TIME + s`.
const BASE_TIME: i64 = 1_700_000_000;
/// Most steps quiescence may take before the run counts as stuck.
const QUIESCE_CAP: u64 = 5_000;

/// A private temporary directory, removed on drop.
struct SimDir(PathBuf);

impl SimDir {
    fn new() -> Result<SimDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("receiptdb-sim-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(SimDir(dir))
    }
}

impl Drop for SimDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tag(name: &str, mut f: Fail) -> Fail {
    if f.client.is_none() {
        f.client = Some(name.to_string());
    }
    f
}

struct World<'a> {
    sc: &'a Scenario,
    server: Server,
    net: Network,
    clients: Vec<Client>,
    by_user: Vec<Vec<usize>>,
    rng: Rng,
    c: Counters,
    faults: BTreeMap<FaultKind, u64>,
    /// Per client: (ops into its step, steps down) of a crash due this step.
    crash_due: Vec<Option<(u64, u64)>>,
    now: u64,
    made: usize,
    lost: u64,
    quiet: bool,
    // Declared last: the stores close before their directory goes.
    _dir: SimDir,
}

impl<'a> World<'a> {
    fn new(sc: &'a Scenario) -> Result<World<'a>> {
        let dir = SimDir::new()?;
        let mut rng = Rng::new(sc.seed, 1);
        let users: Vec<String> = (0..sc.users()).map(|u| format!("u{u}")).collect();
        let types = [GroupType::Work, GroupType::Public, GroupType::Meeting];
        let mut groups = Vec::new();
        for g in 0..sc.groups {
            let mut pool: Vec<usize> = (0..users.len()).collect();
            let mut members = BTreeMap::new();
            for _ in 0..sc.members.min(pool.len()) {
                let u = pool.swap_remove(rng.index(pool.len()));
                let jt = rng
                    .chance(0.5)
                    .then(|| BASE_TIME - rng.range(1, 1000) as i64);
                members.insert(u, jt);
            }
            groups.push(SGroup {
                id: format!("g{g}"),
                gtype: types[g % types.len()],
                members,
            });
        }
        let on = |k: FaultKind| sc.faults.contains(&k);
        let r = &sc.rates;
        let cfg = NetConfig {
            max_delay: if on(FaultKind::Delay) { r.max_delay } else { 1 },
            reorder: if on(FaultKind::Reorder) {
                r.reorder
            } else {
                0.0
            },
            duplicate: if on(FaultKind::Duplicate) {
                r.duplicate
            } else {
                0.0
            },
            drop: if on(FaultKind::Drop) { r.drop } else { 0.0 },
        };
        let mode = match sc.mutate {
            Some(Mutation::Lww) => MergeMode::LastWriterWins,
            None => MergeMode::Lattice,
        };
        let mut clients = Vec::new();
        let mut by_user = vec![Vec::new(); users.len()];
        for i in 0..sc.clients {
            let u = if i < users.len() { i } else { i - users.len() };
            by_user[u].push(i);
            let path = dir.0.join(format!("c{i}.db"));
            clients.push(Client::new(
                i,
                u,
                users[u].clone(),
                format!("c{i}/u{u}"),
                path,
                mode,
            ));
        }
        Ok(World {
            sc,
            server: Server::new(users, groups),
            net: Network::new(Rng::new(sc.seed, 2), cfg),
            clients,
            by_user,
            rng,
            c: Counters::default(),
            faults: BTreeMap::new(),
            crash_due: vec![None; sc.clients],
            now: 0,
            made: 0,
            lost: 0,
            quiet: false,
            _dir: dir,
        })
    }

    fn fault(&mut self, k: FaultKind) {
        *self.faults.entry(k).or_insert(0) += 1;
    }

    fn start(&mut self) -> std::result::Result<(), Fail> {
        for cl in &mut self.clients {
            cl.open(&mut self.c).map_err(|f| tag(&cl.name, f))?;
            cl.set_rosters(&self.server.groups, &self.server.users, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }

    fn reopen(&mut self, i: usize) -> std::result::Result<(), Fail> {
        let cl = &mut self.clients[i];
        cl.down_until = None;
        self.c.reopens += 1;
        cl.open(&mut self.c)
            .and_then(|()| cl.set_rosters(&self.server.groups, &self.server.users, &mut self.c))
            .and_then(|()| cl.verify_durable(&mut self.c))
            .map_err(|f| tag(&cl.name, f))?;
        if cl.is_online(self.now) {
            let p = cl.sync_request();
            self.net.send(self.now, p);
        }
        Ok(())
    }

    fn crash(&mut self, i: usize, down_for: u64) {
        self.fault(FaultKind::Crash);
        let cl = &mut self.clients[i];
        cl.crash();
        cl.down_until = Some(self.now + down_for.max(1));
        self.crash_due[i] = None;
    }

    /// One step of the faulty phase.
    fn step(&mut self) -> std::result::Result<(), Fail> {
        let now = self.now;
        for i in 0..self.clients.len() {
            if self.clients[i].down_until.is_some_and(|t| t <= now) {
                self.reopen(i)?;
            } else if self.clients[i].is_up() && now > 0 && self.clients[i].offline_until == now {
                let p = self.clients[i].sync_request();
                self.net.send(now, p);
            }
        }
        let sc = self.sc;
        for s in sc.script.iter().filter(|s| s.at == now) {
            self.script(&s.action)?;
        }
        self.random_faults();
        self.churn()?;
        self.new_messages();
        self.exchange(true)
    }

    fn random_faults(&mut self) {
        let sc = self.sc;
        let (f, r, now) = (&sc.faults, &sc.rates, self.now);
        let n = self.clients.len();
        if f.contains(&FaultKind::Partition) && self.rng.chance(r.partition) {
            let mut pool: Vec<usize> = (0..n).collect();
            let k = self.rng.range(1, (n as u64 / 2).max(1));
            let cut: Vec<usize> = (0..k)
                .map(|_| pool.swap_remove(self.rng.index(pool.len())))
                .collect();
            let until = now + self.rng.range(1, r.max_outage);
            self.net.partition(&cut, until);
            self.fault(FaultKind::Partition);
        }
        for i in 0..n {
            if !self.clients[i].is_up() {
                continue;
            }
            if f.contains(&FaultKind::Offline)
                && self.clients[i].offline_until <= now
                && self.rng.chance(r.offline)
            {
                self.clients[i].offline_until = now + self.rng.range(1, r.max_outage);
                self.fault(FaultKind::Offline);
            }
            if f.contains(&FaultKind::Crash) && self.rng.chance(r.crash) {
                let point = self.rng.range(0, 6);
                let down = self.rng.range(1, r.max_outage);
                self.crash_due[i] = Some((point, down));
            }
        }
        if f.contains(&FaultKind::Reject) && self.rng.chance(r.recall) {
            let n = self.server.msgs.len();
            if n > 0 {
                let idx = n - 1 - self.rng.index(n.min(30));
                if self.server.recall(idx) {
                    self.fault(FaultKind::Reject);
                }
            }
        }
    }

    fn churn(&mut self) -> std::result::Result<(), Fail> {
        if self.sc.groups == 0 || !self.rng.chance(self.sc.rates.churn) {
            return Ok(());
        }
        let g = self.rng.index(self.sc.groups);
        let members: Vec<usize> = self.server.groups[g].members.keys().copied().collect();
        if self.rng.chance(0.5) {
            let others: Vec<usize> = (0..self.server.users.len())
                .filter(|u| !members.contains(u))
                .collect();
            if let Some(&u) = self.rng.pick(&others) {
                self.membership(g, u, true)?;
            }
        } else if let Some(&u) = self.rng.pick(&members) {
            self.membership(g, u, false)?;
        }
        Ok(())
    }

    /// A join or a leave, on the server and at once on every running client.
    fn membership(&mut self, g: usize, u: usize, join: bool) -> std::result::Result<(), Fail> {
        let time = BASE_TIME + self.now as i64;
        let changed = if join {
            self.server.join(g, u, time)
        } else {
            self.server.leave(g, u)
        };
        if !changed {
            return Ok(());
        }
        self.c.membership_changes += 1;
        let gid = self.server.groups[g].id.clone();
        let uid = self.server.users[u].clone();
        for cl in self.clients.iter_mut().filter(|c| c.is_up()) {
            let r = if join {
                let m = [Member {
                    user_id: uid.clone(),
                    join_time: Some(time),
                }];
                cl.call(&mut self.c, "add_group_members", |s| {
                    s.add_group_members(&gid, &m)
                })
            } else {
                let ids = [uid.clone()];
                cl.call(&mut self.c, "remove_group_members", |s| {
                    s.remove_group_members(&gid, &ids)
                })
            };
            r.map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }

    fn new_messages(&mut self) {
        let sc = self.sc;
        // Spread evenly: by the end of step s, messages * (s + 1) / steps.
        let steps = u128::from(sc.steps.max(1));
        let due = (sc.messages as u128 * u128::from(self.now + 1) / steps) as usize;
        for _ in self.made..due.min(sc.messages) {
            self.made += 1;
            let receipt = self.rng.chance(sc.rates.receipt_share);
            let users = self.server.users.len();
            if sc.groups == 0 || self.rng.chance(sc.rates.c2c_share) {
                let from = self.rng.index(users);
                let to = (from + 1 + self.rng.index(users - 1)) % users;
                self.send(from, None, Some(to), receipt);
            } else {
                let g = self.rng.index(sc.groups);
                let members: Vec<usize> = self.server.groups[g].members.keys().copied().collect();
                if let Some(&from) = self.rng.pick(&members) {
                    self.send(from, Some(g), None, receipt);
                }
            }
        }
    }

    /// The server takes a message and pushes it to every device of its recipients.
    fn send(&mut self, from: usize, group: Option<usize>, to: Option<usize>, receipt: bool) {
        let time = BASE_TIME + self.now as i64;
        let Some(idx) = self.server.send(from, group, to, receipt, time) else {
            return;
        };
        self.c.messages += 1;
        let recipients: Vec<usize> = self.server.msgs[idx].recipients.iter().copied().collect();
        for u in recipients {
            let m = self.server.incoming(idx, u);
            for &d in &self.by_user[u] {
                self.net.send(
                    self.now,
                    Packet {
                        src: Node::Server,
                        dst: Node::Client(d),
                        payload: Payload::Messages(vec![m.clone()]),
                    },
                );
            }
        }
    }

    fn script(&mut self, a: &Action) -> std::result::Result<(), Fail> {
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
                self.clients[*client].offline_until = now + steps;
                self.fault(FaultKind::Offline);
            }
            Action::Partition { clients, steps } => {
                self.net.partition(clients, now + steps);
                self.fault(FaultKind::Partition);
            }
            Action::Heal => {
                self.net.heal();
                for cl in &mut self.clients {
                    if cl.offline_until > now {
                        cl.offline_until = now;
                    }
                }
            }
            Action::Stale { client } => {
                for snap in self.server.oldest_snapshots(*client) {
                    self.fault(FaultKind::Stale);
                    self.net.send(now, snapshot_packet(*client, snap));
                }
            }
            Action::Sync { client } => {
                let p = self.clients[*client].sync_request();
                self.net.send(now, p);
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

    /// Delivers this step's packets: the server answers, then each client
    /// runs its transport loop (and, when `active`, its user reads and syncs).
    fn exchange(&mut self, active: bool) -> std::result::Result<(), Fail> {
        let mut inbox: Vec<Vec<Payload>> = vec![Vec::new(); self.clients.len()];
        for p in self.net.due(self.now) {
            match p.dst {
                Node::Server => self.server_receive(p),
                Node::Client(i) => inbox[i].push(p.payload),
            }
        }
        for (i, payloads) in inbox.into_iter().enumerate() {
            self.client_step(i, payloads, active)?;
        }
        Ok(())
    }

    fn server_receive(&mut self, p: Packet) {
        let Node::Client(ci) = p.src else {
            return;
        };
        let user = self.clients[ci].user;
        let now = self.now;
        match p.payload {
            Payload::Receipts { batch_id, ids } => {
                let (rejected, fresh) = self.server.take_receipts(user, &ids);
                self.c.receipts_rejected += rejected.len() as u64;
                self.c.receipts_accepted += fresh.len() as u64;
                self.c.receipts_repeated += (ids.len() - rejected.len() - fresh.len()) as u64;
                self.net.send(
                    now,
                    Packet {
                        src: Node::Server,
                        dst: Node::Client(ci),
                        payload: Payload::Ack { batch_id, rejected },
                    },
                );
                let mut per: BTreeMap<usize, Vec<ReceiptNotification>> = BTreeMap::new();
                for idx in fresh {
                    let from = self.server.msgs[idx].from;
                    let n = self.server.notification(idx, user);
                    for &d in &self.by_user[from] {
                        per.entry(d).or_default().push(n.clone());
                    }
                }
                for (d, ns) in per {
                    self.net.send(
                        now,
                        Packet {
                            src: Node::Server,
                            dst: Node::Client(d),
                            payload: Payload::Notify(ns),
                        },
                    );
                }
            }
            Payload::SyncRequest => {
                let stale = !self.quiet && self.sc.faults.contains(&FaultKind::Stale);
                for conv in self.server.convs_of(user) {
                    let old = if stale && self.rng.chance(self.sc.rates.stale) {
                        let pick = self.rng.index(4);
                        self.server.old_snapshot(ci, &conv, pick)
                    } else {
                        None
                    };
                    for snap in self.server.snapshots(user, &conv) {
                        self.server.remember(ci, &snap);
                        self.net.send(now, snapshot_packet(ci, snap));
                    }
                    if let Some(o) = old {
                        self.fault(FaultKind::Stale);
                        let extra = self.rng.range(0, self.sc.rates.max_delay);
                        self.net.send_after(now, extra, snapshot_packet(ci, o));
                    }
                }
            }
            _ => {}
        }
    }

    /// Crashes client `i` if its crash is due at this op; counts the op.
    fn crash_here(&mut self, i: usize, ops: &mut u64) -> bool {
        match self.crash_due[i] {
            Some((point, down)) if *ops >= point => {
                self.crash(i, down);
                true
            }
            _ => {
                *ops += 1;
                false
            }
        }
    }

    fn client_step(
        &mut self,
        i: usize,
        inbox: Vec<Payload>,
        active: bool,
    ) -> std::result::Result<(), Fail> {
        let now = self.now;
        let mut ops = 0;
        if !self.clients[i].is_online(now) {
            self.lost += inbox.len() as u64;
            if !self.clients[i].is_up() {
                return Ok(());
            }
        } else {
            let total = inbox.len() as u64;
            for (k, p) in inbox.into_iter().enumerate() {
                if self.crash_here(i, &mut ops) {
                    self.lost += total - k as u64;
                    return Ok(());
                }
                let cl = &mut self.clients[i];
                cl.deliver(p, &mut self.c).map_err(|f| tag(&cl.name, f))?;
            }
        }
        let sc = self.sc;
        let r = &sc.rates;
        if active && self.clients[i].has_unread() && self.rng.chance(r.read) {
            if self.crash_here(i, &mut ops) {
                return Ok(());
            }
            let cl = &mut self.clients[i];
            cl.read(&mut self.rng, false, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?;
        }
        if self.clients[i].is_online(now) {
            if self.crash_here(i, &mut ops) {
                return Ok(());
            }
            let cl = &mut self.clients[i];
            let out = cl
                .flush_outbox(now, r.retry_after, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?;
            for p in out {
                self.net.send(now, p);
            }
            if active && (now + 7 * i as u64) % r.sync_every == 0 {
                let p = self.clients[i].sync_request();
                self.net.send(now, p);
            }
        }
        if let Some((_, down)) = self.crash_due[i] {
            self.crash(i, down);
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

fn snapshot_packet(client: usize, snap: crate::Snapshot) -> Packet {
    Packet {
        src: Node::Server,
        dst: Node::Client(client),
        payload: Payload::Snapshot(Box::new(snap)),
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
