//! A simulated client device: a real [`Store`] on its own file, the transport
//! loop that drives it, and the trackers behind the invariants checked while
//! running (monotone events, durable receipts, a sound outbox), and the
//! planted bugs of `--mutate tally` and `--mutate lww` (harness-side: the
//! store is never changed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::delivery::DeliveryState;
use super::fail::Fail;
use super::failed::FailedClient;
use super::ledger::LedgerGroup;
use super::marks::MarkClient;
use super::network::{Node, Packet, Payload, SyncPart};
use super::outbox::Outbox;
use super::recalls::RecallClient;
use super::report::{Counters, Invariant};
use super::rng::Rng;
use super::seen::{went_back, Seen};
use super::trace::{note, Trace};
use receiptdb::OpenOptions;
use receiptdb::{
    Error, EventKind, Filter, IncomingMessage, Member, Message, ReceiptItem, ReceiptSentState,
    Rejection, SendReport, Store, Subscription,
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
    /// Message IDs this device holds.
    held: BTreeSet<String>,
    /// Conversation → `in` messages held and not read here yet.
    unread: BTreeMap<String, BTreeSet<String>>,
    /// Last event figures per `out` message (kept across crashes).
    pub seen: BTreeMap<String, Seen>,
    /// Lowest receipt state each message must have (durability tracker).
    tracked: BTreeMap<String, ReceiptSentState>,
    /// Receipt batches handed out and not yet acked (`outbox.rs`).
    outbox: Outbox,
    /// Receipts were queued since the outbox was last read.
    pub outbox_dirty: bool,
    /// Held message ID → (conversation, sequence, `in`).
    info: BTreeMap<String, (String, i64, bool)>,
    /// The same `in` messages by conversation: sequence → how many, so the
    /// unread definition is a range count rather than a walk of `info`.
    in_seqs: BTreeMap<String, BTreeMap<i64, u64>>,
    /// With `--mutate tally`: the unread count this client reports per
    /// conversation, kept as a running tally.
    tally_mode: bool,
    tally: BTreeMap<String, u64>,
    /// Per conversation, the server version this client holds it up to.
    synced: BTreeMap<String, u64>,
    /// Parts applied of syncs not yet complete: (conversation, version) → parts.
    sync_parts: BTreeMap<(String, u64), BTreeSet<usize>>,
    /// With `--mutate lww`: the receipt figures this client displays per
    /// `out` message, cached the way a naive app caches server figures:
    /// every receipt notification and snapshot figure overwrites the last
    /// (last writer wins) instead of being joined (kept across crashes).
    lww_mode: bool,
    displayed: BTreeMap<String, Seen>,
    /// Highest read / peer read position seen per conversation (kept across
    /// crashes: positions never go down).
    read_seen: BTreeMap<String, (i64, i64)>,
    /// Read positions moved since the read reports were last read.
    pub read_dirty: bool,
    /// Step the read reports were last sent at (`None`: none outstanding).
    read_sent_at: Option<u64>,
    /// Round-robin cursor of the deep read-state check.
    deep_turn: usize,
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

fn store_fail(what: &str, e: &receiptdb::Error) -> Fail {
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
            held: BTreeSet::new(),
            unread: BTreeMap::new(),
            seen: BTreeMap::new(),
            tracked: BTreeMap::new(),
            outbox: Outbox::default(),
            outbox_dirty: false,
            info: BTreeMap::new(),
            in_seqs: BTreeMap::new(),
            tally_mode,
            tally: BTreeMap::new(),
            synced: BTreeMap::new(),
            sync_parts: BTreeMap::new(),
            lww_mode,
            displayed: BTreeMap::new(),
            read_seen: BTreeMap::new(),
            read_dirty: false,
            read_sent_at: None,
            deep_turn: 0,
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

    /// With `--mutate lww`: a packet's figures for `id` overwrite the
    /// displayed ones (a figure the packet leaves out keeps its value), and
    /// the displayed figures, like an event stream, must never go back.
    fn display(
        &mut self,
        id: &str,
        read: Option<u64>,
        unread: Option<u64>,
        peer: Option<bool>,
        c: &mut Counters,
    ) -> Result<(), Fail> {
        c.event_items += 1;
        let old = self.displayed.get(id).copied();
        let new = Seen {
            read: read.unwrap_or(old.map_or(0, |o| o.read)),
            unread: unread.or(old.and_then(|o| o.unread)),
            peer: peer.unwrap_or(old.is_some_and(|o| o.peer)),
        };
        if let Some(detail) = old.and_then(|old| went_back(id, &old, &new)) {
            return Err(Fail::new(Invariant::Monotone, detail));
        }
        self.displayed.insert(id.to_string(), new);
        Ok(())
    }

    /// The receipt figures this client shows for an `out` message: the
    /// store's (`store`), or with `--mutate lww` the displayed cache (the
    /// store's until a packet carried figures for it).
    pub(crate) fn shown_figures(&self, id: &str, store: Seen) -> Seen {
        match self.displayed.get(id) {
            Some(d) if self.lww_mode => *d,
            _ => store,
        }
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
        self.read_dirty = true;
        self.read_sent_at = None;
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
        self.read_sent_at = None;
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
            let conv = self.info.get(id).map(|i| i.0.clone()).unwrap_or_default();
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

    fn note_messages(&mut self, msgs: &[IncomingMessage]) {
        for m in msgs {
            if self.held.insert(m.id.clone()) {
                let conv = m.conversation_id.clone().unwrap_or_default();
                let incoming = m.from != self.user_id;
                self.info
                    .insert(m.id.clone(), (conv.clone(), m.sequence, incoming));
                if incoming {
                    let seqs = self.in_seqs.entry(conv.clone()).or_default();
                    *seqs.entry(m.sequence).or_insert(0) += 1;
                    *self.tally.entry(conv.clone()).or_insert(0) += 1;
                    self.unread.entry(conv).or_default().insert(m.id.clone());
                }
            }
        }
    }

    /// Applies one packet from the server.
    pub(crate) fn deliver(&mut self, p: Payload, c: &mut Counters) -> Result<(), Fail> {
        match p {
            Payload::Messages(ms) => {
                self.call(c, "save_messages", |s| s.save_messages(&ms))?;
                self.note_messages(&ms);
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
                if self.lww_mode {
                    for n in &ns {
                        self.display(
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
                    self.synced_part(&snap.conversation_id, p);
                }
                self.note_messages(&snap.messages);
                self.del.dirty |= !snap.messages.is_empty();
                self.del.observe_snapshot(&snap)?;
                self.mk.observe_snapshot(&snap);
                if self.lww_mode {
                    for r in &snap.receipts {
                        self.display(
                            &r.message_id,
                            r.read_count,
                            r.unread_count,
                            r.is_peer_read,
                            c,
                        )?;
                    }
                }
                for id in &snap.self_read {
                    if self.held.contains(id) {
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

    /// Messages a save or snapshot just told this device are recalled
    /// (`recalls.rs`): each is recorded, and the figures of its own ones
    /// frozen as they are now.
    fn learn_recalls(&mut self, msgs: &[IncomingMessage], c: &mut Counters) -> Result<(), Fail> {
        for (conv, ids) in self.rc.learn(&self.user_id, msgs, c) {
            let list = self.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list_with(&ids, true, true)
            })?;
            self.rc.freeze(&conv, list);
        }
        Ok(())
    }

    /// These recalled messages still show the figures frozen when the
    /// recall arrived (`recalls.rs`).
    pub(crate) fn check_frozen(&mut self, ids: &[String], c: &mut Counters) -> Result<(), Fail> {
        let by_conv = self.rc.frozen_by_conv(ids);
        self.check_receipts(&by_conv, c, |cl, m, c| {
            c.frozen_checks += 1;
            cl.rc.check_frozen(m)
        })
    }

    /// Every recalled message this device froze still shows those figures.
    pub(crate) fn check_recalls(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let ids = self.rc.frozen_ids();
        self.check_frozen(&ids, c)
    }

    /// Every failed send this device holds still looks as if nobody
    /// received it (`failed.rs`).
    pub(crate) fn check_failed(&mut self, c: &mut Counters) -> Result<(), Fail> {
        let by_conv = self.fs.by_conv();
        self.check_receipts(&by_conv, c, |cl, m, c| {
            c.failed_checks += 1;
            cl.fs.check_held(m)
        })
    }

    /// Reads these messages with their full receipt info (per
    /// conversation, a hundred at a time) and checks each with `check`.
    fn check_receipts(
        &mut self,
        by_conv: &BTreeMap<String, Vec<String>>,
        c: &mut Counters,
        check: impl Fn(&Client, &Message, &mut Counters) -> Result<(), Fail>,
    ) -> Result<(), Fail> {
        for ids in by_conv.values() {
            for chunk in ids.chunks(100) {
                let list = self.call(c, "get_message_read_receipt_list", |s| {
                    s.get_message_read_receipt_list_with(chunk, true, true)
                })?;
                for m in &list {
                    check(self, m, c)?;
                }
            }
        }
        Ok(())
    }

    /// `sendMessageReadReceipt` for `ask`, with `MESSAGE_RECALLED` taken as
    /// expected (`recalls.rs`): the receipts for the others are sent again
    /// without the recalled ones.
    fn send_receipts(&mut self, ask: &[String], c: &mut Counters) -> Result<SendReport, Fail> {
        let first = self.call_raw(c, "send_message_read_receipt", |s| {
            s.send_message_read_receipt_report(ask)
        })?;
        let rep = match first {
            Ok(rep) => rep,
            Err(Error::MessageRecalled(text)) => {
                let rest = self.rc.refused(ask, &text, c)?;
                if rest.is_empty() {
                    return Ok(SendReport::default());
                }
                self.call(c, "send_message_read_receipt", |s| {
                    s.send_message_read_receipt_report(&rest)
                })?
            }
            Err(e) => return Err(store_fail("send_message_read_receipt", &e)),
        };
        self.rc.check_queued(&rep)?;
        Ok(rep)
    }

    /// The highest sequence this device holds in `conv` (0: none).
    pub(crate) fn highest_sequence(&self, conv: &str) -> i64 {
        self.info
            .values()
            .filter(|i| i.0 == conv)
            .map(|i| i.1)
            .max()
            .unwrap_or(0)
    }

    /// Whether the device holds this message.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.held.contains(id)
    }

    /// Whether `sendMessageReadReceipt` ever queued a receipt for `id` here.
    pub(crate) fn ever_queued(&self, id: &str) -> bool {
        self.ever_queued.contains(id)
    }

    /// Conversations this device holds messages of.
    pub(crate) fn held_conversations(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.info.values().map(|i| &i.0).collect();
        set.into_iter().cloned().collect()
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
            let set = self.unread.entry(conv.clone()).or_default();
            let ids: Vec<String> = set.iter().cloned().collect();
            let take = if all {
                ids.len()
            } else {
                rng.range(1, ids.len() as u64) as usize
            };
            for chunk in ids[..take].chunks(receiptdb::MAX_BATCH) {
                for id in chunk {
                    set.remove(id);
                }
            }
            for chunk in ids[..take].chunks(receiptdb::MAX_BATCH) {
                let ask = self.fs.with_failed(&conv, chunk, c);
                let rep = self.send_receipts(&ask, c)?;
                self.fs.check_report(&rep)?;
                let queued = self.mk.check_private(&conv, rep, c)?;
                c.receipts_queued += queued.len() as u64;
                for q in queued {
                    self.ever_queued.insert(q.clone());
                    if !ask.contains(&q) {
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
                // The user also marks the conversation read, sometimes up to
                // the last message read, sometimes up to the newest held.
                let top = ids[..take]
                    .iter()
                    .filter_map(|id| self.info.get(id).map(|i| i.1))
                    .max();
                match rng.index(10) {
                    0..=3 => self.mark(&conv, top, c)?,
                    4 | 5 => self.mark(&conv, None, c)?,
                    6 => self.mark_all(c)?,
                    _ => {}
                }
                break;
            }
        }
        if all {
            self.mark_all(c)?;
        }
        Ok(())
    }

    /// `setMessageRead` on one conversation (the tally forgets it).
    pub(crate) fn mark(
        &mut self,
        conv: &str,
        sequence: Option<i64>,
        c: &mut Counters,
    ) -> Result<(), Fail> {
        c.marks += 1;
        self.call(c, "set_message_read", |s| {
            s.set_message_read(conv, sequence)
        })?;
        self.tally.insert(conv.to_string(), 0);
        self.read_dirty = true;
        self.marks_after_local(&[conv.to_string()], c)
    }

    /// `setAllMessageRead` (every tally goes to 0).
    pub(crate) fn mark_all(&mut self, c: &mut Counters) -> Result<(), Fail> {
        c.marks += 1;
        self.call(c, "set_all_message_read", |s| s.set_all_message_read())?;
        self.tally.values_mut().for_each(|t| *t = 0);
        self.read_dirty = true;
        let cached = self.mk.cached();
        self.marks_after_local(&cached, c)
    }

    /// After a local read or mark of `convs`: the mutated cache takes what
    /// the store shows now (`marks.rs`).
    pub(crate) fn marks_after_local(
        &mut self,
        convs: &[String],
        c: &mut Counters,
    ) -> Result<(), Fail> {
        if !self.mk.arrival {
            return Ok(());
        }
        for conv in convs {
            let cv = self.call(c, "get_conversation", |s| s.get_conversation(conv))?;
            self.mk.local(conv, cv.marked_unread);
        }
        Ok(())
    }

    /// The conversation of the newest held `in` message, if any.
    pub(crate) fn newest_in_conversation(&self) -> Option<String> {
        self.info
            .values()
            .filter(|i| i.2)
            .max_by_key(|i| i.1)
            .map(|i| i.0.clone())
    }

    /// Sends the pending read reports when a position moved or the last
    /// send is due a retry; returns the packet.
    pub(crate) fn flush_read_reports(
        &mut self,
        now: u64,
        retry_after: u64,
        c: &mut Counters,
    ) -> Result<Option<Packet>, Fail> {
        let due = self.read_sent_at.is_some_and(|t| now >= t + retry_after);
        if !self.read_dirty && !due {
            return Ok(None);
        }
        let reports = self.call(c, "get_pending_read_reports", |s| {
            s.get_pending_read_reports()
        })?;
        self.read_dirty = false;
        if reports.is_empty() {
            self.read_sent_at = None;
            return Ok(None);
        }
        self.read_sent_at = Some(now);
        c.read_reports_sent += reports.len() as u64;
        Ok(Some(Packet {
            src: Node::Client(self.idx),
            dst: Node::Server,
            payload: Payload::ReadReports(reports),
        }))
    }

    /// Mark reports not acked, per the store.
    pub(crate) fn mark_pending(&mut self, c: &mut Counters) -> Result<usize, Fail> {
        Ok(self
            .call(c, "get_pending_mark_reports", |s| {
                s.get_pending_mark_reports()
            })?
            .len())
    }

    /// Read reports not acked, per the store.
    pub(crate) fn read_pending(&mut self, c: &mut Counters) -> Result<usize, Fail> {
        Ok(self
            .call(c, "get_pending_read_reports", |s| {
                s.get_pending_read_reports()
            })?
            .len())
    }

    /// The unread count this client reports: the store's, or with
    /// `--mutate tally` its running tally.
    pub(crate) fn reported_unread(&self, conv: &str, store: u64) -> u64 {
        let failed = self.fs.extra_unread(conv);
        if self.tally_mode {
            self.tally.get(conv).copied().unwrap_or(0) + failed
        } else {
            store + failed
        }
    }

    /// The unread count by definition, from the messages the harness saw
    /// the store take: held `in` messages above `read_sequence`.
    fn unread_by_definition(&self, conv: &str, read_sequence: i64) -> u64 {
        use std::ops::Bound::{Excluded, Unbounded};
        self.in_seqs.get(conv).map_or(0, |seqs| {
            seqs.range((Excluded(read_sequence), Unbounded))
                .map(|(_, n)| n)
                .sum()
        })
    }

    /// Read state invariants, checked after every step of a running client:
    /// every conversation's reported unread count equals its definition,
    /// the total equals the sum, read positions never go down; when `deep`,
    /// one conversation (in turn) is recounted from the store's own
    /// messages (`getMessageList`).
    pub(crate) fn check_read_state(&mut self, deep: bool, c: &mut Counters) -> Result<(), Fail> {
        let fail = |d: String| Err(Fail::new(Invariant::ReadState, d));
        let mut convs = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.call(c, "get_conversation_list", |s| {
                s.get_conversation_list(Some(&cursor), Some(100))
            })?;
            convs.extend(page.conversation_list);
            if page.is_completed || page.cursor.is_empty() {
                break;
            }
            cursor = page.cursor;
        }
        let mut sum = 0;
        for cv in &convs {
            c.read_state_checks += 1;
            let id = &cv.conversation_id;
            let peer = cv.peer_read_sequence.unwrap_or(0);
            let (old, old_peer) = self.read_seen.get(id).copied().unwrap_or((0, 0));
            if cv.read_sequence < old {
                return fail(format!(
                    "readSequence of {id} fell from {old} to {}",
                    cv.read_sequence
                ));
            }
            if peer < old_peer {
                return fail(format!(
                    "peerReadSequence of {id} fell from {old_peer} to {peer}"
                ));
            }
            self.read_seen.insert(id.clone(), (cv.read_sequence, peer));
            let want = self.unread_by_definition(id, cv.read_sequence);
            let got = self.reported_unread(id, cv.unread_count);
            if got != want {
                return fail(format!(
                    "unreadCount of {id} is {got}, but {want} held in messages are above readSequence {}",
                    cv.read_sequence
                ));
            }
            sum += cv.unread_count;
        }
        let total = self.call(c, "get_total_unread_message_count", |s| {
            s.get_total_unread_message_count()
        })?;
        if total != sum {
            return fail(format!(
                "total unread is {total}, the conversations sum to {sum}"
            ));
        }
        if deep && !convs.is_empty() {
            self.deep_turn = (self.deep_turn + 1) % convs.len();
            let cv = &convs[self.deep_turn];
            let msgs = message_list(self, &cv.conversation_id, c)?;
            let want = msgs
                .iter()
                .filter(|m| {
                    m.flow == receiptdb::Flow::In
                        && m.status == receiptdb::MessageStatus::Success
                        && m.sequence > cv.read_sequence
                })
                .count() as u64;
            let got = self.reported_unread(&cv.conversation_id, cv.unread_count);
            if got != want {
                return fail(format!(
                    "unreadCount of {} is {got}, but getMessageList holds {want} in messages above readSequence {}",
                    cv.conversation_id, cv.read_sequence
                ));
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
            payload: Payload::SyncRequest(self.synced.clone()),
        }
    }

    /// Part of a sync's answer was applied: once every part of it is, the
    /// conversation is held up to the sync's version. Parts lost or late
    /// keep the old version, so the next sync sends them again.
    fn synced_part(&mut self, conv: &str, p: SyncPart) {
        let key = (conv.to_string(), p.upto);
        let parts = self.sync_parts.entry(key.clone()).or_default();
        parts.insert(p.part);
        if parts.len() >= p.parts {
            self.sync_parts.remove(&key);
            let v = self.synced.entry(conv.to_string()).or_insert(0);
            *v = (*v).max(p.upto);
            // Older syncs of this conversation can no longer advance it.
            self.sync_parts
                .retain(|(c, upto), _| c != conv || *upto > p.upto);
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
