//! The reference server's read state beyond the seed (PROTOCOL.md,
//! Delivered and read, Read times, Private reading, Unread marks): who
//! received each message, when each reader first read it, the positions a
//! C2C peer may see, and each user's unread-mark registers. Kept apart from
//! `server.rs` so each stays readable; ordered maps only.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{MarkReport, PushedReadReport, ReaderTime, ReceiptNotification, SnapshotReceipt};

use super::ledger::{Ledger, LedgerMessage};
use super::protocol::MarkState;

/// What the reference server knows beyond readers and read positions.
#[derive(Debug, Default)]
pub(crate) struct Beyond {
    /// Message number → users who received it (a delivery ack).
    pub delivered: Vec<BTreeSet<usize>>,
    /// Message number → reader → when the server took their first receipt.
    pub read_times: Vec<BTreeMap<usize, i64>>,
    /// (user, conversation) → position from reports that were not private.
    pub public_pos: BTreeMap<(usize, String), i64>,
    /// (user, conversation) → unread-mark registers.
    pub marks: BTreeMap<(usize, String), MarkState>,
}

impl Beyond {
    /// A new message: nobody received or read it yet.
    pub fn push_message(&mut self) {
        self.delivered.push(BTreeSet::new());
        self.read_times.push(BTreeMap::new());
    }

    /// Receivers and readers: a reader counts as delivered.
    pub fn receivers(&self, idx: usize, readers: &BTreeSet<usize>) -> BTreeSet<usize> {
        self.delivered[idx].union(readers).copied().collect()
    }

    /// A reader's first receipt: its time is kept (the earliest wins).
    pub fn stamp(&mut self, idx: usize, user: usize, time: i64) {
        self.read_times[idx].entry(user).or_insert(time);
    }

    /// The delivered figures of a notification or snapshot receipt:
    /// (`deliveredIDs`, `deliveredCount`, `isPeerDelivered`).
    fn figures(
        &self,
        l: &Ledger,
        m: &LedgerMessage,
        idx: usize,
        readers: &BTreeSet<usize>,
    ) -> (Vec<String>, u64, Option<bool>) {
        let all = self.receivers(idx, readers);
        let ids = all.iter().map(|u| l.users[*u].clone()).collect();
        let peer = m.to.map(|p| all.contains(&p));
        let count = match peer {
            Some(p) => u64::from(p),
            None => l.read_list(m, &all).len() as u64,
        };
        (ids, count, peer)
    }

    /// The notification the sender's devices get when `user` received `m`.
    pub fn delivery_note(
        &self,
        l: &Ledger,
        idx: usize,
        readers: &BTreeSet<usize>,
        user: usize,
    ) -> ReceiptNotification {
        let m = &l.msgs[idx];
        let (_, count, peer) = self.figures(l, m, idx, readers);
        let mut n = ReceiptNotification {
            message_id: m.id.clone(),
            delivered_ids: Some(vec![l.users[user].clone()]),
            delivered_count: Some(count),
            is_peer_delivered: peer,
            ..Default::default()
        };
        match m.group {
            Some(g) => n.group_id = Some(l.groups[g].id.clone()),
            None => n.conversation_id = Some(l.conv_for(m, m.from)),
        }
        n
    }

    /// Adds the delivered figures and read times to a snapshot receipt.
    pub fn fill_receipt(
        &self,
        l: &Ledger,
        idx: usize,
        readers: &BTreeSet<usize>,
        r: &mut SnapshotReceipt,
    ) {
        let m = &l.msgs[idx];
        let (ids, count, peer) = self.figures(l, m, idx, readers);
        r.delivered_ids = Some(ids);
        r.delivered_count = Some(count);
        r.is_peer_delivered = peer;
        let times: Vec<ReaderTime> = self.read_times[idx]
            .iter()
            .map(|(u, t)| ReaderTime {
                user_id: l.users[*u].clone(),
                read_time: *t,
            })
            .collect();
        r.read_times = (!times.is_empty()).then_some(times);
    }

    /// Joins a device's mark reports; returns the pushes for the user's
    /// other devices (one per conversation whose register changed).
    pub fn take_marks(&mut self, user: usize, reports: &[MarkReport]) -> Vec<PushedReadReport> {
        let mut out = Vec::new();
        for r in reports {
            let reg = self
                .marks
                .entry((user, r.conversation_id.clone()))
                .or_default();
            if reg.join_mark(r.marked, r.mark_time) {
                out.push(PushedReadReport {
                    conversation_id: r.conversation_id.clone(),
                    marked: Some(r.marked),
                    mark_time: Some(r.mark_time),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// Joins a read to the end at `t`; whether the register rose.
    pub fn raise_read_time(&mut self, user: usize, conv: &str, t: i64) -> bool {
        let reg = self.marks.entry((user, conv.to_string())).or_default();
        if t > reg.read_time {
            reg.read_time = t;
            return true;
        }
        false
    }

    /// The registers of `user` in `conv` (zeros when none).
    pub fn mark_of(&self, user: usize, conv: &str) -> MarkState {
        self.marks
            .get(&(user, conv.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// The position of `user` in `conv` the C2C peer may see.
    pub fn public_position(&self, user: usize, conv: &str) -> i64 {
        self.public_pos
            .get(&(user, conv.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Raises the position the peer may see; whether it moved.
    pub fn raise_public(&mut self, user: usize, conv: &str, pos: i64) -> bool {
        let p = self.public_pos.entry((user, conv.to_string())).or_insert(0);
        let moved = pos > *p;
        *p = (*p).max(pos);
        moved
    }
}
