//! A simulated client device: a real [`Store`] on its own file, the transport
//! loop that drives it (server packets applied, outbox batches handed out,
//! syncs), and the trackers behind the invariants checked while running
//! (monotone events, durable receipts, a sound outbox). Each feature's
//! per-device state is a field of its own type (`read_state.rs`,
//! `sync_state.rs`, `outbox.rs`, `lww_display.rs`, …); the user reading is
//! in `reading.rs`, failed sends and recalls as the device meets them in
//! `failed_recalled.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::delivery::DeliveryState;
use super::fail::Fail;
use super::failed::FailedClient;
use super::ledger::LedgerGroup;
use super::lww_display::LwwDisplay;
use super::marks::MarkClient;
use super::network::{Node, Packet, Payload};
use super::outbox::Outbox;
use super::read_state::ReadState;
use super::recalls::RecallClient;
use super::report::{Counters, Invariant};
use super::seen::{went_back, Seen};
use super::sync_state::SyncState;
use super::trace::{note, Trace};
use receiptdb::OpenOptions;
use receiptdb::{
    EventKind, Filter, Member, Message, ReceiptItem, ReceiptSentState, Rejection, Store,
    Subscription,
};
use serde_json::json;

/// Capacity of a client's event subscription; it is drained after every call.
const EVENT_CAPACITY: usize = 4096;

/// One device.
pub(crate) struct Client {
    pub idx: usize,
    pub user: usize,
    pub user_id: String,
    pub name: String,
    path: PathBuf,
    store: Option<Store>,
    sub: Option<Subscription>,
    /// Crashed: reopens at this step.
    pub down_until: Option<u64>,
    /// Offline until this step.
    pub offline_until: u64,
    /// Messages held and how far they are read (`read_state.rs`).
    pub(crate) reads: ReadState,
    /// Last event figures per `out` message (kept across crashes).
    pub seen: BTreeMap<String, Seen>,
    /// Lowest receipt state each message must have (durability tracker).
    tracked: BTreeMap<String, ReceiptSentState>,
    /// Receipt batches handed out and not yet acked (`outbox.rs`).
    outbox: Outbox,
    /// Receipts were queued since the outbox was last read.
    pub outbox_dirty: bool,
    /// How far each conversation is synced (`sync_state.rs`).
    syncs: SyncState,
    /// What `--mutate lww` displays (`lww_display.rs`).
    pub(crate) lww: LwwDisplay,
    /// Where store calls and events are traced, when tracing.
    pub(crate) trace: Trace,
    /// Delivery acks and read times (`delivery.rs`).
    pub(crate) del: DeliveryState,
    /// Unread marks and private reading (`marks.rs`).
    pub(crate) mk: MarkClient,
    /// Every receipt `sendMessageReadReceipt` ever queued here.
    ever_queued: BTreeSet<String>,
    /// Failed sends this device holds (`failed.rs`).
    pub(crate) fs: FailedClient,
    /// Recalls this device learned of (`recalls.rs`).
    pub(crate) rc: RecallClient,
}

pub(crate) fn store_fail(what: &str, e: &receiptdb::Error) -> Fail {
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
        tally_mode: bool,
        lww_mode: bool,
    ) -> Client {
        Client {
            idx,
            user,
            user_id,
            name,
            path,
            store: None,
            sub: None,
            down_until: None,
            offline_until: 0,
            reads: ReadState::new(tally_mode),
            seen: BTreeMap::new(),
            tracked: BTreeMap::new(),
            outbox: Outbox::default(),
            outbox_dirty: false,
            syncs: SyncState::default(),
            lww: LwwDisplay::new(lww_mode),
            trace: None,
            del: DeliveryState::default(),
            mk: MarkClient::default(),
            ever_queued: BTreeSet::new(),
            fs: FailedClient::default(),
            rc: RecallClient::default(),
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
        f: impl FnOnce(&Store) -> receiptdb::Result<T>,
    ) -> Result<T, Fail> {
        self.call_raw(c, what, f)?.map_err(|e| store_fail(what, &e))
    }

    /// [`call`](Self::call) for a call whose error may be expected: the
    /// store's answer as it is (a down client or a bad event still fail).
    pub(crate) fn call_raw<T>(
        &mut self,
        c: &mut Counters,
        what: &str,
        f: impl FnOnce(&Store) -> receiptdb::Result<T>,
    ) -> Result<receiptdb::Result<T>, Fail> {
        let store = self.store()?;
        c.store_ops += 1;
        let out = f(store);
        note(&self.trace, || match &out {
            Ok(_) => json!({"kind": "call", "client": self.name, "call": what, "ok": true}),
            Err(e) => json!({"kind": "call", "client": self.name, "call": what, "ok": false,
                             "error": format!("{} ({e})", e.name())}),
        });
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
        self.fs.check_event(&it.message_id)?;
        let new = Seen {
            read: it.read_count,
            unread: it.unread_count,
            peer: it.is_peer_read,
        };
        note(&self.trace, || {
            json!({"kind": "event", "client": self.name, "messages": [it.message_id],
                   "readCount": it.read_count, "unreadCount": it.unread_count, "isPeerRead": it.is_peer_read})
        });
        if let Some(old) = self.seen.get(&it.message_id) {
            if let Some(detail) = went_back(&it.message_id, old, &new) {
                return Err(Fail::new(Invariant::Monotone, detail));
            }
        }
        self.seen.insert(it.message_id.clone(), new);
        Ok(())
    }

    /// Opens (or reopens) the store and subscribes to all its events.
    pub(crate) fn open(&mut self, c: &mut Counters) -> Result<(), Fail> {
        c.store_ops += 1;
        let store = Store::open_with(&self.path, &self.user_id, OpenOptions::new())
            .map_err(|e| store_fail("open", &e))?;
        self.sub = Some(store.subscribe_with_capacity(Filter::All, EVENT_CAPACITY));
        self.store = Some(store);
        self.outbox.crash();
        self.outbox_dirty = true;
        self.reads.dirty = true;
        self.reads.crash();
        self.del.crash();
        self.mk.crash();
        Ok(())
    }

    /// The process dies: the store and subscription are dropped on the spot.
    pub(crate) fn crash(&mut self) {
        self.sub = None;
        self.store = None;
        // The sync versions stay: they only advance after their snapshots
        // committed, as if kept in the store with them.
        self.outbox.crash();
        self.reads.crash();
        self.del.crash();
        self.mk.crash();
    }

    /// Sets every group's roster as the server has it.
    pub(crate) fn set_rosters(
        &mut self,
        groups: &[LedgerGroup],
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
    /// Read a conversation's hundred at a time; a chunk the store refuses
    /// (a message gone) is read one by one, to name the message.
    pub(crate) fn verify_durable(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let mut by_conv: BTreeMap<String, Vec<(String, ReceiptSentState)>> = BTreeMap::new();
        for (id, s) in self
            .tracked
            .iter()
            .filter(|(_, s)| **s > ReceiptSentState::None)
        {
            let conv = self.reads.conversation_of(id);
            by_conv.entry(conv).or_default().push((id.clone(), *s));
        }
        for (conv, want) in by_conv {
            for chunk in want.chunks(100) {
                let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
                let got = if conv.is_empty() {
                    None
                } else {
                    self.call(c, "get_message_read_receipt_list", |s| {
                        s.get_message_read_receipt_list(&ids)
                    })
                    .ok()
                    .filter(|list| list.len() == ids.len())
                };
                let got = match got {
                    Some(list) => list.into_iter().map(|m| m.receipt_sent_state).collect(),
                    None => {
                        let mut one = Vec::with_capacity(ids.len());
                        for id in &ids {
                            let m = self.call(c, "find_message", |s| s.find_message(id))?;
                            one.push(m.and_then(|m| m.receipt_sent_state));
                        }
                        one
                    }
                };
                for ((id, want), got) in chunk.iter().zip(got) {
                    c.durability_checks += 1;
                    if got.is_none_or(|g| g < *want) {
                        return Err(Fail::new(
                            Invariant::Durability,
                            format!(
                                "receipt for {id} was {} before the crash, {} after reopening",
                                crate::report::state_name(Some(*want)),
                                crate::report::state_name(got)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies one packet from the server.
    pub(crate) fn deliver(&mut self, p: Payload, c: &mut Counters) -> Result<(), Fail> {
        match p {
            Payload::Messages(ms) => {
                self.call(c, "save_messages", |s| s.save_messages(&ms))?;
                self.reads.note(&self.user_id, &ms);
                self.del.dirty |= ms.iter().any(|m| m.from != self.user_id);
                self.learn_recalls(&ms, c)?;
            }
            Payload::Notify(ns) => {
                c.notifications += ns.len() as u64;
                self.call(c, "apply_receipt_notifications", |s| {
                    s.apply_receipt_notifications(&ns)
                })?;
                self.del.observe_notes(&ns)?;
                let ids = self.rc.after_notes(&ns);
                self.check_frozen(&ids, c)?;
                if self.lww.on {
                    for n in &ns {
                        self.lww.overwrite(
                            &n.message_id,
                            n.read_count,
                            n.unread_count,
                            n.is_peer_read,
                            c,
                        )?;
                    }
                }
            }
            Payload::Snapshot(snap, part) => {
                c.snapshots += 1;
                self.call(c, "apply_snapshot", |s| s.apply_snapshot(&snap))?;
                if let Some(p) = part {
                    self.syncs.applied(&snap.conversation_id, p);
                }
                self.reads.note(&self.user_id, &snap.messages);
                self.del.dirty |= !snap.messages.is_empty();
                self.del.observe_snapshot(&snap)?;
                self.mk.observe_snapshot(&snap);
                if self.lww.on {
                    for r in &snap.receipts {
                        self.lww.overwrite(
                            &r.message_id,
                            r.read_count,
                            r.unread_count,
                            r.is_peer_read,
                            c,
                        )?;
                    }
                }
                for id in &snap.self_read {
                    if self.reads.holds(id) {
                        self.tracked.insert(id.clone(), ReceiptSentState::Acked);
                    }
                }
                // Known before this snapshot: what it brings must not move them.
                let ids = self.rc.after_snapshot(&snap);
                self.learn_recalls(&snap.messages, c)?;
                self.check_frozen(&ids, c)?;
            }
            Payload::Ack { batch_id, rejected } => self.ack(&batch_id, &rejected, c)?,
            Payload::ReadAck(rs) => {
                let n = self.call(c, "ack_read_reports", |s| s.ack_read_reports(&rs))?;
                c.read_acks += n;
            }
            Payload::ReadPush(rs) => {
                c.read_pushes += rs.len() as u64;
                self.call(c, "apply_read_reports", |s| s.apply_read_reports(&rs))?;
                self.mk.observe_push(&rs);
            }
            Payload::DeliveryAck(b) => {
                let ok = self.call(c, "ack_delivery_receipts", |s| s.ack_delivery_receipts(&b))?;
                self.del.acked(&b, ok, c)?;
            }
            Payload::MarkAck(rs) => {
                c.mark_acks += self.call(c, "ack_mark_reports", |s| s.ack_mark_reports(&rs))?;
            }
            Payload::Receipts { .. }
            | Payload::SyncRequest(_)
            | Payload::ReadReports(_)
            | Payload::Deliveries { .. }
            | Payload::MarkReports(_) => {}
        }
        Ok(())
    }

    fn ack(&mut self, batch: &str, rejected: &[Rejection], c: &mut Counters) -> Result<(), Fail> {
        let ok = self.call(c, "ack_receipts", |s| s.ack_receipts(batch, rejected))?;
        if !ok {
            c.acks_repeated += 1;
            if self.outbox.is_live(batch) {
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
        let Some(ids) = self.outbox.acked(batch) else {
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

    /// `sendMessageReadReceipt` queued these receipts for `ask`: each must
    /// have been asked for, and is now pending (the outbox has news).
    pub(crate) fn queued(
        &mut self,
        ask: &[String],
        queued: Vec<String>,
        c: &mut Counters,
    ) -> Result<(), Fail> {
        c.receipts_queued += queued.len() as u64;
        for q in queued {
            self.ever_queued.insert(q.clone());
            if !ask.contains(&q) {
                return Err(Fail::new(
                    Invariant::Outbox,
                    format!("send_message_read_receipt queued {q}, which was not asked for"),
                ));
            }
            self.tracked.insert(q, ReceiptSentState::Pending);
            self.outbox_dirty = true;
        }
        Ok(())
    }

    /// Whether `sendMessageReadReceipt` ever queued a receipt for `id` here.
    pub(crate) fn ever_queued(&self, id: &str) -> bool {
        self.ever_queued.contains(id)
    }

    /// Hands out pending batches when something is new or a batch is due a
    /// retry; returns the packets to send.
    pub(crate) fn flush_outbox(
        &mut self,
        now: u64,
        retry_after: u64,
        c: &mut Counters,
    ) -> Result<Vec<Packet>, Fail> {
        let any_due = self.outbox.due(now, retry_after);
        let deliveries = self.del.dirty || self.del.due(now, retry_after);
        if !self.outbox_dirty && !any_due && !deliveries {
            return Ok(Vec::new());
        }
        // One call hands out receipts and delivery acks alike.
        let pending = self.call(c, "get_pending", |s| s.get_pending(None))?;
        self.fs.check_outbox(&pending)?;
        let batches = pending.batches;
        self.outbox_dirty = false;
        self.outbox.check(&batches)?;
        let mut out = self
            .del
            .hand_out(self.idx, pending.delivery_batches, now, retry_after, c)?;
        for b in batches {
            if self.outbox.send_now(&b.batch_id, now, retry_after) {
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

    /// Receipts queued and not acked, per the store.
    pub(crate) fn pending(&mut self, c: &mut Counters) -> Result<u64, Fail> {
        self.call(c, "pending_receipt_count", |s| s.pending_receipt_count())
    }

    /// Batches handed out and not acked, per the harness.
    pub(crate) fn live_batches(&self) -> usize {
        self.outbox.live()
    }

    /// A sync request packet: per conversation, the version this client
    /// holds everything up to (what only changed later is sent).
    pub(crate) fn sync_request(&self) -> Packet {
        Packet {
            src: Node::Client(self.idx),
            dst: Node::Server,
            payload: Payload::SyncRequest(self.syncs.since()),
        }
    }
}

/// Every message of a conversation, oldest first (`getMessageList`, paged).
pub(crate) fn message_list(
    cl: &mut Client,
    conv: &str,
    c: &mut Counters,
) -> Result<Vec<Message>, Fail> {
    let mut all: Vec<Message> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = cl.call(c, "get_message_list", |s| {
            s.get_message_list(conv, next.as_deref(), Some(100))
        })?;
        let mut list = page.message_list;
        list.append(&mut all);
        all = list;
        if page.is_completed || page.next_req_message_id.is_empty() {
            return Ok(all);
        }
        next = Some(page.next_req_message_id);
    }
}
