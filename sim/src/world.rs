//! The simulated world and its faulty phase: setup, one step at a time
//! (faults, membership churn, new messages, the server's answers and each
//! client's transport loop).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::check::soundness;
use super::client::{Client, Fail};
use super::network::{NetConfig, Network, Node, Packet, Payload, SyncPart};
use super::report::Counters;
use super::rng::Rng;
use super::scenario::{FaultKind, Mutation, Scenario};
use super::server::{SGroup, Server};
use receiptdb::Result;
use receiptdb::{GroupType, Member, ReceiptNotification};

/// Server time of step 0 (unix seconds); step `s` is `BASE_TIME + s`.
const BASE_TIME: i64 = 1_700_000_000;
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

/// Names the client a failure came from, unless it is named already.
pub(super) fn tag(name: &str, mut f: Fail) -> Fail {
    if f.client.is_none() {
        f.client = Some(name.to_string());
    }
    f
}

/// Everything one run holds: the server, the network, the clients.
pub(super) struct World<'a> {
    pub(super) sc: &'a Scenario,
    pub(super) server: Server,
    pub(super) net: Network,
    pub(super) clients: Vec<Client>,
    pub(super) by_user: Vec<Vec<usize>>,
    pub(super) rng: Rng,
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
    pub(super) fn new(sc: &'a Scenario) -> Result<World<'a>> {
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
        let tally = sc.mutate == Some(Mutation::Tally);
        let lww = sc.mutate == Some(Mutation::Lww);
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
                tally,
                lww,
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

    pub(super) fn fault(&mut self, k: FaultKind) {
        *self.faults.entry(k).or_insert(0) += 1;
    }

    pub(super) fn start(&mut self) -> std::result::Result<(), Fail> {
        for cl in &mut self.clients {
            cl.open(&mut self.c).map_err(|f| tag(&cl.name, f))?;
            cl.set_rosters(&self.server.groups, &self.server.users, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?;
        }
        Ok(())
    }

    pub(super) fn reopen(&mut self, i: usize) -> std::result::Result<(), Fail> {
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

    pub(super) fn crash(&mut self, i: usize, down_for: u64) {
        self.fault(FaultKind::Crash);
        let cl = &mut self.clients[i];
        cl.crash();
        cl.down_until = Some(self.now.saturating_add(down_for.max(1)));
        self.crash_due[i] = None;
    }

    /// One step of the faulty phase.
    pub(super) fn step(&mut self) -> std::result::Result<(), Fail> {
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
        self.exchange(true)?;
        // Every few steps, one client (in turn) is checked against the server.
        if now % SOUNDNESS_EVERY == 0 {
            let i = (now / SOUNDNESS_EVERY) as usize % self.clients.len();
            let cl = &mut self.clients[i];
            if cl.is_up() {
                soundness(&self.server, cl, &mut self.c).map_err(|f| tag(&cl.name, f))?;
            }
        }
        Ok(())
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
    pub(super) fn membership(
        &mut self,
        g: usize,
        u: usize,
        join: bool,
    ) -> std::result::Result<(), Fail> {
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
    pub(super) fn send(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) {
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

    /// Delivers this step's packets: the server answers, then each client
    /// runs its transport loop (and, when `active`, its user reads and syncs).
    pub(super) fn exchange(&mut self, active: bool) -> std::result::Result<(), Fail> {
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
            Payload::ReadReports(reports) => self.server_read_reports(ci, reports),
            Payload::SyncRequest(since) => {
                let stale = !self.quiet && self.sc.faults.contains(&FaultKind::Stale);
                for conv in self.server.convs_of(user) {
                    let old = if stale && self.rng.chance(self.sc.rates.stale) {
                        let pick = self.rng.index(4);
                        self.server.old_snapshot(ci, &conv, pick)
                    } else {
                        None
                    };
                    let from = since.get(&conv).copied().unwrap_or(0);
                    let (snaps, upto) = self.server.snapshots(user, &conv, from);
                    let parts = snaps.len();
                    for (part, snap) in snaps.into_iter().enumerate() {
                        self.server.remember(ci, &snap);
                        let sp = SyncPart { upto, part, parts };
                        self.net.send(now, fresh_snapshot_packet(ci, snap, sp));
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

    /// The server takes read reports from client `ci`: each position becomes
    /// the max; the device gets the positions back (`ackReadReports`); a
    /// position that moved is pushed to the user's other devices and, in
    /// C2C, to the peer's devices as `peerReadSequence`.
    fn server_read_reports(&mut self, ci: usize, reports: Vec<receiptdb::ReadReport>) {
        let user = self.clients[ci].user;
        let now = self.now;
        let mut acks = Vec::new();
        let mut per: BTreeMap<usize, Vec<receiptdb::PushedReadReport>> = BTreeMap::new();
        for r in reports {
            let (pos, moved) =
                self.server
                    .take_read_report(user, &r.conversation_id, r.read_sequence);
            acks.push(receiptdb::ReadReport {
                conversation_id: r.conversation_id.clone(),
                read_sequence: pos,
            });
            if !moved {
                continue;
            }
            self.c.read_reports_moved += 1;
            for &d in self.by_user[user].iter().filter(|&&d| d != ci) {
                per.entry(d).or_default().push(receiptdb::PushedReadReport {
                    conversation_id: r.conversation_id.clone(),
                    read_sequence: Some(pos),
                    peer_read_sequence: None,
                });
            }
            if let Some(peer) = self.server.c2c_peer(&r.conversation_id) {
                let conv = format!("C2C{}", self.server.users[user]);
                for &d in &self.by_user[peer] {
                    per.entry(d).or_default().push(receiptdb::PushedReadReport {
                        conversation_id: conv.clone(),
                        read_sequence: None,
                        peer_read_sequence: Some(pos),
                    });
                }
            }
        }
        self.net.send(
            now,
            Packet {
                src: Node::Server,
                dst: Node::Client(ci),
                payload: Payload::ReadAck(acks),
            },
        );
        for (d, rs) in per {
            self.net.send(
                now,
                Packet {
                    src: Node::Server,
                    dst: Node::Client(d),
                    payload: Payload::ReadPush(rs),
                },
            );
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
            let cl = &mut self.clients[i];
            if let Some(p) = cl
                .flush_read_reports(now, r.retry_after, &mut self.c)
                .map_err(|f| tag(&cl.name, f))?
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

/// A packet carrying part of a sync's answer from the server to `client`.
fn fresh_snapshot_packet(client: usize, snap: receiptdb::Snapshot, part: SyncPart) -> Packet {
    Packet {
        src: Node::Server,
        dst: Node::Client(client),
        payload: Payload::Snapshot(Box::new(snap), Some(part)),
    }
}
