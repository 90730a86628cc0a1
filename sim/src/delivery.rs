//! A client's deliveries and read times (PROTOCOL.md, Delivered and read,
//! Read times): its delivery-ack outbox (handed out by `getPendingReceipts`
//! as `deliveryBatches`, settled by `ackDeliveryReceipts`), the figures it
//! shows, their one-way checks, and the planted bugs `--mutate
//! delivered-lww` and `--mutate readtime-latest` (harness-side caches; the
//! store is never changed). The comparison with the server is in
//! `delivery_check.rs`.

use std::collections::BTreeMap;

use receiptdb::{Batch, ReadReceiptInfo, ReceiptNotification, Snapshot};

use super::fail::Fail;
use super::network::{Node, Packet, Payload};
use super::outbox::BATCH_LIMIT;
use super::report::{Counters, Invariant};

/// Delivered figures of an `out` message: `deliveredCount`, `isPeerDelivered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub count: u64,
    pub peer: bool,
}

impl Delivered {
    /// A message's delivered figures as the store holds them.
    pub(crate) fn of(info: &ReadReceiptInfo) -> Delivered {
        Delivered {
            count: info.delivered_count.unwrap_or(0),
            peer: info.is_peer_delivered.unwrap_or(false),
        }
    }
}

/// What one client keeps about deliveries and read times.
#[derive(Debug, Default)]
pub(crate) struct DeliveryState {
    /// Delivery batches handed out and not acked: ID → message IDs.
    live: BTreeMap<String, Vec<String>>,
    /// Step each live batch was last sent at (forgotten in a crash).
    sent_at: BTreeMap<String, u64>,
    /// A message that needs a delivery ack was saved since the last look.
    pub dirty: bool,
    /// Highest delivered figures seen per `out` message (kept across crashes).
    seen: BTreeMap<String, Delivered>,
    /// Read time seen per (message, reader) (kept across crashes).
    times_seen: BTreeMap<(String, String), i64>,
    /// `--mutate delivered-lww`: the delivered figures shown, each packet
    /// overwriting the last.
    pub lww: bool,
    shown: BTreeMap<String, Delivered>,
    /// `--mutate readtime-latest`: the read times shown, each packet
    /// overwriting the last (the latest wins instead of the earliest).
    pub latest: bool,
    shown_times: BTreeMap<(String, String), i64>,
}

fn back(detail: String) -> Fail {
    Fail::new(Invariant::Monotone, detail)
}

impl DeliveryState {
    /// The process died: what was sent when is forgotten; the store keeps the rest.
    pub fn crash(&mut self) {
        self.sent_at.clear();
        self.dirty = true;
    }

    /// Batches handed out and not acked.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Whether a live batch is due a retry at `now`.
    pub fn due(&self, now: u64, retry_after: u64) -> bool {
        self.live
            .keys()
            .any(|b| self.sent_at.get(b).is_none_or(|t| now >= t + retry_after))
    }

    /// Takes the delivery batches `getPendingReceipts` handed out (checked
    /// like receipt batches: IDs stay, none is lost) and returns the packets
    /// of those due.
    pub fn hand_out(
        &mut self,
        idx: usize,
        batches: Vec<Batch>,
        now: u64,
        retry_after: u64,
        c: &mut Counters,
    ) -> Result<Vec<Packet>, Fail> {
        self.dirty = false;
        for (id, ids) in &self.live {
            match batches.iter().find(|b| b.batch_id == *id) {
                Some(b) if b.message_ids != *ids => {
                    return Err(Fail::new(
                        Invariant::Outbox,
                        format!(
                            "delivery batch {id} changed from {ids:?} to {:?}",
                            b.message_ids
                        ),
                    ))
                }
                None if batches.len() < BATCH_LIMIT => {
                    return Err(Fail::new(
                        Invariant::Outbox,
                        format!("delivery batch {id} was handed out, never acked, and is gone"),
                    ))
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        for b in batches {
            let due = self
                .sent_at
                .get(&b.batch_id)
                .is_none_or(|t| now >= t + retry_after);
            self.live
                .entry(b.batch_id.clone())
                .or_insert_with(|| b.message_ids.clone());
            if due {
                self.sent_at.insert(b.batch_id.clone(), now);
                c.delivery_batches_sent += 1;
                out.push(Packet {
                    src: Node::Client(idx),
                    dst: Node::Server,
                    payload: Payload::Deliveries {
                        batch_id: b.batch_id,
                        ids: b.message_ids,
                    },
                });
            }
        }
        Ok(out)
    }

    /// `ackDeliveryReceipts` answered `acked` for `batch`.
    pub fn acked(&mut self, batch: &str, acked: bool, c: &mut Counters) -> Result<(), Fail> {
        let live = self.live.remove(batch).is_some();
        self.sent_at.remove(batch);
        if acked {
            c.delivery_acks += 1;
        }
        if live && !acked {
            return Err(Fail::new(
                Invariant::Outbox,
                format!("ackDeliveryReceipts ignored batch {batch}, which was handed out"),
            ));
        }
        Ok(())
    }

    /// A packet's delivered figures and read times reach the mutated
    /// caches (each overwrite must not go back, like an event stream).
    pub fn observe_notes(&mut self, ns: &[ReceiptNotification]) -> Result<(), Fail> {
        for n in ns {
            if n.delivered_count.is_some() || n.is_peer_delivered.is_some() {
                self.overwrite(&n.message_id, n.delivered_count, n.is_peer_delivered)?;
            }
            if let (Some(u), Some(t)) = (&n.user_id, n.read_time) {
                self.overwrite_time(&n.message_id, u, t)?;
            }
        }
        Ok(())
    }

    /// As [`observe_notes`](Self::observe_notes), for a snapshot's receipts.
    pub fn observe_snapshot(&mut self, snap: &Snapshot) -> Result<(), Fail> {
        for r in &snap.receipts {
            if r.delivered_count.is_some() || r.is_peer_delivered.is_some() {
                self.overwrite(&r.message_id, r.delivered_count, r.is_peer_delivered)?;
            }
            for rt in r.read_times.iter().flatten() {
                self.overwrite_time(&r.message_id, &rt.user_id, rt.read_time)?;
            }
        }
        Ok(())
    }

    fn overwrite(&mut self, id: &str, count: Option<u64>, peer: Option<bool>) -> Result<(), Fail> {
        if !self.lww {
            return Ok(());
        }
        let old = self.shown.get(id).copied().unwrap_or_default();
        let new = Delivered {
            count: count.unwrap_or(old.count),
            peer: peer.unwrap_or(old.peer),
        };
        self.shown.insert(id.to_string(), new);
        went_back(id, &old, &new)
    }

    fn overwrite_time(&mut self, id: &str, user: &str, t: i64) -> Result<(), Fail> {
        if !self.latest {
            return Ok(());
        }
        let key = (id.to_string(), user.to_string());
        let old = self.shown_times.insert(key, t);
        time_rose(id, user, old, t)
    }

    /// The delivered figures the client shows: the store's, or the cache.
    pub fn shown(&self, id: &str, store: Delivered) -> Delivered {
        match self.shown.get(id) {
            Some(d) if self.lww => *d,
            _ => store,
        }
    }

    /// The read time the client shows for `user` on `id`.
    pub fn shown_time(&self, id: &str, user: &str, store: Option<i64>) -> Option<i64> {
        let key = (id.to_string(), user.to_string());
        match self.shown_times.get(&key) {
            Some(t) if self.latest => Some(*t),
            _ => store,
        }
    }

    /// The store's figures, sampled: they must never go back (a count that
    /// falls, a peer delivery lost, a read time that rises).
    pub fn sample(
        &mut self,
        id: &str,
        d: Delivered,
        time: Option<(&str, i64)>,
    ) -> Result<(), Fail> {
        let old = self.seen.insert(id.to_string(), d).unwrap_or_default();
        went_back(id, &old, &d)?;
        if let Some((user, t)) = time {
            let key = (id.to_string(), user.to_string());
            let old = self.times_seen.insert(key, t);
            time_rose(id, user, old, t)?;
        }
        Ok(())
    }
}

fn went_back(id: &str, old: &Delivered, new: &Delivered) -> Result<(), Fail> {
    if new.count < old.count {
        return Err(back(format!(
            "deliveredCount of {id} fell from {} to {}",
            old.count, new.count
        )));
    }
    if old.peer && !new.peer {
        return Err(back(format!(
            "isPeerDelivered of {id} went from true to false"
        )));
    }
    Ok(())
}

fn time_rose(id: &str, user: &str, old: Option<i64>, t: i64) -> Result<(), Fail> {
    match old {
        Some(o) if t > o => Err(back(format!(
            "readTime of {user} on {id} rose from {o} to {t} (the earliest must win)"
        ))),
        _ => Ok(()),
    }
}
