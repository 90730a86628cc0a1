//! The simulated world and its faulty phase: setup, one step at a time
//! (faults, membership churn, new messages, the user's reads and marks,
//! the server's answers and each client's transport loop). What it asks
//! the server for the checks is in `queries.rs`, its failed sends in
//! `failed_sends.rs`, scripted actions and the end of a run in `run.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::collections::BTreeSet;

use super::check::{held_by, soundness};
use super::client::Client;
use super::fail::{tag, Fail};
use super::failed::Failures;
use super::ledger::{Ledger, LedgerGroup};
use super::mark_actions::{flush_marks, mark_unread, toggle_private};
use super::marks::MarkClient;
use super::network::{NetConfig, Network, Node, Packet, Payload, SyncPart};
use super::protocol::{
    Clock, Device, GroupSetup, Input, MemberSetup, Setup, ToClient, PROTOCOL_VERSION,
};
use super::report::{Counters, Invariant};
use super::rng::Rng;
use super::scenario::{FaultKind, Mutation, Scenario};
use super::server::{ServerError, SyncServer};
use super::trace::{note, Trace};
use super::truth::Truth;
use receiptdb::{Error, Result};
use receiptdb::{GroupType, Member, ReceiptConfigPatch, Snapshot};
use serde_json::json;

/// Server time of step 0 (unix seconds); step `s` is `BASE_TIME + s`.
const BASE_TIME: i64 = 1_700_000_000;
/// A client is checked for soundness every this many steps (clients in turn).
const SOUNDNESS_EVERY: u64 = 5;
/// Each client recounts one conversation from `getMessageList` every this
/// many steps (clients staggered).
const READ_DEEP_EVERY: u64 = 5;
/// Snapshots remembered per client and conversation, for stale replays.
const HISTORY: usize = 3;

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

/// A failure of the server (it broke the protocol): ends the run.
pub(super) fn server_fail(what: String) -> Fail {
    Fail::new(Invariant::Server, what)
}

/// Everything one run holds: the ledger, the server, the network, the clients.
pub(super) struct World<'a> {
    pub(super) sc: &'a Scenario,
    pub(super) ledger: Ledger,
    pub(super) server: Box<dyn SyncServer>,
    /// The name the server gave in its handshake.
    pub(super) server_name: String,
    /// (client, conversation) → fresh snapshots it was sent, oldest first.
    history: BTreeMap<(usize, String), Vec<Snapshot>>,
    /// (user, message) receipts the server accepted, to tell repeats apart.
    accepted: BTreeSet<(usize, String)>,
    /// Server requests made (numbers them in the trace).
    requests: u64,
    /// The packet being handed to the server now, if one is.
    carrying: Option<u64>,
    /// Where the trace goes, when tracing.
    pub(super) trace: Trace,
    /// (user, conversation) → highest position a `readAck` showed.
    acked_pos: BTreeMap<(usize, String), i64>,
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
            history: BTreeMap::new(),
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

    /// The handshake: the server learns the users, devices and rosters.
    pub(super) fn start_server(&mut self) -> std::result::Result<(), Fail> {
        let l = &self.ledger;
        let setup = Setup {
            protocol: PROTOCOL_VERSION,
            seed: self.sc.seed,
            users: l.users.clone(),
            devices: self
                .clients
                .iter()
                .map(|c| Device {
                    device: c.idx,
                    user_id: l.users[c.user].clone(),
                })
                .collect(),
            groups: l
                .groups
                .iter()
                .map(|g| GroupSetup {
                    group_id: g.id.clone(),
                    group_type: g.gtype,
                    members: g
                        .members
                        .iter()
                        .map(|(u, jt)| MemberSetup {
                            user_id: l.users[*u].clone(),
                            join_time: *jt,
                        })
                        .collect(),
                })
                .collect(),
        };
        let name = self.server.start(&setup);
        self.server_name = name.map_err(|e| self.server_error("the handshake", e))?;
        Ok(())
    }

    pub(super) fn clock(&self) -> Clock {
        Clock {
            step: self.now,
            time: BASE_TIME + self.now as i64,
        }
    }

    /// A server failure, with what it was doing and its diagnostics.
    pub(super) fn server_error(&mut self, doing: &str, e: ServerError) -> Fail {
        let mut what = format!("the server failed {doing} at step {}: {e}", self.now);
        if let Some(d) = self.server.diagnostics().filter(|d| !d.trim().is_empty()) {
            what.push_str(&format!(
                "\n--- its stderr (last lines) ---\n{}",
                tail(&d, 20)
            ));
        }
        server_fail(what)
    }

    /// Hands one input to the server and puts its answer on the network.
    pub(super) fn serve(&mut self, input: Input) -> std::result::Result<(), Fail> {
        let at = self.clock();
        self.requests += 1;
        let seq = self.requests;
        let carrying = self.carrying.take();
        note(&self.trace, || {
            json!({"kind": "server-in", "step": at.step, "seq": seq, "about": describe(&input),
                   "packet": carrying, "input": serde_json::to_value(&input).unwrap_or_default()})
        });
        let cause = std::mem::replace(
            &mut self.net.cause,
            (
                format!("answering request #{seq}: {}", describe(&input)),
                Some(seq),
            ),
        );
        let r = self.serve_now(at, input);
        self.net.cause = cause;
        r
    }

    fn serve_now(&mut self, at: Clock, input: Input) -> std::result::Result<(), Fail> {
        let packets = match self.server.handle(at, &input) {
            Ok(p) => p,
            Err(e) => return Err(self.server_error(&describe(&input), e)),
        };
        let now = self.now;
        let stale = !self.quiet && self.sc.faults.contains(&FaultKind::Stale);
        let mut stale_done: BTreeSet<(usize, String)> = BTreeSet::new();
        for p in packets {
            let d = p.to;
            if d >= self.clients.len() {
                let e = ServerError(format!(
                    "it sent a {} packet to device {d}, and there are only {} devices (0..{})",
                    p.body.kind(),
                    self.clients.len(),
                    self.clients.len()
                ));
                return Err(self.server_error(&describe(&input), e));
            }
            let payload = match p.body {
                ToClient::Messages { messages } => Payload::Messages(messages),
                ToClient::Notify { notifications } => Payload::Notify(notifications),
                ToClient::Ack { batch_id, rejected } => {
                    self.count_ack(d, &input, &rejected);
                    Payload::Ack { batch_id, rejected }
                }
                ToClient::ReadAck { reports } => {
                    self.count_read_ack(d, &reports);
                    Payload::ReadAck(reports)
                }
                ToClient::ReadPush { reports } => Payload::ReadPush(reports),
                ToClient::DeliveryAck { batch_id } => Payload::DeliveryAck(batch_id),
                ToClient::MarkAck { reports } => Payload::MarkAck(reports),
                ToClient::Snapshot {
                    snapshot,
                    upto,
                    part,
                    parts,
                } => {
                    let key = (d, snapshot.conversation_id.clone());
                    // Before the fresh one is remembered: a stale replay
                    // is one of the older answers.
                    if stale
                        && stale_done.insert(key.clone())
                        && self.rng.chance(self.sc.rates.stale)
                    {
                        let pick = self.rng.index(4);
                        if let Some(o) = self.old_snapshot(&key, pick) {
                            self.fault(FaultKind::Stale);
                            let extra = self.rng.range(0, self.sc.rates.max_delay);
                            self.net.send_after(now, extra, snapshot_packet(d, o));
                        }
                    }
                    self.remember(key, &snapshot);
                    Payload::Snapshot(Box::new(snapshot), Some(SyncPart { upto, part, parts }))
                }
            };
            self.net.send(
                now,
                Packet {
                    src: Node::Server,
                    dst: Node::Client(d),
                    payload,
                },
            );
        }
        Ok(())
    }

    /// Counts a receipt batch's answer: refused, accepted, or repeats.
    fn count_ack(&mut self, d: usize, input: &Input, rejected: &[receiptdb::Rejection]) {
        let Input::Receipts { message_ids, .. } = input else {
            return;
        };
        let user = self.clients[d].user;
        self.c.receipts_rejected += rejected.len() as u64;
        for id in message_ids {
            if rejected.iter().any(|r| r.message_id == *id) {
                continue;
            }
            if self.accepted.insert((user, id.clone())) {
                self.c.receipts_accepted += 1;
            } else {
                self.c.receipts_repeated += 1;
            }
        }
    }

    /// Counts the read positions a `readAck` shows moved on the server.
    fn count_read_ack(&mut self, d: usize, reports: &[receiptdb::ReadReport]) {
        let user = self.clients[d].user;
        for r in reports {
            let held = self
                .acked_pos
                .entry((user, r.conversation_id.clone()))
                .or_insert(0);
            if r.read_sequence > *held {
                *held = r.read_sequence;
                self.c.read_reports_moved += 1;
            }
        }
    }

    /// Remembers a snapshot sent to a client, for later stale replays.
    fn remember(&mut self, key: (usize, String), snap: &Snapshot) {
        let h = self.history.entry(key).or_default();
        if h.len() >= HISTORY {
            h.remove(1); // keep the very first one: the stalest
        }
        h.push(snap.clone());
    }

    fn old_snapshot(&self, key: &(usize, String), pick: usize) -> Option<Snapshot> {
        let h = self.history.get(key)?;
        h.get(pick % h.len()).cloned()
    }

    /// The oldest remembered snapshot of each conversation of `client`.
    pub(super) fn oldest_snapshots(&self, client: usize) -> Vec<Snapshot> {
        self.history
            .range((client, String::new())..)
            .take_while(|((c, _), _)| *c == client)
            .filter_map(|(_, h)| h.first().cloned())
            .collect()
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

    /// The user of client `i` may mark a conversation unread (or unmark
    /// it) and may switch private reading of one.
    pub(super) fn user_marks(&mut self, i: usize) -> std::result::Result<(), Fail> {
        let r = &self.sc.rates;
        let (mark, private) = (r.mark_unread, r.private_reading);
        if !self.clients[i].is_up() {
            return Ok(());
        }
        if self.rng.chance(mark) {
            let cl = &mut self.clients[i];
            mark_unread(cl, &mut self.rng, &mut self.c).map_err(|f| tag(&cl.name, f))?;
        }
        if self.rng.chance(private) {
            let cl = &mut self.clients[i];
            toggle_private(cl, &mut self.rng, &mut self.c).map_err(|f| tag(&cl.name, f))?;
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

    /// Recalls message `idx` in the ledger and tells the server.
    pub(super) fn recall(&mut self, idx: usize) -> std::result::Result<(), Fail> {
        if !self.ledger.recall(idx) {
            return Ok(());
        }
        self.fault(FaultKind::Reject);
        let message_id = self.ledger.msgs[idx].id.clone();
        self.serve(Input::Recall { message_id })
    }

    fn random_faults(&mut self) -> std::result::Result<(), Fail> {
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
            let n = self.ledger.msgs.len();
            if n > 0 {
                let idx = n - 1 - self.rng.index(n.min(30));
                self.recall(idx)?;
            }
        }
        Ok(())
    }

    fn churn(&mut self) -> std::result::Result<(), Fail> {
        if self.sc.groups == 0 || !self.rng.chance(self.sc.rates.churn) {
            return Ok(());
        }
        let g = self.rng.index(self.sc.groups);
        let members: Vec<usize> = self.ledger.groups[g].members.keys().copied().collect();
        if self.rng.chance(0.5) {
            let others: Vec<usize> = (0..self.ledger.users.len())
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

    /// A join or a leave: in the ledger, on the server and at once on every
    /// running client.
    pub(super) fn membership(
        &mut self,
        g: usize,
        u: usize,
        join: bool,
    ) -> std::result::Result<(), Fail> {
        let time = BASE_TIME + self.now as i64;
        let changed = if join {
            self.ledger.join(g, u, time)
        } else {
            self.ledger.leave(g, u)
        };
        if !changed {
            return Ok(());
        }
        self.c.membership_changes += 1;
        let gid = self.ledger.groups[g].id.clone();
        let uid = self.ledger.users[u].clone();
        self.serve(if join {
            Input::Join {
                group_id: gid.clone(),
                user_id: uid.clone(),
                time,
            }
        } else {
            Input::Leave {
                group_id: gid.clone(),
                user_id: uid.clone(),
            }
        })?;
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

    fn new_messages(&mut self) -> std::result::Result<(), Fail> {
        let sc = self.sc;
        // Spread evenly: by the end of step s, messages * (s + 1) / steps.
        let steps = u128::from(sc.steps.max(1));
        let due = (sc.messages as u128 * u128::from(self.now + 1) / steps) as usize;
        for _ in self.made..due.min(sc.messages) {
            self.made += 1;
            let receipt = self.rng.chance(sc.rates.receipt_share);
            let users = self.ledger.users.len();
            if sc.groups == 0 || self.rng.chance(sc.rates.c2c_share) {
                let from = self.rng.index(users);
                let to = (from + 1 + self.rng.index(users - 1)) % users;
                self.send_or_fail(from, None, Some(to), receipt)?;
            } else {
                let g = self.rng.index(sc.groups);
                let members: Vec<usize> = self.ledger.groups[g].members.keys().copied().collect();
                if let Some(&from) = self.rng.pick(&members) {
                    self.send_or_fail(from, Some(g), None, receipt)?;
                }
            }
        }
        Ok(())
    }

    /// A user sends a message: the ledger records it, the server delivers it.
    pub(super) fn send(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) -> std::result::Result<(), Fail> {
        let time = BASE_TIME + self.now as i64;
        let Some(idx) = self.ledger.send(from, group, to, receipt, time) else {
            return Ok(());
        };
        self.c.messages += 1;
        let message = self.ledger.announce(idx);
        self.serve(Input::Message { message })
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

    /// A packet reached the server: it becomes an input.
    fn server_receive(&mut self, p: Packet) -> std::result::Result<(), Fail> {
        let Node::Client(device) = p.src else {
            return Ok(());
        };
        let input = match p.payload {
            Payload::Receipts { batch_id, ids } => {
                // What reaches the server was queued: never a private read.
                let cl = &self.clients[device];
                if let Some(id) = ids.iter().find(|id| !cl.ever_queued(id)) {
                    let f = Fail::new(
                        Invariant::Private,
                        format!("a receipt for {id} reached the server, but this device never queued one"),
                    );
                    return Err(tag(&cl.name, f));
                }
                Input::Receipts {
                    device,
                    batch_id,
                    message_ids: ids,
                }
            }
            Payload::ReadReports(reports) => Input::ReadReports { device, reports },
            Payload::Deliveries { batch_id, ids } => Input::Deliveries {
                device,
                batch_id,
                message_ids: ids,
            },
            Payload::MarkReports(reports) => Input::MarkReports { device, reports },
            Payload::SyncRequest(since) => Input::Sync { device, since },
            _ => return Ok(()),
        };
        self.serve(input)
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
        if active && self.clients[i].has_unread() && self.rng.chance(r.read) {
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

/// A packet carrying an old snapshot (a stale replay) from the server to `client`.
pub(super) fn snapshot_packet(client: usize, snap: receiptdb::Snapshot) -> Packet {
    Packet {
        src: Node::Server,
        dst: Node::Client(client),
        payload: Payload::Snapshot(Box::new(snap), None),
    }
}

/// What an input was, for a report: "the receipts of device 3 (batch b7)".
fn describe(input: &Input) -> String {
    match input {
        Input::Message { message } => format!("the message {}", message.message_id),
        Input::Receipts {
            device, batch_id, ..
        } => format!("the receipts of device {device} (batch {batch_id})"),
        Input::ReadReports { device, .. } => format!("the read reports of device {device}"),
        Input::Deliveries {
            device, batch_id, ..
        } => format!("the delivery acks of device {device} (batch {batch_id})"),
        Input::MarkReports { device, .. } => format!("the unread marks of device {device}"),
        Input::Sync { device, .. } => format!("the sync of device {device}"),
        Input::Join {
            group_id, user_id, ..
        } => format!("{user_id} joining {group_id}"),
        Input::Leave { group_id, user_id } => format!("{user_id} leaving {group_id}"),
        Input::Recall { message_id } => format!("the recall of {message_id}"),
    }
}

/// The last `n` lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A setup error for a server that could not even be made.
pub(super) fn no_server(e: ServerError) -> Error {
    Error::InvalidParams(format!("cannot start the server: {e}"))
}
