//! Recalls as the clients see them (PROTOCOL.md, Recalled messages): the
//! server pushes each recall (`isRevoked: true` on a save) to the devices
//! of the message's recipients and marks it in every later snapshot. A
//! device records the receipt figures of its own recalled messages when
//! it learns of the recall; later notifications, snapshots and membership
//! changes must leave them exactly so. A receipt for a recalled message is
//! `MESSAGE_RECALLED`, which the read path takes as expected: it drops the
//! recalled messages and sends the rest. `--mutate recall-thaw` plants the
//! bug of a client whose displayed figures keep taking later news.
//!
//! This module holds what a device knows of recalls and the checks on
//! it; the store reads around them are `Client` methods (`client.rs`),
//! the final check is in `check.rs`.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{
    IncomingMessage, Message, ReadReceiptInfo, ReceiptNotification, SendReport, Snapshot,
};

use super::fail::Fail;
use super::report::{Counters, Invariant};
use super::seen::Seen;

type R<T> = std::result::Result<T, Fail>;

/// What one device knows of recalls.
#[derive(Debug, Default)]
pub(crate) struct RecallClient {
    /// Messages this device was told are recalled (kept across crashes:
    /// the store keeps the flag once the save returned).
    revoked: BTreeSet<String>,
    /// Own recalled messages that need a receipt: conversation and the
    /// figures the store held when the recall arrived.
    frozen: BTreeMap<String, (String, ReadReceiptInfo)>,
    /// `--mutate recall-thaw`: the figures shown for recalled messages
    /// keep joining what arrives later.
    pub thaw: bool,
    shown: BTreeMap<String, Seen>,
}

impl RecallClient {
    /// Whether this device was told `id` is recalled.
    pub fn knows(&self, id: &str) -> bool {
        self.revoked.contains(id)
    }

    /// A packet's figures for a recalled message reach the thawed display.
    fn thaw_with(&mut self, id: &str, read: Option<u64>, unread: Option<u64>, peer: Option<bool>) {
        let Some((_, info)) = self.frozen.get(id).filter(|_| self.thaw) else {
            return;
        };
        let old = self
            .shown
            .get(id)
            .copied()
            .unwrap_or_else(|| Seen::of(info));
        let unread = match (old.unread, unread) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let new = Seen {
            read: old.read.max(read.unwrap_or(0)),
            unread,
            peer: old.peer || peer.unwrap_or(false),
        };
        self.shown.insert(id.to_string(), new);
    }

    /// Whether the figures of `id` were frozen here (an own recalled
    /// message that needs a receipt).
    pub fn froze(&self, id: &str) -> bool {
        self.frozen.contains_key(id)
    }

    /// Messages a save or snapshot just told this device are recalled:
    /// each is recorded. Returns this user's own ones that need a receipt,
    /// by conversation: their figures are to be frozen as they are now
    /// ([`freeze`](Self::freeze)).
    pub fn learn(
        &mut self,
        user_id: &str,
        msgs: &[IncomingMessage],
        c: &mut Counters,
    ) -> BTreeMap<String, Vec<String>> {
        let mut own: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in msgs.iter().filter(|m| m.is_revoked) {
            if !self.revoked.insert(m.id.clone()) {
                continue;
            }
            c.recalls_learned += 1;
            if m.from == user_id && m.need_read_receipt {
                let conv = m.conversation_id.clone().unwrap_or_default();
                own.entry(conv).or_default().push(m.id.clone());
            }
        }
        own
    }

    /// Freezes the figures the store holds of `conv`'s own recalled
    /// messages (`list`, with their full receipt info).
    pub fn freeze(&mut self, conv: &str, list: Vec<Message>) {
        for m in list {
            if let Some(info) = m.read_receipt_info {
                self.frozen.insert(m.id, (conv.to_string(), info));
            }
        }
    }

    /// Notifications reach the thawed display; returns the recalled
    /// messages they name, whose figures must not have moved.
    pub fn after_notes(&mut self, ns: &[ReceiptNotification]) -> Vec<String> {
        let mut ids = Vec::new();
        for n in ns {
            if self.frozen.contains_key(&n.message_id) {
                self.thaw_with(&n.message_id, n.read_count, n.unread_count, n.is_peer_read);
                ids.push(n.message_id.clone());
            }
        }
        ids
    }

    /// A snapshot's figures reach the thawed display; returns the recalled
    /// messages known before it that it carries figures for, whose figures
    /// must not have moved (the recalls it brings are learned apart).
    pub fn after_snapshot(&mut self, snap: &Snapshot) -> Vec<String> {
        let ids: Vec<String> = snap
            .receipts
            .iter()
            .filter(|r| self.frozen.contains_key(&r.message_id))
            .map(|r| r.message_id.clone())
            .collect();
        for r in &snap.receipts {
            if self.frozen.contains_key(&r.message_id) {
                self.thaw_with(&r.message_id, r.read_count, r.unread_count, r.is_peer_read);
            }
        }
        ids
    }

    /// Every recalled message whose figures were frozen here.
    pub fn frozen_ids(&self) -> Vec<String> {
        self.frozen.keys().cloned().collect()
    }

    /// Those of `ids` whose figures were frozen, by conversation, each once.
    pub fn frozen_by_conv(&self, ids: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut by_conv: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in ids {
            if let Some((conv, _)) = self.frozen.get(id) {
                let v = by_conv.entry(conv.clone()).or_default();
                if !v.contains(id) {
                    v.push(id.clone());
                }
            }
        }
        by_conv
    }

    /// A recalled message as the store lists it now (`m`, with its full
    /// receipt info): its figures (shown, and the store's in full:
    /// delivered figures and read time too) are the frozen ones. A message
    /// not frozen here passes.
    pub fn check_frozen(&self, m: &Message) -> R<()> {
        let (Some(info), Some((_, want))) = (m.read_receipt_info, self.frozen.get(&m.id)) else {
            return Ok(());
        };
        let shown = match self.shown.get(&m.id) {
            Some(s) if self.thaw => *s,
            _ => Seen::of(&info),
        };
        let thawed = shown != Seen::of(want) || (!self.thaw && info != *want);
        if thawed {
            return Err(Fail::new(
                Invariant::Recalled,
                format!(
                    "{} is recalled: its figures moved after the recall reached this device, from {} (delivered {:?}, readTime {:?}) to {} (delivered {:?}, readTime {:?})",
                    m.id,
                    figures(&Seen::of(want)),
                    want.delivered_count,
                    want.read_time,
                    figures(&shown),
                    info.delivered_count,
                    info.read_time
                ),
            ));
        }
        Ok(())
    }

    /// `sendMessageReadReceipt` for `ask` answered `MESSAGE_RECALLED`
    /// (`text`): it must name a message this device knows is recalled.
    /// Returns the rest of `ask`, whose receipts are sent again.
    pub fn refused(&self, ask: &[String], text: &str, c: &mut Counters) -> R<Vec<String>> {
        c.recall_refusals += 1;
        if !ask
            .iter()
            .any(|id| self.knows(id) && text.contains(id.as_str()))
        {
            return Err(Fail::new(
                Invariant::Recalled,
                format!("sendMessageReadReceipt {ask:?} answered MESSAGE_RECALLED ({text}), but this device was never told that message was recalled"),
            ));
        }
        Ok(ask.iter().filter(|id| !self.knows(id)).cloned().collect())
    }

    /// Nothing `sendMessageReadReceipt` queued may be a known recall.
    pub fn check_queued(&self, rep: &SendReport) -> R<()> {
        match rep.queued.iter().find(|id| self.knows(id)) {
            Some(id) => Err(Fail::new(
                Invariant::Recalled,
                format!("sendMessageReadReceipt queued a receipt for {id}, which this device knows is recalled"),
            )),
            None => Ok(()),
        }
    }
}

fn figures(s: &Seen) -> String {
    let unread = s.unread.map_or_else(|| "null".into(), |u| u.to_string());
    format!(
        "readCount {}, unreadCount {unread}, isPeerRead {}",
        s.read, s.peer
    )
}
