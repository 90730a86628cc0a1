//! The server side of a run: the [`SyncServer`] trait a team implements to
//! put its own server inside the simulated network, and the reference
//! server that implements it. The reference server takes receipt batches
//! idempotently (a repeated receipt changes nothing), tells senders who read
//! what, answers syncs with what changed since the version a device holds
//! (including `selfRead` and read positions), keeps read positions as a max,
//! rejects receipts for recalled messages and pushes each recall to the
//! devices of the message's recipients. Ordered maps only, so runs are
//! deterministic.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{
    MarkReport, PushedReadReport, ReadReport, ReceiptNotification, Rejection, Snapshot,
    SnapshotReceipt,
};

use super::beyond::Beyond;
use super::ledger::{Ledger, LedgerMessage};
use super::protocol::{Clock, Input, MarkState, NewMessage, Packet, Query, Setup, ToClient};

/// The code the reference server gives a receipt for a recalled message.
pub const RECALLED: i64 = 20_016;
/// The code for a receipt the server cannot take (unknown message, not a recipient).
pub const NOT_ALLOWED: i64 = 20_009;
/// Most messages in one snapshot (the store accepts 1000).
const SNAPSHOT_CHUNK: usize = 500;

/// A server broke the protocol or failed: the run ends with exit status 2
/// and this text (which request, what was wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError(pub String);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a query answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Message ID → user IDs whose receipt the server holds.
    Readers(BTreeMap<String, Vec<String>>),
    /// Conversation ID (as the user sees it) → read position.
    Positions(BTreeMap<String, i64>),
    /// Message ID → user IDs who received it (readers included).
    Delivered(BTreeMap<String, Vec<String>>),
    /// Message ID → reader → when they read it (unix seconds).
    ReadTimes(BTreeMap<String, BTreeMap<String, i64>>),
    /// Conversation ID (as the user sees it) → unread-mark registers.
    Marks(BTreeMap<String, MarkState>),
}

/// A server inside the simulated network. The harness calls [`start`]
/// once, then [`handle`] for every message sent, every packet that reaches
/// the server and every membership change and recall, in order; what it
/// returns is put on the faulty network. [`query`] asks for the
/// authoritative state the checks compare the clients with; it must not
/// change the server.
///
/// [`start`]: SyncServer::start
/// [`handle`]: SyncServer::handle
/// [`query`]: SyncServer::query
pub trait SyncServer: Send {
    /// Takes the users, devices and first rosters; returns the server's name.
    fn start(&mut self, setup: &Setup) -> Result<String, ServerError>;
    /// Takes one input at `at`; returns the packets to send.
    fn handle(&mut self, at: Clock, input: &Input) -> Result<Vec<Packet>, ServerError>;
    /// Answers a query about the authoritative state.
    fn query(&mut self, at: Clock, query: &Query) -> Result<Answer, ServerError>;
    /// What the server wrote for people (a process's stderr), for the report.
    fn diagnostics(&mut self) -> Option<String> {
        None
    }
}

/// Makes a fresh server for each run (sweeps and shrinking run many).
pub type ServerFactory = dyn Fn() -> Result<Box<dyn SyncServer>, ServerError> + Send + Sync;

/// Which server a scenario runs against.
#[derive(Clone, Default)]
pub enum ServerChoice {
    /// The [`ReferenceServer`].
    #[default]
    Reference,
    /// A server process (`--server-cmd`), started with `sh -c`.
    Command {
        /// The command line.
        cmd: String,
        /// Most milliseconds for one answer (default 10 s).
        timeout_ms: Option<u64>,
    },
    /// A Rust server, made fresh for each run.
    Custom(std::sync::Arc<ServerFactory>),
}

impl ServerChoice {
    /// A Rust server made by `make` for each run.
    pub fn custom<S: SyncServer + 'static>(
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> ServerChoice {
        ServerChoice::Custom(std::sync::Arc::new(move || {
            Ok(Box::new(make()) as Box<dyn SyncServer>)
        }))
    }
}

impl std::fmt::Debug for ServerChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerChoice::Reference => f.write_str("Reference"),
            ServerChoice::Command { cmd, timeout_ms } => f
                .debug_struct("Command")
                .field("cmd", cmd)
                .field("timeout_ms", timeout_ms)
                .finish(),
            ServerChoice::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl PartialEq for ServerChoice {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ServerChoice::Reference, ServerChoice::Reference) => true,
            (
                ServerChoice::Command { cmd, timeout_ms },
                ServerChoice::Command {
                    cmd: c2,
                    timeout_ms: t2,
                },
            ) => cmd == c2 && timeout_ms == t2,
            (ServerChoice::Custom(a), ServerChoice::Custom(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The reference server. See the module doc.
#[derive(Debug, Default)]
pub struct ReferenceServer {
    ledger: Option<Ledger>,
    /// Device → user number.
    devices: Vec<usize>,
    /// User number → devices.
    by_user: Vec<Vec<usize>>,
    /// Message number → readers.
    readers: Vec<BTreeSet<usize>>,
    /// Message number → the version when anything a snapshot says of it
    /// last changed (sent, a reader, its group's roster).
    versions: Vec<u64>,
    /// (user, conversation as that user sees it) → read position (max of
    /// every read report from any of the user's devices).
    read_pos: BTreeMap<(usize, String), i64>,
    /// Deliveries, read times, public positions, unread marks.
    beyond: Beyond,
    clock: u64,
}

fn err(msg: impl Into<String>) -> ServerError {
    ServerError(msg.into())
}

impl ReferenceServer {
    /// A reference server; it learns the world in [`SyncServer::start`].
    pub fn new() -> ReferenceServer {
        ReferenceServer::default()
    }

    fn ledger(&self) -> Result<&Ledger, ServerError> {
        self.ledger.as_ref().ok_or_else(|| err("not started"))
    }

    fn user_of_device(&self, device: usize) -> Result<usize, ServerError> {
        self.devices
            .get(device)
            .copied()
            .ok_or_else(|| err(format!("no device {device}")))
    }

    fn bump(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn message(&mut self, nm: &NewMessage) -> Result<Vec<Packet>, ServerError> {
        let v = self.bump();
        let l = self.ledger.as_mut().ok_or_else(|| err("not started"))?;
        let m = l.record(nm).map_err(err)?;
        self.readers.push(BTreeSet::new());
        self.beyond.push_message();
        self.versions.push(v);
        let l = self.ledger()?;
        let mut out = Vec::new();
        for &u in &l.msgs[m].recipients {
            let msg = l.incoming(m, u);
            for &d in &self.by_user[u] {
                out.push(Packet {
                    to: d,
                    body: ToClient::Messages {
                        messages: vec![msg.clone()],
                    },
                });
            }
        }
        Ok(out)
    }

    fn receipts(
        &mut self,
        at: Clock,
        device: usize,
        batch_id: &str,
        ids: &[String],
    ) -> Result<Vec<Packet>, ServerError> {
        let user = self.user_of_device(device)?;
        let mut rejected = Vec::new();
        let mut fresh = Vec::new();
        let mut repeats = Vec::new();
        for id in ids {
            let l = self.ledger()?;
            let Some(idx) = l.index_of(id) else {
                rejected.push(reject(id, NOT_ALLOWED));
                continue;
            };
            let m = &l.msgs[idx];
            if !l.may_read(m, user) {
                rejected.push(reject(id, NOT_ALLOWED));
            } else if self.readers[idx].contains(&user) {
                // A repeat changes nothing here, but the sender hears of
                // it with its own (later) time: the store keeps the earliest.
                repeats.push(idx);
            } else if m.recalled {
                rejected.push(reject(id, RECALLED));
            } else {
                self.readers[idx].insert(user);
                self.beyond.stamp(idx, user, at.time);
                let v = self.bump();
                self.versions[idx] = v;
                fresh.push(idx);
            }
        }
        let mut out = vec![Packet {
            to: device,
            body: ToClient::Ack {
                batch_id: batch_id.to_string(),
                rejected,
            },
        }];
        let mut per: BTreeMap<usize, Vec<ReceiptNotification>> = BTreeMap::new();
        let l = self.ledger()?;
        for idx in fresh {
            let m = &l.msgs[idx];
            let mut n = notification(l, m, &self.readers[idx], user);
            n.read_time = Some(at.time);
            for &d in &self.by_user[m.from] {
                per.entry(d).or_default().push(n.clone());
            }
        }
        for idx in repeats {
            let m = &l.msgs[idx];
            let mut n = time_note(l, m, user);
            n.read_time = Some(at.time);
            for &d in &self.by_user[m.from] {
                per.entry(d).or_default().push(n.clone());
            }
        }
        out.extend(per.into_iter().map(|(d, ns)| Packet {
            to: d,
            body: ToClient::Notify { notifications: ns },
        }));
        Ok(out)
    }

    fn read_reports(
        &mut self,
        device: usize,
        reports: &[ReadReport],
    ) -> Result<Vec<Packet>, ServerError> {
        let user = self.user_of_device(device)?;
        let mut acks = Vec::new();
        let mut per: BTreeMap<usize, Vec<PushedReadReport>> = BTreeMap::new();
        for r in reports {
            let conv = &r.conversation_id;
            let pos = self.read_pos.entry((user, conv.clone())).or_insert(0);
            let moved = r.read_sequence > *pos;
            *pos = (*pos).max(r.read_sequence);
            let pos = *pos;
            let timed = r
                .read_time
                .is_some_and(|t| self.beyond.raise_read_time(user, conv, t));
            let held = self.beyond.mark_of(user, conv).read_time;
            acks.push(ReadReport {
                conversation_id: conv.clone(),
                read_sequence: pos,
                read_time: (held > 0).then_some(held),
                private: false,
            });
            if moved || timed {
                for &d in self.by_user[user].iter().filter(|&&d| d != device) {
                    per.entry(d).or_default().push(PushedReadReport {
                        conversation_id: conv.clone(),
                        read_sequence: moved.then_some(pos),
                        read_time: timed.then_some(held),
                        ..Default::default()
                    });
                }
            }
            // A private report moves the user's own position only.
            if r.private || !self.beyond.raise_public(user, conv, r.read_sequence) {
                continue;
            }
            let pos = self.beyond.public_position(user, conv);
            let l = self.ledger()?;
            if let Some(peer) = l.c2c_peer(&r.conversation_id) {
                let conv = format!("C2C{}", l.users[user]);
                for &d in &self.by_user[peer] {
                    per.entry(d).or_default().push(PushedReadReport {
                        conversation_id: conv.clone(),
                        peer_read_sequence: Some(pos),
                        ..Default::default()
                    });
                }
            }
        }
        let mut out = vec![Packet {
            to: device,
            body: ToClient::ReadAck { reports: acks },
        }];
        out.extend(per.into_iter().map(|(d, rs)| Packet {
            to: d,
            body: ToClient::ReadPush { reports: rs },
        }));
        Ok(out)
    }

    fn deliveries(
        &mut self,
        device: usize,
        batch_id: &str,
        ids: &[String],
    ) -> Result<Vec<Packet>, ServerError> {
        let user = self.user_of_device(device)?;
        let mut fresh = Vec::new();
        for id in ids {
            let l = self.ledger()?;
            // An ack the server cannot place is dropped: deliveries have no rejections.
            let Some(idx) = l.index_of(id).filter(|&i| l.may_read(&l.msgs[i], user)) else {
                continue;
            };
            if self.beyond.delivered[idx].insert(user) && !self.readers[idx].contains(&user) {
                let v = self.bump();
                self.versions[idx] = v;
                fresh.push(idx);
            }
        }
        let mut out = vec![Packet {
            to: device,
            body: ToClient::DeliveryAck {
                batch_id: batch_id.to_string(),
            },
        }];
        let mut per: BTreeMap<usize, Vec<ReceiptNotification>> = BTreeMap::new();
        let l = self.ledger()?;
        for idx in fresh {
            let n = self.beyond.delivery_note(l, idx, &self.readers[idx], user);
            for &d in &self.by_user[l.msgs[idx].from] {
                per.entry(d).or_default().push(n.clone());
            }
        }
        out.extend(per.into_iter().map(|(d, ns)| Packet {
            to: d,
            body: ToClient::Notify { notifications: ns },
        }));
        Ok(out)
    }

    fn mark_reports(
        &mut self,
        device: usize,
        reports: &[MarkReport],
    ) -> Result<Vec<Packet>, ServerError> {
        let user = self.user_of_device(device)?;
        let pushes = self.beyond.take_marks(user, reports);
        let mut out = vec![Packet {
            to: device,
            body: ToClient::MarkAck {
                reports: reports.to_vec(),
            },
        }];
        if !pushes.is_empty() {
            for &d in self.by_user[user].iter().filter(|&&d| d != device) {
                out.push(Packet {
                    to: d,
                    body: ToClient::ReadPush {
                        reports: pushes.clone(),
                    },
                });
            }
        }
        Ok(out)
    }

    fn sync(
        &self,
        device: usize,
        since: &BTreeMap<String, u64>,
    ) -> Result<Vec<Packet>, ServerError> {
        let user = self.user_of_device(device)?;
        let l = self.ledger()?;
        let mut out = Vec::new();
        for conv in l.convs_of(user) {
            let from = since.get(&conv).copied().unwrap_or(0);
            let changed: Vec<usize> = l
                .view(user, &conv)
                .iter()
                .copied()
                .filter(|&i| self.versions[i] > from)
                .collect();
            // Always at least one part: the read positions travel in each.
            let chunks: Vec<&[usize]> = if changed.is_empty() {
                vec![&[]]
            } else {
                changed.chunks(SNAPSHOT_CHUNK).collect()
            };
            let parts = chunks.len();
            for (part, chunk) in chunks.into_iter().enumerate() {
                out.push(Packet {
                    to: device,
                    body: ToClient::Snapshot {
                        snapshot: self.snapshot_of(l, user, &conv, chunk),
                        upto: self.clock,
                        part,
                        parts,
                    },
                });
            }
        }
        Ok(out)
    }

    fn snapshot_of(&self, l: &Ledger, user: usize, conv: &str, chunk: &[usize]) -> Snapshot {
        let mut snap = Snapshot {
            conversation_id: conv.to_string(),
            ..Default::default()
        };
        for &idx in chunk {
            let m = &l.msgs[idx];
            let readers = &self.readers[idx];
            snap.messages.push(l.incoming(idx, user));
            if m.receipt && m.from == user {
                let (rc, uc, peer) = l.figures(m, readers);
                let group = m.group.is_some();
                let mut r = SnapshotReceipt {
                    message_id: m.id.clone(),
                    read_count: Some(rc),
                    unread_count: Some(uc),
                    is_peer_read: (!group).then_some(peer),
                    reader_ids: group
                        .then(|| readers.iter().map(|r| l.users[*r].clone()).collect()),
                    ..Default::default()
                };
                self.beyond.fill_receipt(l, idx, readers, &mut r);
                snap.receipts.push(r);
            }
            if m.receipt && m.from != user && readers.contains(&user) {
                snap.self_read.push(m.id.clone());
            }
        }
        let pos = self.position(user, conv);
        snap.read_sequence = (pos > 0).then_some(pos);
        snap.peer_read_sequence = l.c2c_peer(conv).and_then(|peer| {
            let p = self
                .beyond
                .public_position(peer, &format!("C2C{}", l.users[user]));
            (p > 0).then_some(p)
        });
        let mark = self.beyond.mark_of(user, conv);
        snap.read_time = (mark.read_time > 0).then_some(mark.read_time);
        if mark.mark_time > 0 {
            snap.marked = Some(mark.marked);
            snap.mark_time = Some(mark.mark_time);
        }
        snap
    }

    fn position(&self, user: usize, conv: &str) -> i64 {
        self.read_pos
            .get(&(user, conv.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Recalls a message: new receipts for it are refused, and every device
    /// of its recipients gets it with `isRevoked` (its version moves, so a
    /// device that lost the push learns it from its next sync).
    fn recall(&mut self, message_id: &str) -> Result<Vec<Packet>, ServerError> {
        let l = self.ledger.as_mut().ok_or_else(|| err("not started"))?;
        let Some(i) = l.index_of(message_id).filter(|&i| l.recall(i)) else {
            return Ok(Vec::new());
        };
        let v = self.bump();
        self.versions[i] = v;
        let l = self.ledger()?;
        let mut out = Vec::new();
        for &u in &l.msgs[i].recipients {
            let msg = l.incoming(i, u);
            for &d in &self.by_user[u] {
                out.push(Packet {
                    to: d,
                    body: ToClient::Messages {
                        messages: vec![msg.clone()],
                    },
                });
            }
        }
        Ok(out)
    }

    /// A roster change alters the figures of every message of the group.
    fn touch_group(&mut self, g: usize) -> Result<(), ServerError> {
        let v = self.bump();
        let l = self.ledger.as_ref().ok_or_else(|| err("not started"))?;
        for (i, m) in l.msgs.iter().enumerate() {
            if m.group == Some(g) {
                self.versions[i] = v;
            }
        }
        Ok(())
    }
}

impl SyncServer for ReferenceServer {
    fn start(&mut self, setup: &Setup) -> Result<String, ServerError> {
        let ledger = Ledger::from_setup(setup).map_err(err)?;
        self.by_user = vec![Vec::new(); ledger.users.len()];
        for d in &setup.devices {
            let u = ledger
                .user_of(&d.user_id)
                .ok_or_else(|| err(format!("device {} of unknown user", d.device)))?;
            self.devices.push(u);
            self.by_user[u].push(d.device);
        }
        self.ledger = Some(ledger);
        Ok("reference".to_string())
    }

    fn handle(&mut self, at: Clock, input: &Input) -> Result<Vec<Packet>, ServerError> {
        match input {
            Input::Message { message } => self.message(message),
            Input::Receipts {
                device,
                batch_id,
                message_ids,
            } => self.receipts(at, *device, batch_id, message_ids),
            Input::ReadReports { device, reports } => self.read_reports(*device, reports),
            Input::Deliveries {
                device,
                batch_id,
                message_ids,
            } => self.deliveries(*device, batch_id, message_ids),
            Input::MarkReports { device, reports } => self.mark_reports(*device, reports),
            Input::Sync { device, since } => self.sync(*device, since),
            Input::Join {
                group_id,
                user_id,
                time,
            } => {
                let l = self.ledger.as_mut().ok_or_else(|| err("not started"))?;
                let (g, u) = l.group_user(group_id, user_id).map_err(err)?;
                if l.join(g, u, *time) {
                    self.touch_group(g)?;
                }
                Ok(Vec::new())
            }
            Input::Leave { group_id, user_id } => {
                let l = self.ledger.as_mut().ok_or_else(|| err("not started"))?;
                let (g, u) = l.group_user(group_id, user_id).map_err(err)?;
                if l.leave(g, u) {
                    self.touch_group(g)?;
                }
                Ok(Vec::new())
            }
            Input::Recall { message_id } => self.recall(message_id),
        }
    }

    fn query(&mut self, _at: Clock, query: &Query) -> Result<Answer, ServerError> {
        let l = self.ledger()?;
        match query {
            Query::Readers { message_ids } => {
                let mut out = BTreeMap::new();
                for id in message_ids {
                    if let Some(i) = l.index_of(id) {
                        let names = self.readers[i].iter().map(|u| l.users[*u].clone());
                        out.insert(id.clone(), names.collect());
                    }
                }
                Ok(Answer::Readers(out))
            }
            Query::Positions { user_id } => {
                let u = user(l, user_id)?;
                Ok(Answer::Positions(of_user(&self.read_pos, u)))
            }
            Query::PeerPositions { user_id } => {
                let u = user(l, user_id)?;
                Ok(Answer::Positions(of_user(&self.beyond.public_pos, u)))
            }
            Query::Marks { user_id } => {
                let u = user(l, user_id)?;
                Ok(Answer::Marks(of_user(&self.beyond.marks, u)))
            }
            Query::Delivered { message_ids } => {
                let mut out = BTreeMap::new();
                for id in message_ids {
                    if let Some(i) = l.index_of(id) {
                        let all = self.beyond.receivers(i, &self.readers[i]);
                        out.insert(
                            id.clone(),
                            all.iter().map(|u| l.users[*u].clone()).collect(),
                        );
                    }
                }
                Ok(Answer::Delivered(out))
            }
            Query::ReadTimes { message_ids } => {
                let mut out = BTreeMap::new();
                for id in message_ids {
                    if let Some(i) = l.index_of(id) {
                        let t = self.beyond.read_times[i].iter();
                        out.insert(
                            id.clone(),
                            t.map(|(u, t)| (l.users[*u].clone(), *t)).collect(),
                        );
                    }
                }
                Ok(Answer::ReadTimes(out))
            }
        }
    }
}

fn user(l: &Ledger, user_id: &str) -> Result<usize, ServerError> {
    l.user_of(user_id)
        .ok_or_else(|| err(format!("unknown user {user_id}")))
}

/// The entries of user `u` in a map keyed by (user, conversation).
fn of_user<T: Copy>(map: &BTreeMap<(usize, String), T>, u: usize) -> BTreeMap<String, T> {
    map.range((u, String::new())..)
        .take_while(|((x, _), _)| *x == u)
        .map(|((_, c), v)| (c.clone(), *v))
        .collect()
}

/// The notification the sender's devices get when `reader` read `m`.
fn notification(
    l: &Ledger,
    m: &LedgerMessage,
    readers: &BTreeSet<usize>,
    reader: usize,
) -> ReceiptNotification {
    let (rc, uc, peer) = l.figures(m, readers);
    let mut n = ReceiptNotification {
        message_id: m.id.clone(),
        user_id: Some(l.users[reader].clone()),
        read_count: Some(rc),
        unread_count: Some(uc),
        ..Default::default()
    };
    match m.group {
        Some(g) => n.group_id = Some(l.groups[g].id.clone()),
        None => {
            n.conversation_id = Some(l.conv_for(m, m.from));
            n.is_peer_read = Some(peer);
        }
    }
    n
}

/// A repeated receipt's notification: who, nothing else (its time is set by the caller).
fn time_note(l: &Ledger, m: &LedgerMessage, reader: usize) -> ReceiptNotification {
    let mut n = ReceiptNotification {
        message_id: m.id.clone(),
        user_id: Some(l.users[reader].clone()),
        ..Default::default()
    };
    match m.group {
        Some(g) => n.group_id = Some(l.groups[g].id.clone()),
        None => n.conversation_id = Some(l.conv_for(m, m.from)),
    }
    n
}

fn reject(id: &str, code: i64) -> Rejection {
    Rejection {
        message_id: id.to_string(),
        code,
    }
}
