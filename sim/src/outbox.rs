//! A device's receipt outbox as the harness tracks it: the batches
//! `getPendingReceipts` handed out and not yet acked, when each was last
//! sent, and the outbox invariant checked at every hand-out (no ID twice,
//! a handed-out batch never changes, none is lost). [`BATCH_LIMIT`] bounds
//! the delivery-ack outbox (`delivery.rs`) too.

use std::collections::BTreeMap;

use receiptdb::Batch;

use super::fail::Fail;
use super::report::Invariant;

/// Most batches `getPendingReceipts` hands out at once (the store's default).
pub(crate) const BATCH_LIMIT: usize = 100;

/// The receipt batches one device handed out.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Batches handed out and not yet acked: ID → (conversation, message IDs).
    live: BTreeMap<String, (String, Vec<String>)>,
    /// Step each live batch was last sent at (lost in a crash).
    sent_at: BTreeMap<String, u64>,
}

/// Whether a batch last sent at `sent` (`None`: never) is due at `now`.
fn is_due(sent: Option<&u64>, now: u64, retry_after: u64) -> bool {
    sent.is_none_or(|t| now >= t + retry_after)
}

impl Outbox {
    /// The process died: when each batch was sent is forgotten.
    pub fn crash(&mut self) {
        self.sent_at.clear();
    }

    /// Batches handed out and not acked.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Whether `batch` was handed out and not acked.
    pub fn is_live(&self, batch: &str) -> bool {
        self.live.contains_key(batch)
    }

    /// Whether a live batch is due a retry at `now`.
    pub fn due(&self, now: u64, retry_after: u64) -> bool {
        self.live
            .keys()
            .any(|b| is_due(self.sent_at.get(b), now, retry_after))
    }

    /// Whether `batch` is to be sent at `now` (never sent, or due a
    /// retry); if so it counts as sent now.
    pub fn send_now(&mut self, batch: &str, now: u64, retry_after: u64) -> bool {
        if !is_due(self.sent_at.get(batch), now, retry_after) {
            return false;
        }
        self.sent_at.insert(batch.to_string(), now);
        true
    }

    /// `ack_receipts` took `batch`: its message IDs (`None`: it was never
    /// handed out).
    pub fn acked(&mut self, batch: &str) -> Option<Vec<String>> {
        self.sent_at.remove(batch);
        self.live.remove(batch).map(|(_, ids)| ids)
    }

    /// The outbox invariant: no ID twice, handed-out batches unchanged, none lost.
    pub fn check(&mut self, batches: &[Batch]) -> Result<(), Fail> {
        let fail = |d: String| Err(Fail::new(Invariant::Outbox, d));
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for b in batches {
            if b.message_ids.is_empty() || b.message_ids.len() > receiptdb::MAX_BATCH {
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
}
