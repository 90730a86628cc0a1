//! A client's unread marks and private reading (PROTOCOL.md, Unread marks,
//! Private reading): the user's random marks and switches, the mark
//! reports' outbox, and the planted bug `--mutate mark-arrival`
//! (harness-side: the store is never changed).
//!
//! The store stamps a mark or a read to the end with its wall clock unless
//! it knows a later time of that conversation. So that reports stay
//! deterministic, every device starts with an unmark at [`MARK_BASE_MS`]
//! (far beyond any wall clock) in every conversation it can have: every
//! later local time is then derived from times it knows, a logical clock.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{MarkReport, PushedReadReport, SendReport, Snapshot};

use super::check::Truth;
use super::client::{Client, Fail};
use super::network::{Node, Packet, Payload};
use super::report::{Counters, Invariant};
use super::rng::Rng;

/// The unmark every device starts with (unix ms, the year 2286).
pub(crate) const MARK_BASE_MS: i64 = 10_000_000_000_000;

/// What one client keeps about marks and private reading.
#[derive(Debug, Default)]
pub(crate) struct MarkClient {
    /// Conversations this device reads privately (the store keeps the
    /// switch; so does the harness, across crashes).
    pub private: BTreeSet<String>,
    /// A mark or unmark was made since the mark reports were last read.
    pub dirty: bool,
    /// Step the mark reports were last sent at (`None`: none outstanding).
    sent_at: Option<u64>,
    /// `--mutate mark-arrival`: the mark shown per conversation, taken from
    /// whatever news arrived last (a mark shows it, an unmark or a read to
    /// the end clears it) instead of by time.
    pub arrival: bool,
    shown: BTreeMap<String, bool>,
}

impl MarkClient {
    /// The process died: when the reports were sent is forgotten.
    pub fn crash(&mut self) {
        self.sent_at = None;
        self.dirty = true;
    }

    /// The seeding reports (see the module doc) for these conversations.
    pub fn seed(convs: &[String]) -> Vec<PushedReadReport> {
        convs
            .iter()
            .map(|c| PushedReadReport {
                conversation_id: c.clone(),
                marked: Some(false),
                mark_time: Some(MARK_BASE_MS),
                ..Default::default()
            })
            .collect()
    }

    /// Whether the mark reports should be read now.
    pub fn due(&self, now: u64, retry_after: u64) -> bool {
        self.dirty || self.sent_at.is_some_and(|t| now >= t + retry_after)
    }

    /// The packet carrying the pending mark reports, if any.
    pub fn send(
        &mut self,
        idx: usize,
        reports: Vec<MarkReport>,
        now: u64,
        c: &mut Counters,
    ) -> Option<Packet> {
        self.dirty = false;
        if reports.is_empty() {
            self.sent_at = None;
            return None;
        }
        self.sent_at = Some(now);
        c.mark_reports_sent += reports.len() as u64;
        Some(Packet {
            src: Node::Client(idx),
            dst: Node::Server,
            payload: Payload::MarkReports(reports),
        })
    }

    /// With the mutation: pushed news overwrites the shown mark in the
    /// order it arrives (the mark first, then a read to the end).
    pub fn observe_push(&mut self, rs: &[PushedReadReport]) {
        if !self.arrival {
            return;
        }
        for r in rs {
            if let Some(m) = r.marked {
                self.shown.insert(r.conversation_id.clone(), m);
            }
            if r.read_time.is_some() {
                self.shown.insert(r.conversation_id.clone(), false);
            }
        }
    }

    /// As [`observe_push`](Self::observe_push), for a snapshot.
    pub fn observe_snapshot(&mut self, s: &Snapshot) {
        if !self.arrival {
            return;
        }
        if let Some(m) = s.marked {
            self.shown.insert(s.conversation_id.clone(), m);
        }
        if s.read_time.is_some() {
            self.shown.insert(s.conversation_id.clone(), false);
        }
    }

    /// With the mutation: a local action shows what the store shows then
    /// (locally the newest action is also the last to arrive).
    pub fn local(&mut self, conv: &str, store: bool) {
        if self.arrival {
            self.shown.insert(conv.to_string(), store);
        }
    }

    /// Conversations the mutated cache holds.
    pub fn cached(&self) -> Vec<String> {
        self.shown.keys().cloned().collect()
    }

    /// The mark the client shows: the store's, or the cache's.
    pub fn shown(&self, conv: &str, store: bool) -> bool {
        match self.shown.get(conv) {
            Some(m) if self.arrival => *m,
            _ => store,
        }
    }
}

/// `sendMessageReadReceipt` in `conv` answered `rep`: a private
/// conversation queues nothing and lists every receipt it would have
/// queued as skipped; any other lists none. Returns the IDs queued.
pub(crate) fn check_private(
    cl: &Client,
    conv: &str,
    rep: SendReport,
    c: &mut Counters,
) -> Result<Vec<String>, Fail> {
    let private = cl.mk.private.contains(conv);
    c.private_skipped += rep.skipped.len() as u64;
    if private && !rep.queued.is_empty() {
        return Err(Fail::new(
            Invariant::Private,
            format!(
                "{conv} reads privately, yet receipts were queued for {:?}",
                rep.queued
            ),
        ));
    }
    if !private && !rep.skipped.is_empty() {
        return Err(Fail::new(
            Invariant::Private,
            format!(
                "{conv} does not read privately, yet {} receipts were skipped",
                rep.skipped.len()
            ),
        ));
    }
    if let Some(s) = rep
        .skipped
        .iter()
        .find(|s| s.reason != receiptdb::SkipReason::PrivateReading)
    {
        return Err(Fail::new(
            Invariant::Private,
            format!("{} skipped for {:?}", s.message_id, s.reason),
        ));
    }
    Ok(rep.queued)
}

/// After a local read or mark of `convs`: the mutated cache takes what
/// the store shows now.
pub(crate) fn after_local(cl: &mut Client, convs: &[String], c: &mut Counters) -> Result<(), Fail> {
    if !cl.mk.arrival {
        return Ok(());
    }
    for conv in convs {
        let cv = cl.call(c, "get_conversation", |s| s.get_conversation(conv))?;
        cl.mk.local(conv, cv.marked_unread);
    }
    Ok(())
}

/// The user marks (3 in 5) or unmarks one conversation it holds.
pub(crate) fn mark_unread(cl: &mut Client, rng: &mut Rng, c: &mut Counters) -> Result<(), Fail> {
    let convs = cl.held_conversations();
    let Some(conv) = rng.pick(&convs).cloned() else {
        return Ok(());
    };
    let on = rng.index(5) < 3;
    c.unread_marks += 1;
    let ids = [conv.clone()];
    cl.call(c, "mark_conversation_unread", |s| {
        s.mark_conversation_unread(&ids, on)
    })?;
    cl.mk.dirty = true;
    after_local(cl, &ids, c)
}

/// The user switches private reading of one conversation it holds.
pub(crate) fn toggle_private(cl: &mut Client, rng: &mut Rng, c: &mut Counters) -> Result<(), Fail> {
    let convs = cl.held_conversations();
    let Some(conv) = rng.pick(&convs).cloned() else {
        return Ok(());
    };
    let on = !cl.mk.private.contains(&conv);
    c.private_switches += 1;
    let now = cl.call(c, "set_conversation_private_reading", |s| {
        s.set_conversation_private_reading(&conv, Some(on))
    })?;
    if now != on {
        return Err(Fail::new(
            Invariant::Private,
            format!("setConversationPrivateReading({conv}, {on}) answered {now}"),
        ));
    }
    if on {
        cl.mk.private.insert(conv);
    } else {
        cl.mk.private.remove(&conv);
    }
    Ok(())
}

/// Sends the pending mark reports when a mark was made or a send is due
/// a retry.
pub(crate) fn flush_marks(
    cl: &mut Client,
    now: u64,
    retry_after: u64,
    c: &mut Counters,
) -> Result<Option<Packet>, Fail> {
    if !cl.mk.due(now, retry_after) {
        return Ok(None);
    }
    let reports = cl.call(c, "get_pending_mark_reports", |s| {
        s.get_pending_mark_reports()
    })?;
    let idx = cl.idx;
    Ok(cl.mk.send(idx, reports, now, c))
}

/// After quiescence: the conversation shows the unread mark exactly when
/// the server's registers say so (so every device of a user agrees).
pub(crate) fn mark_converged(
    truth: &Truth,
    cl: &mut Client,
    conv: &str,
    c: &mut Counters,
) -> Result<(), Fail> {
    c.mark_checks += 1;
    let reg = truth
        .extra
        .marks
        .get(&(cl.user, conv.to_string()))
        .copied()
        .unwrap_or_default();
    let cv = cl.call(c, "get_conversation", |s| s.get_conversation(conv))?;
    let shown = cl.mk.shown(conv, cv.marked_unread);
    if shown != reg.shows() {
        return Err(Fail::new(
            Invariant::Convergence,
            format!(
                "{conv}: markedUnread {shown}, but the server holds {} at {} and a read to the end at {}",
                if reg.marked { "a mark" } else { "an unmark" },
                reg.mark_time,
                reg.read_time
            ),
        ));
    }
    Ok(())
}
