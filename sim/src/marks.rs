//! A client's unread marks and private reading (PROTOCOL.md, Unread marks,
//! Private reading): the user's random marks and switches, the mark
//! reports' outbox, and the planted bug `--mutate mark-arrival`
//! (harness-side: the store is never changed). The user's actions on a
//! device are `Client` methods (`client.rs`); the comparison
//! with the server's registers is in `check.rs`.
//!
//! The store stamps a mark or a read to the end with its wall clock unless
//! it knows a later time of that conversation. So that reports stay
//! deterministic, every device starts with an unmark at [`MARK_BASE_MS`]
//! (far beyond any wall clock) in every conversation it can have: every
//! later local time is then derived from times it knows, a logical clock.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{MarkReport, PushedReadReport, SendReport, Snapshot};

use super::fail::Fail;
use super::network::{Node, Packet, Payload};
use super::report::{Counters, Invariant};

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

    /// `sendMessageReadReceipt` in `conv` answered `rep`: a private
    /// conversation queues nothing and lists every receipt it would have
    /// queued as skipped; any other lists none. Returns the IDs queued.
    pub fn check_private(
        &self,
        conv: &str,
        rep: SendReport,
        c: &mut Counters,
    ) -> Result<Vec<String>, Fail> {
        let private = self.private.contains(conv);
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
}
