//! Failed sends (PROTOCOL.md, Message: `status: fail`; `sendMessageReadReceipt`):
//! now and then (`rates.failedSend`) a message of the random workload never
//! reaches the server. The server is not told of it and the ledger does
//! not record it, so it is delivered to no one; the transport of the device
//! that sent it saves it `status: fail` (with `createMessage`'s local time
//! and sequence). The checks: it never gets receipt figures, an event, a
//! queued receipt or delivery ack, never counts as unread, and no other
//! device nor the server ever has it. `--mutate count-failed` plants the
//! bug of a client whose shown unread count counts failed sends.

use std::collections::BTreeMap;

use receiptdb::{ConversationType, Flow, IncomingMessage, Message, MessageStatus, Pending};

use super::client::{Client, Fail};
use super::protocol::Query as ServerQuery;
use super::report::{Counters, Invariant};
use super::rng::Rng;
use super::server::Answer;
use super::world::{tag, World};

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
    fn highest(&self, conv: &str) -> i64 {
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
}

impl World<'_> {
    /// A message of the random workload: sent, or now and then a send
    /// that fails on one running device of its sender.
    pub(super) fn send_or_fail(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) -> R<()> {
        if self.failures.rng.chance(self.sc.rates.failed_send) {
            let up: Vec<usize> = (0..self.clients.len())
                .filter(|&i| self.clients[i].user == from && self.clients[i].is_up())
                .collect();
            if let Some(&d) = self.failures.rng.pick(&up) {
                return self.fail_send(d, group, to, receipt);
            }
        }
        self.send(from, group, to, receipt)
    }

    /// Device `d` saves its send as failed; nobody else hears of it.
    fn fail_send(
        &mut self,
        d: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
    ) -> R<()> {
        let l = &self.ledger;
        let (ctype, to_id, conv) = match (group, to) {
            (Some(g), _) => {
                let gid = l.groups[g].id.clone();
                (ConversationType::Group, gid.clone(), format!("GROUP{gid}"))
            }
            (None, Some(t)) => {
                let uid = l.users[t].clone();
                (ConversationType::C2C, uid.clone(), format!("C2C{uid}"))
            }
            (None, None) => return Ok(()),
        };
        let id = format!("f{}", self.failures.sends.len() + 1);
        let time = self.clock().time;
        let cl = &mut self.clients[d];
        // createMessage's local values: a sequence one above the highest held.
        let sequence = cl.highest_sequence(&conv).max(cl.fs.highest(&conv)) + 1;
        let msg = IncomingMessage {
            id: id.clone(),
            conversation_id: Some(conv.clone()),
            conversation_type: Some(ctype),
            from: cl.user_id.clone(),
            to: to_id,
            time,
            sequence,
            status: Some(MessageStatus::Fail),
            need_read_receipt: receipt,
            ..Default::default()
        };
        cl.call(&mut self.c, "save_messages", |s| s.save_messages(&[msg]))
            .map_err(|f| tag(&cl.name, f))?;
        cl.fs.held.insert(
            id.clone(),
            Held {
                conv,
                seq: sequence,
                group: group.is_some(),
                receipt,
            },
        );
        self.c.failed_sends += 1;
        self.failures.sends.push(FailedSend { id, device: d });
        Ok(())
    }

    /// After quiescence: no device but the sender's holds a failed send,
    /// and the server counts nobody as having read or received one.
    pub(super) fn failed_final(&mut self) -> R<()> {
        let sends = self.failures.sends.clone();
        for f in &sends {
            for i in (0..self.clients.len()).filter(|&i| i != f.device) {
                self.c.failed_checks += 1;
                let cl = &mut self.clients[i];
                let got = cl.call(&mut self.c, "find_message", |s| s.find_message(&f.id));
                if got.map_err(|e| tag(&cl.name, e))?.is_some() {
                    let name = self.clients[f.device].name.clone();
                    let e = Fail::new(
                        Invariant::Failed,
                        format!("{} failed on {name}, yet this device holds it", f.id),
                    );
                    return Err(tag(&self.clients[i].name, e));
                }
            }
        }
        let ids: Vec<String> = sends.iter().map(|f| f.id.clone()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let at = self.clock();
        for q in [
            ServerQuery::Readers {
                message_ids: ids.clone(),
            },
            ServerQuery::Delivered { message_ids: ids },
        ] {
            let ans = match self.server.query(at, &q) {
                Ok(a) => a,
                Err(e) => return Err(self.server_error("a query about failed sends", e)),
            };
            let named = match ans {
                Answer::Readers(m) | Answer::Delivered(m) => m,
                _ => BTreeMap::new(),
            };
            if let Some((id, users)) = named.iter().find(|(_, u)| !u.is_empty()) {
                return Err(Fail::new(
                    Invariant::Failed,
                    format!("{id} failed, yet the server counts {users:?} for it"),
                ));
            }
        }
        Ok(())
    }
}

/// The receipt call of a read in `conv` also names this device's newest
/// failed send there (room permitting): the store must skip it.
pub(crate) fn with_failed(
    cl: &Client,
    conv: &str,
    chunk: &[String],
    c: &mut Counters,
) -> Vec<String> {
    let mut ask = chunk.to_vec();
    if ask.len() < receiptdb::MAX_BATCH {
        if let Some(id) = cl.fs.in_conv(conv).last() {
            c.failed_asked += 1;
            ask.push(id.clone());
        }
    }
    ask
}

fn failed(detail: String) -> Fail {
    Fail::new(Invariant::Failed, detail)
}

/// No receipt is queued (nor skipped as private) for a failed send.
pub(crate) fn check_report(cl: &Client, rep: &receiptdb::SendReport) -> R<()> {
    let skipped = rep.skipped.iter().map(|s| &s.message_id);
    match rep.queued.iter().chain(skipped).find(|id| cl.fs.holds(id)) {
        Some(id) => Err(failed(format!(
            "sendMessageReadReceipt took failed send {id} as a receipt to send"
        ))),
        None => Ok(()),
    }
}

/// No receipt batch nor delivery batch names a failed send.
pub(crate) fn check_outbox(cl: &Client, pending: &Pending) -> R<()> {
    for b in pending.batches.iter().chain(&pending.delivery_batches) {
        if let Some(id) = b.message_ids.iter().find(|id| cl.fs.holds(id)) {
            return Err(failed(format!(
                "batch {} names failed send {id}",
                b.batch_id
            )));
        }
    }
    Ok(())
}

/// An event about a failed send: its figures must never change.
pub(crate) fn check_event(cl: &Client, id: &str) -> R<()> {
    if cl.fs.holds(id) {
        return Err(failed(format!(
            "an event told new receipt figures of failed send {id}"
        )));
    }
    Ok(())
}

/// Every failed send this device holds is still `fail`, `out`, not
/// recalled nor peer read, without a sent state, and its figures are
/// those of a message nobody received: read by none, unread count
/// unknown in a group (its audience is not fixed), 1 in C2C.
pub(crate) fn check_held(cl: &mut Client, c: &mut Counters) -> R<()> {
    let mut by_conv: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, h) in &cl.fs.held {
        by_conv.entry(h.conv.clone()).or_default().push(id.clone());
    }
    for ids in by_conv.values() {
        for chunk in ids.chunks(100) {
            let list = cl.call(c, "get_message_read_receipt_list", |s| {
                s.get_message_read_receipt_list_with(chunk, true, true)
            })?;
            for m in &list {
                c.failed_checks += 1;
                let Some(h) = cl.fs.held.get(&m.id) else {
                    continue;
                };
                if let Some(what) = wrong(m, h) {
                    return Err(failed(format!("failed send {}: {what}", m.id)));
                }
            }
        }
    }
    Ok(())
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
