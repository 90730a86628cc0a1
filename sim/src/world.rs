//! The simulated world and its faulty phase: setup, one step at a time
//! (reopens, scripted actions, the random workload, the packets of the
//! step, each client's transport loop and reads, crashes at a random op)
//! and the checks run while stepping. Its other `impl World` blocks: the
//! server link in `serving.rs`, the random workload in `workload.rs`, what
//! it asks the server for the checks in `queries.rs`, its failed sends in
//! `failed_sends.rs`, scripted actions and the end of a run in `run.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::check::{held_by, soundness};
use super::client::Client;
use super::fail::{tag, Fail};
use super::failed::Failures;
use super::ledger::{Ledger, LedgerGroup};
use super::mark_actions::flush_marks;
use super::marks::MarkClient;
use super::network::{NetConfig, Network, Node, Payload};
use super::protocol::Clock;
use super::replays::Replays;
use super::report::Counters;
use super::rng::Rng;
use super::scenario::{FaultKind, Mutation, Scenario};
use super::server::SyncServer;
use super::trace::{note, Trace};
use super::truth::Truth;
use receiptdb::Result;
use receiptdb::{GroupType, ReceiptConfigPatch};
use serde_json::json;

/// Server time of step 0 (unix seconds); step `s` is `BASE_TIME + s`.
pub(super) const BASE_TIME: i64 = 1_700_000_000;
/// A client is checked for soundness every this many steps (clients in turn).
const SOUNDNESS_EVERY: u64 = 5;
/// Each client recounts one conversation from `getMessageList` every this
/// many steps (clients staggered).
const READ_DEEP_EVERY: u64 = 5;

/// A private temporary directory, removed on drop.
pub(super) struct SimDir(PathBuf);

impl SimDir {
    fn new() -> Result<SimDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("receiptdb-sim-{}-{n}-{nanos}", std::process::id());
        // A simulated crash drops the process's store, never the machine's
        // memory, so a RAM disk changes no check and spares every commit a
        // disk write. $TMPDIR, when set, wins.
        if std::env::var_os("TMPDIR").is_none() {
            let dir = Path::new("/dev/shm").join(&name);
            if std::fs::create_dir_all(&dir).is_ok() {
                return Ok(SimDir(dir));
            }
        }
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(SimDir(dir))
    }
}

impl Drop for SimDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything one run holds: the ledger, the server, the network, the clients.
pub(super) struct World<'a> {
    pub(super) sc: &'a Scenario,
    pub(super) ledger: Ledger,
    pub(super) server: Box<dyn SyncServer>,
    /// The name the server gave in its handshake.
    pub(super) server_name: String,
    /// Snapshots sent to each client, for stale replays (`replays.rs`).
    pub(super) replays: Replays,
    /// (user, message) receipts the server accepted, to tell repeats apart.
    pub(super) accepted: BTreeSet<(usize, String)>,
    /// Server requests made (numbers them in the trace).
    pub(super) requests: u64,
    /// The packet being handed to the server now, if one is.
    pub(super) carrying: Option<u64>,
    /// Where the trace goes, when tracing.
    pub(super) trace: Trace,
    /// (user, conversation) → highest position a `readAck` showed.
    pub(super) acked_pos: BTreeMap<(usize, String), i64>,
    pub(super) net: Network,
    pub(super) clients: Vec<Client>,
    pub(super) rng: Rng,
    /// Sends that fail, and their own random stream (`failed.rs`).
    pub(super) failures: Failures,
    pub(super) c: Counters,
    pub(super) faults: BTreeMap<FaultKind, u64>,
    /// Per client: (ops into its step, steps down) of a crash due this step.
    pub(super) crash_due: Vec<Option<(u64, u64)>>,
    pub(super) now: u64,
    pub(super) made: usize,
    pub(super) lost: u64,
    pub(super) quiet: bool,
    // Declared last: the stores close before their directory goes.
    pub(super) _dir: SimDir,
}

impl<'a> World<'a> {
    pub(super) fn new(sc: &'a Scenario, server: Box<dyn SyncServer>) -> Result<World<'a>> {
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
            groups.push(LedgerGroup {
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
        let tally = sc.mutate == Some(Mutation::Tally);
        let lww = sc.mutate == Some(Mutation::Lww);
        let mut clients = Vec::new();
        for i in 0..sc.clients {
            let u = if i < users.len() { i } else { i - users.len() };
            let path = dir.0.join(format!("c{i}.db"));
            let mut cl = Client::new(
                i,
                u,
                users[u].clone(),
                format!("c{i}/u{u}"),
                path,
                tally,
                lww,
            );
            cl.del.lww = sc.mutate == Some(Mutation::DeliveredLww);
            cl.del.latest = sc.mutate == Some(Mutation::ReadtimeLatest);
            cl.mk.arrival = sc.mutate == Some(Mutation::MarkArrival);
            cl.fs.count_mode = sc.mutate == Some(Mutation::CountFailed);
            cl.rc.thaw = sc.mutate == Some(Mutation::RecallThaw);
            clients.push(cl);
        }
        Ok(World {
            sc,
            ledger: Ledger::new(users, groups),
            server,
            server_name: String::new(),
            replays: Replays::default(),
            accepted: BTreeSet::new(),
            acked_pos: BTreeMap::new(),
            requests: 0,
            carrying: None,
            trace: None,
            net: Network::new(Rng::new(sc.seed, 2), cfg),
            clients,
            rng,
            failures: Failures::new(sc.seed),
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

    pub(super) fn fault(&mut self, k: FaultKind) {
        *self.faults.entry(k).or_insert(0) += 1;
        let now = self.now;
        note(
            &self.trace,
            || json!({"kind": "fault", "step": now, "fault": k.name()}),
        );
    }

    /// Turns tracing on for this run: the network and every client write
    /// into one trace.
    pub(super) fn start_trace(&mut self) -> Trace {
        let t: Trace = Some(Default::default());
        self.net.trace = t.clone();
        for cl in &mut self.clients {
            cl.trace = t.clone();
        }
        self.trace = t.clone();
        t
    }

    pub(super) fn clock(&self) -> Clock {
        Clock {
            step: self.now,
            time: BASE_TIME + self.now as i64,
        }
    }

    pub(super) fn start(&mut self) -> std::result::Result<(), Fail> {
        self.start_server()?;
        for cl in &mut self.clients {
            cl.open(&mut self.c).map_err(|f| tag(&cl.name, f))?;
            cl.set_rosters(&self.ledger.groups, &self.ledger.users, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?;
        }
        self.start_beyond()
    }

    /// Every client queues delivery acks and starts each conversation it
    /// can have with the seeding unmark (marks.rs).
    pub(super) fn start_beyond(&mut self) -> std::result::Result<(), Fail> {
        let patch = ReceiptConfigPatch {
            delivery_receipts: Some(true),
            ..Default::default()
        };
        let users = self.ledger.users.clone();
        let groups: Vec<String> = self.ledger.groups.iter().map(|g| g.id.clone()).collect();
        for cl in &mut self.clients {
            let mut convs: Vec<String> = users
                .iter()
                .filter(|u| **u != cl.user_id)
                .map(|u| format!("C2C{u}"))
                .collect();
            convs.extend(groups.iter().map(|g| format!("GROUP{g}")));
            let seed = MarkClient::seed(&convs);
            cl.call(&mut self.c, "patch_receipt_config", |s| {
                s.patch_receipt_config(&patch)
            })
            .and_then(|_| {
                cl.call(&mut self.c, "apply_read_reports", |s| {
                    s.apply_read_reports(&seed)
                })
            })
            .map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }

    pub(super) fn reopen(&mut self, i: usize) -> std::result::Result<(), Fail> {
        self.net.cause = (format!("c{i} reopening after a crash"), None);
        let cl = &mut self.clients[i];
        cl.down_until = None;
        self.c.reopens += 1;
        cl.open(&mut self.c)
            .and_then(|()| cl.set_rosters(&self.ledger.groups, &self.ledger.users, &mut self.c))
            .and_then(|()| cl.verify_durable(&mut self.c))
            .map_err(|f| tag(&cl.name, f))?;
        if cl.is_online(self.now) {
            let p = cl.sync_request();
            self.net.send(self.now, p);
        }
        Ok(())
    }

    pub(super) fn crash(&mut self, i: usize, down_for: u64) {
        self.fault(FaultKind::Crash);
        let (now, name) = (self.now, self.clients[i].name.clone());
        note(
            &self.trace,
            || json!({"kind": "crash", "step": now, "client": name, "downFor": down_for}),
        );
        let cl = &mut self.clients[i];
        cl.crash();
        cl.down_until = Some(self.now.saturating_add(down_for.max(1)));
        self.crash_due[i] = None;
    }

    /// One step of the faulty phase.
    pub(super) fn step(&mut self) -> std::result::Result<(), Fail> {
        let now = self.now;
        note(&self.trace, || json!({"kind": "step", "step": now}));
        self.net.cause = ("the harness (a scripted or random action)".into(), None);
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
        self.random_faults()?;
        self.churn()?;
        self.new_messages()?;
        self.exchange(true)?;
        // Every few steps, one client (in turn) is checked against the server.
        if now % SOUNDNESS_EVERY == 0 {
            let i = (now / SOUNDNESS_EVERY) as usize % self.clients.len();
            if self.clients[i].is_up() {
                self.check_soundness(i)?;
            }
        }
        Ok(())
    }

    fn check_soundness(&mut self, i: usize) -> std::result::Result<(), Fail> {
        let cl = &self.clients[i];
        let held: Vec<usize> = self
            .ledger
            .convs_of(cl.user)
            .iter()
            .flat_map(|conv| held_by(&self.ledger, cl, conv))
            .collect();
        let readers = self.query_readers(&held)?;
        let extra = self.query_beyond(&held, false)?;
        let truth = Truth {
            ledger: &self.ledger,
            readers,
            positions: BTreeMap::new(),
            extra,
        };
        let cl = &mut self.clients[i];
        soundness(&truth, cl, &mut self.c)
            .and_then(|()| cl.check_failed(&mut self.c))
            .and_then(|()| cl.check_recalls(&mut self.c))
            .map_err(|f| tag(&cl.name, f))
    }

    /// Delivers this step's packets: the server answers, then each client
    /// runs its transport loop (and, when `active`, its user reads and syncs).
    pub(super) fn exchange(&mut self, active: bool) -> std::result::Result<(), Fail> {
        let mut inbox: Vec<Vec<Payload>> = vec![Vec::new(); self.clients.len()];
        for (id, p) in self.net.due(self.now) {
            match p.dst {
                Node::Server => {
                    self.carrying = Some(id);
                    self.server_receive(p)?;
                }
                Node::Client(i) => inbox[i].push(p.payload),
            }
        }
        for (i, payloads) in inbox.into_iter().enumerate() {
            self.client_step(i, payloads, active)?;
        }
        Ok(())
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
        self.net.cause = (format!("c{i}'s transport loop"), None);
        let sc = self.sc;
        let r = &sc.rates;
        if active && self.clients[i].reads.has_unread() && self.rng.chance(r.read) {
            if self.crash_here(i, &mut ops) {
                return Ok(());
            }
            let cl = &mut self.clients[i];
            cl.read(&mut self.rng, false, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?;
        }
        if active {
            self.user_marks(i)?;
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
            let cl = &mut self.clients[i];
            if let Some(p) = cl
                .flush_read_reports(now, r.retry_after, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?
            {
                self.net.send(now, p);
            }
            let cl = &mut self.clients[i];
            if let Some(p) =
                flush_marks(cl, now, r.retry_after, &mut self.c).map_err(|f| tag(&cl.name, f))?
            {
                self.net.send(now, p);
            }
            if active && (now + 7 * i as u64) % r.sync_every == 0 {
                let p = self.clients[i].sync_request();
                self.net.send(now, p);
            }
        }
        if let Some((_, down)) = self.crash_due[i] {
            self.crash(i, down);
            return Ok(());
        }
        let deep = (now + i as u64) % READ_DEEP_EVERY == 0;
        let cl = &mut self.clients[i];
        cl.check_read_state(deep, &mut self.c)
            .map_err(|f| tag(&cl.name, f))
    }
}
