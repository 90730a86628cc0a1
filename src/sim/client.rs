//! A simulated client device: a real [`Store`] on its own file, the transport
//! loop that drives it, and the trackers behind the invariants checked while
//! running (monotone events, durable receipts, a sound outbox).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::network::{Node, Packet, Payload};
use super::report::{Counters, Invariant};
use super::rng::Rng;
use super::server::SGroup;
use crate::{
    Batch, EventKind, Filter, Member, ReceiptItem, ReceiptSentState, Rejection, Store, Subscription,
};
use crate::{MergeMode, OpenOptions};

/// Capacity of a client's event subscription; it is drained after every call.
const EVENT_CAPACITY: usize = 4096;
/// Most batches `getPendingReceipts` hands out at once (the store's default).
const BATCH_LIMIT: usize = 100;

/// A broken invariant, before the step and phase are known.
#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub invariant: Invariant,
    pub client: Option<String>,
    pub detail: String,
}

impl Fail {
    pub(crate) fn new(invariant: Invariant, detail: impl Into<String>) -> Fail {
        Fail {
            invariant,
            client: None,
            detail: detail.into(),
        }
    }
}

/// The last receipt figures seen in a message's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub read: u64,
    pub unread: Option<u64>,
    pub peer: bool,
}

/// One device.
pub(crate) struct Client {
    pub idx: usize,
    pub user: usize,
    pub user_id: String,
    pub name: String,
    path: PathBuf,
    mode: MergeMode,
    store: Option<Store>,
    sub: Option<Subscription>,
    /// Crashed: reopens at this step.
    pub down_until: Option<u64>,
    /// Offline until this step.
    pub offline_until: u64,
    /// Message IDs this device holds.
    held: BTreeSet<String>,
    /// Conversation → `in` messages held and not read here yet.
    unread: BTreeMap<String, BTreeSet<String>>,
    /// Last event figures per `out` message (kept across crashes).
    pub seen: BTreeMap<String, Seen>,
    /// Lowest receipt state each message must have (durability tracker).
    tracked: BTreeMap<String, ReceiptSentState>,
    /// Batches handed out and not yet acked: ID → (conversation, message IDs).
    live: BTreeMap<String, (String, Vec<String>)>,
    /// Step each live batch was last sent at (lost in a crash).
    sent_at: BTreeMap<String, u64>,
    /// Receipts were queued since the outbox was last read.
    pub outbox_dirty: bool,
}

fn store_fail(what: &str, e: &crate::Error) -> Fail {
    Fail::new(
        Invariant::StoreError,
        format!("{what} failed: {} ({e})", e.name()),
    )
}

impl Client {
    pub(crate) fn new(
        idx: usize,
        user: usize,
        user_id: String,
        name: String,
        path: PathBuf,
        mode: MergeMode,
    ) -> Client {
        Client {
            idx,
            user,
            user_id,
            name,
            path,
            mode,
            store: None,
            sub: None,
            down_until: None,
            offline_until: 0,
            held: BTreeSet::new(),
            unread: BTreeMap::new(),
            seen: BTreeMap::new(),
            tracked: BTreeMap::new(),
            live: BTreeMap::new(),
            sent_at: BTreeMap::new(),
            outbox_dirty: false,
        }
    }

    /// Whether the process is running.
    pub(crate) fn is_up(&self) -> bool {
        self.store.is_some()
    }

    /// Online and up at step `now`.
    pub(crate) fn is_online(&self, now: u64) -> bool {
        self.is_up() && now >= self.offline_until
    }

    /// The open store, for the final checks.
    pub(crate) fn store(&self) -> Result<&Store, Fail> {
        self.store
            .as_ref()
            .ok_or_else(|| Fail::new(Invariant::StoreError, "the client is down"))
    }

    /// Makes one store call, then drains and checks the events it caused.
    pub(crate) fn call<T>(
        &mut self,
        c: &mut Counters,
        what: &str,
        f: impl FnOnce(&Store) -> crate::Result<T>,
    ) -> Result<T, Fail> {
        let store = self.store()?;
        c.store_ops += 1;
        let out = f(store).map_err(|e| store_fail(what, &e))?;
        self.drain(c)?;
        Ok(out)
    }

    fn drain(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let Some(sub) = &self.sub else {
            return Ok(());
        };
        let events: Vec<_> = sub.receiver().try_iter().collect();
        for ev in events {
            c.events += 1;
            match ev.kind {
                EventKind::ReceiptsChanged(items) => {
                    for it in &items {
                        c.event_items += 1;
                        self.observe(it)?;
                    }
                }
                EventKind::Lagged { missed } => c.lagged += missed,
                _ => {}
            }
        }
        Ok(())
    }

    fn observe(&mut self, it: &ReceiptItem) -> Result<(), Fail> {
        let new = Seen {
            read: it.read_count,
            unread: it.unread_count,
            peer: it.is_peer_read,
        };
        if let Some(old) = self.seen.get(&it.message_id) {
            let id = &it.message_id;
            let bad = if new.read < old.read {
                Some(format!(
                    "readCount of {id} fell from {} to {}",
                    old.read, new.read
                ))
            } else if old.peer && !new.peer {
                Some(format!("isPeerRead of {id} went from true to false"))
            } else {
                match (old.unread, new.unread) {
                    (Some(a), Some(b)) if b > a => {
                        Some(format!("unreadCount of {id} rose from {a} to {b}"))
                    }
                    (Some(a), None) => {
                        Some(format!("unreadCount of {id} went from {a} to unknown"))
                    }
                    _ => None,
                }
            };
            if let Some(detail) = bad {
                return Err(Fail::new(Invariant::Monotone, detail));
            }
        }
        self.seen.insert(it.message_id.clone(), new);
        Ok(())
    }

    /// Opens (or reopens) the store and subscribes to all its events.
    pub(crate) fn open(&mut self, c: &mut Counters) -> Result<(), Fail> {
        c.store_ops += 1;
        let opts = OpenOptions::new().merge_mode(self.mode);
        let store = Store::open_with(&self.path, &self.user_id, opts)
            .map_err(|e| store_fail("open", &e))?;
        self.sub = Some(store.subscribe_with_capacity(Filter::All, EVENT_CAPACITY));
        self.store = Some(store);
        self.sent_at.clear();
        self.outbox_dirty = true;
        Ok(())
    }

    /// The process dies: the store and subscription are dropped on the spot.
    pub(crate) fn crash(&mut self) {
        self.sub = None;
        self.store = None;
        self.sent_at.clear();
    }

    /// Sets every group's roster as the server has it.
    pub(crate) fn set_rosters(
        &mut self,
        groups: &[SGroup],
        users: &[String],
        c: &mut Counters,
    ) -> Result<(), Fail> {
        for g in groups {
            let members: Vec<Member> = g
                .members
                .iter()
                .map(|(u, jt)| Member {
                    user_id: users[*u].clone(),
                    join_time: *jt,
                })
                .collect();
            self.call(c, "set_group", |s| s.set_group(&g.id, g.gtype, &members))?;
        }
        Ok(())
    }

    /// After a reopen: every receipt state the harness saw committed must
    /// still be there (pending or acked; none only after a rejection).
    pub(crate) fn verify_durable(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let want: Vec<(String, ReceiptSentState)> = self
            .tracked
            .iter()
            .filter(|(_, s)| **s > ReceiptSentState::None)
            .map(|(id, s)| (id.clone(), *s))
            .collect();
        for (id, want) in want {
            c.durability_checks += 1;
            let m = self.call(c, "find_message", |s| s.find_message(&id))?;
            let got = m.and_then(|m| m.receipt_sent_state);
            if got.is_none_or(|g| g < want) {
                return Err(Fail::new(
                    Invariant::Durability,
                    format!(
                        "receipt for {id} was {want:?} before the crash, {got:?} after reopening"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn note_messages(&mut self, msgs: &[crate::IncomingMessage]) {
        for m in msgs {
            if self.held.insert(m.id.clone()) && m.from != self.user_id {
                let conv = m.conversation_id.clone().unwrap_or_default();
                self.unread.entry(conv).or_default().insert(m.id.clone());
            }
        }
    }

    /// Applies one packet from the server.
    pub(crate) fn deliver(&mut self, p: Payload, c: &mut Counters) -> Result<(), Fail> {
        match p {
            Payload::Messages(ms) => {
                self.call(c, "save_messages", |s| s.save_messages(&ms))?;
                self.note_messages(&ms);
            }
            Payload::Notify(ns) => {
                c.notifications += ns.len() as u64;
                self.call(c, "apply_receipt_notifications", |s| {
                    s.apply_receipt_notifications(&ns)
                })?;
            }
            Payload::Snapshot(snap) => {
                c.snapshots += 1;
                self.call(c, "apply_snapshot", |s| s.apply_snapshot(&snap))?;
                self.note_messages(&snap.messages);
                for id in &snap.self_read {
                    if self.held.contains(id) {
                        self.tracked.insert(id.clone(), ReceiptSentState::Acked);
                    }
                }
            }
            Payload::Ack { batch_id, rejected } => self.ack(&batch_id, &rejected, c)?,
            Payload::Receipts { .. } | Payload::SyncRequest => {}
        }
        Ok(())
    }

    fn ack(&mut self, batch: &str, rejected: &[Rejection], c: &mut Counters) -> Result<(), Fail> {
        let ok = self.call(c, "ack_receipts", |s| s.ack_receipts(batch, rejected))?;
        if !ok {
            c.acks_repeated += 1;
            if self.live.contains_key(batch) {
                return Err(Fail::new(
                    Invariant::Outbox,
                    format!(
                        "ack_receipts ignored batch {batch}, which was handed out and not acked"
                    ),
                ));
            }
            return Ok(());
        }
        c.acks_applied += 1;
        self.sent_at.remove(batch);
        let Some((_, ids)) = self.live.remove(batch) else {
            return Err(Fail::new(
                Invariant::Outbox,
                format!("ack_receipts took batch {batch}, which was never handed out"),
            ));
        };
        for id in ids {
            let t = self
                .tracked
                .entry(id.clone())
                .or_insert(ReceiptSentState::None);
            if rejected.iter().any(|r| r.message_id == id) {
                if *t == ReceiptSentState::Pending {
                    *t = ReceiptSentState::None;
                }
            } else {
                *t = ReceiptSentState::Acked;
            }
        }
        Ok(())
    }

    /// Whether the device holds this message.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.held.contains(id)
    }

    /// Whether some held message is unread here.
    pub(crate) fn has_unread(&self) -> bool {
        self.unread.values().any(|s| !s.is_empty())
    }

    /// The user reads: one random conversation (some of its unread
    /// messages), or with `all` everything held and unread.
    pub(crate) fn read(&mut self, rng: &mut Rng, all: bool, c: &mut Counters) -> Result<(), Fail> {
        let convs: Vec<String> = self
            .unread
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        let chosen: Vec<String> = if all {
            convs
        } else {
            rng.pick(&convs).cloned().into_iter().collect()
        };
        for conv in chosen {
            let set = self.unread.entry(conv).or_default();
            let ids: Vec<String> = set.iter().cloned().collect();
            let take = if all {
                ids.len()
            } else {
                rng.range(1, ids.len() as u64) as usize
            };
            for chunk in ids[..take].chunks(crate::MAX_BATCH) {
                for id in chunk {
                    set.remove(id);
                }
            }
            for chunk in ids[..take].chunks(crate::MAX_BATCH) {
                let queued = self.call(c, "send_message_read_receipt", |s| {
                    s.send_message_read_receipt(chunk)
                })?;
                c.receipts_queued += queued.len() as u64;
                for q in queued {
                    if !chunk.contains(&q) {
                        return Err(Fail::new(
                            Invariant::Outbox,
                            format!(
                                "send_message_read_receipt queued {q}, which was not asked for"
                            ),
                        ));
                    }
                    self.tracked.insert(q, ReceiptSentState::Pending);
                    self.outbox_dirty = true;
                }
            }
            self.unread.retain(|_, s| !s.is_empty());
            if !all {
                break;
            }
        }
        Ok(())
    }

    /// Hands out pending batches when something is new or a batch is due a
    /// retry; returns the packets to send.
    pub(crate) fn flush_outbox(
        &mut self,
        now: u64,
        retry_after: u64,
        c: &mut Counters,
    ) -> Result<Vec<Packet>, Fail> {
        let due = |sent: Option<&u64>| sent.is_none_or(|t| now >= t + retry_after);
        let any_due = self.live.keys().any(|b| due(self.sent_at.get(b)));
        if !self.outbox_dirty && !any_due {
            return Ok(Vec::new());
        }
        let batches = self.call(c, "get_pending_receipts", |s| s.get_pending_receipts(None))?;
        self.outbox_dirty = false;
        self.check_batches(&batches)?;
        let mut out = Vec::new();
        for b in batches {
            if due(self.sent_at.get(&b.batch_id)) {
                self.sent_at.insert(b.batch_id.clone(), now);
                c.batches_sent += 1;
                out.push(Packet {
                    src: Node::Client(self.idx),
                    dst: Node::Server,
                    payload: Payload::Receipts {
                        batch_id: b.batch_id,
                        ids: b.message_ids,
                    },
                });
            }
        }
        Ok(out)
    }

    /// The outbox invariant: no ID twice, handed-out batches unchanged, none lost.
    fn check_batches(&mut self, batches: &[Batch]) -> Result<(), Fail> {
        let fail = |d: String| Err(Fail::new(Invariant::Outbox, d));
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for b in batches {
            if b.message_ids.is_empty() || b.message_ids.len() > crate::MAX_BATCH {
                return fail(format!(
                    "batch {} holds {} IDs",
                    b.batch_id,
                    b.message_ids.len()
                ));
            }
            for id in &b.message_ids {
                if let Some(other) = owner.insert(id, &b.batch_id) {
                    return fail(format!("{id} is in batches {other} and {}", b.batch_id));
                }
            }
            if let Some((conv, ids)) = self.live.get(&b.batch_id) {
                if *conv != b.conversation_id || *ids != b.message_ids {
                    return fail(format!(
                        "batch {} changed: was {conv} {ids:?}, now {} {:?}",
                        b.batch_id, b.conversation_id, b.message_ids
                    ));
                }
            }
        }
        let full = batches.len() >= BATCH_LIMIT;
        for (lb, (_, ids)) in &self.live {
            if batches.iter().any(|b| b.batch_id == *lb) {
                continue;
            }
            if !full {
                return fail(format!(
                    "batch {lb} {ids:?} was handed out, never acked, and is gone"
                ));
            }
            if let Some(id) = ids.iter().find(|id| owner.contains_key(id.as_str())) {
                return fail(format!("{id} is in live batch {lb} and in a new batch"));
            }
        }
        for b in batches {
            self.live
                .entry(b.batch_id.clone())
                .or_insert_with(|| (b.conversation_id.clone(), b.message_ids.clone()));
        }
        Ok(())
    }

    /// Receipts queued and not acked, per the store.
    pub(crate) fn pending(&mut self, c: &mut Counters) -> Result<u64, Fail> {
        self.call(c, "pending_receipt_count", |s| s.pending_receipt_count())
    }

    /// Batches handed out and not acked, per the harness.
    pub(crate) fn live_batches(&self) -> usize {
        self.live.len()
    }

    /// A sync request packet.
    pub(crate) fn sync_request(&self) -> Packet {
        Packet {
            src: Node::Client(self.idx),
            dst: Node::Server,
            payload: Payload::SyncRequest,
        }
    }
}
