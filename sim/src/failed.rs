//! Failed sends (PROTOCOL.md, Message: `status: fail`; `sendMessageReadReceipt`):
//! now and then (`rates.failedSend`) a message of the random workload never
//! reaches the server. The server is not told of it and the ledger does
//! not record it, so it is delivered to no one; the transport of the device
//! that sent it saves it `status: fail` (with `createMessage`'s local time
//! and sequence). The checks: it never gets receipt figures, an event, a
//! queued receipt or delivery ack, never counts as unread, and no other
//! device nor the server ever has it. `--mutate count-failed` plants the
//! bug of a client whose shown unread count counts failed sends.
//!
//! This module holds what the world and each device keep of them and the
//! checks a device's own calls answer; the world's side (drawing and
//! saving them, the final check) is `failed_sends.rs`.

use std::collections::BTreeMap;

use receiptdb::{Flow, Message, MessageStatus, Pending, SendReport};

use super::fail::Fail;
use super::report::{Counters, Invariant};
use super::rng::Rng;

type R<T> = std::result::Result<T, Fail>;

/// A send that failed: its ID (`f1`, `f2`, … never a ledger ID) and the
/// device that holds it.
#[derive(Debug, Clone)]
pub(crate) struct FailedSend {
    pub id: String,
    pub device: usize,
}

/// The world's side: which sends fail (its own random stream, so the
/// rest of a run does not depend on the rate's draws) and those that did.
pub(crate) struct Failures {
    rng: Rng,
    pub sends: Vec<FailedSend>,
}

impl Failures {
    pub fn new(seed: u64) -> Failures {
        Failures {
            rng: Rng::new(seed, 3),
            sends: Vec::new(),
        }
    }

    /// Draws whether the next send fails (at `rate`) and, if so, on which
    /// of the running devices `up` lists (`None`: it is sent).
    pub fn draw(&mut self, rate: f64, up: impl FnOnce() -> Vec<usize>) -> Option<usize> {
        if !self.rng.chance(rate) {
            return None;
        }
        self.rng.pick(&up()).copied()
    }
}

/// What a failed send held on a device is: its conversation, whether it
/// is a group message and asks for receipts.
#[derive(Debug, Clone)]
struct Held {
    conv: String,
    seq: i64,
    group: bool,
    receipt: bool,
}

/// A device's failed sends.
#[derive(Debug, Default)]
pub(crate) struct FailedClient {
    held: BTreeMap<String, Held>,
    /// `--mutate count-failed`: the shown unread count counts them.
    pub count_mode: bool,
}

impl FailedClient {
    /// Whether `id` is a failed send this device holds.
    pub fn holds(&self, id: &str) -> bool {
        self.held.contains_key(id)
    }

    /// Failed sends held in `conv`.
    pub fn in_conv<'a>(&'a self, conv: &'a str) -> impl Iterator<Item = &'a String> {
        self.held
            .iter()
            .filter(move |(_, h)| h.conv == conv)
            .map(|(id, _)| id)
    }

    /// The highest local sequence of a failed send in `conv` (0: none).
    pub fn highest(&self, conv: &str) -> i64 {
        self.held
            .values()
            .filter(|h| h.conv == conv)
            .map(|h| h.seq)
            .max()
            .unwrap_or(0)
    }

    /// What the mutated client adds to `conv`'s unread count.
    pub fn extra_unread(&self, conv: &str) -> u64 {
        if self.count_mode {
            self.in_conv(conv).count() as u64
        } else {
            0
        }
    }

    /// Device-side record of a send that failed here: `id` in `conv` at
    /// local sequence `seq`.
    pub fn hold(&mut self, id: String, conv: String, seq: i64, group: bool, receipt: bool) {
        self.held.insert(
            id,
            Held {
                conv,
                seq,
                group,
                receipt,
            },
        );
    }

    /// The failed sends held, by conversation.
    pub fn by_conv(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_conv: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, h) in &self.held {
            by_conv.entry(h.conv.clone()).or_default().push(id.clone());
        }
        by_conv
    }

    /// The receipt call of a read in `conv` also names this device's newest
    /// failed send there (room permitting): the store must skip it.
    pub fn with_failed(&self, conv: &str, chunk: &[String], c: &mut Counters) -> Vec<String> {
        let mut ask = chunk.to_vec();
        if ask.len() < receiptdb::MAX_BATCH {
            if let Some(id) = self.in_conv(conv).last() {
                c.failed_asked += 1;
                ask.push(id.clone());
            }
        }
        ask
    }

    /// No receipt is queued (nor skipped as private) for a failed send.
    pub fn check_report(&self, rep: &SendReport) -> R<()> {
        let skipped = rep.skipped.iter().map(|s| &s.message_id);
        match rep.queued.iter().chain(skipped).find(|id| self.holds(id)) {
            Some(id) => Err(failed(format!(
                "sendMessageReadReceipt took failed send {id} as a receipt to send"
            ))),
            None => Ok(()),
        }
    }

    /// No receipt batch nor delivery batch names a failed send.
    pub fn check_outbox(&self, pending: &Pending) -> R<()> {
        for b in pending.batches.iter().chain(&pending.delivery_batches) {
            if let Some(id) = b.message_ids.iter().find(|id| self.holds(id)) {
                return Err(failed(format!(
                    "batch {} names failed send {id}",
                    b.batch_id
                )));
            }
        }
        Ok(())
    }

    /// An event about a failed send: its figures must never change.
    pub fn check_event(&self, id: &str) -> R<()> {
        if self.holds(id) {
            return Err(failed(format!(
                "an event told new receipt figures of failed send {id}"
            )));
        }
        Ok(())
    }

    /// A failed send this device holds, as the store lists it now (`m`,
    /// with its full receipt info): still `fail`, `out`, not recalled nor
    /// peer read, without a sent state, and with the figures of a message
    /// nobody received: read by none, unread count unknown in a group (its
    /// audience is not fixed), 1 in C2C. Any other message passes.
    pub fn check_held(&self, m: &Message) -> R<()> {
        let Some(h) = self.held.get(&m.id) else {
            return Ok(());
        };
        match wrong(m, h) {
            Some(what) => Err(failed(format!("failed send {}: {what}", m.id))),
            None => Ok(()),
        }
    }
}

fn failed(detail: String) -> Fail {
    Fail::new(Invariant::Failed, detail)
}

/// What is wrong with a held failed send, if anything.
fn wrong(m: &Message, h: &Held) -> Option<String> {
    if m.status != MessageStatus::Fail || m.flow != Flow::Out {
        return Some(format!("status {:?}, flow {:?}", m.status, m.flow));
    }
    if m.is_revoked || m.is_peer_read || m.receipt_sent_state.is_some() {
        return Some(format!(
            "isRevoked {}, isPeerRead {}, receiptSentState {:?}",
            m.is_revoked, m.is_peer_read, m.receipt_sent_state
        ));
    }
    let info = match (m.read_receipt_info, h.receipt) {
        (None, false) => return None,
        (Some(i), true) => i,
        (i, _) => {
            return Some(format!(
                "readReceiptInfo {i:?}, needReadReceipt {}",
                h.receipt
            ))
        }
    };
    let unread = if h.group { None } else { Some(1) };
    let none = info.read_count == 0
        && !info.is_peer_read
        && info.unread_count == unread
        && info.delivered_count.unwrap_or(0) == 0
        && info.is_peer_delivered != Some(true)
        && info.read_time.is_none();
    (!none).then(|| {
        format!(
            "readCount {} unreadCount {:?} isPeerRead {} deliveredCount {:?} readTime {:?}, but nobody received it",
            info.read_count, info.unread_count, info.is_peer_read, info.delivered_count, info.read_time
        )
    })
}
