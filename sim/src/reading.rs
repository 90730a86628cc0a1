//! The user reading on a device (`impl Client`): reading some unread
//! messages of a conversation (`sendMessageReadReceipt`, with
//! `MESSAGE_RECALLED` taken as expected) and marking it read, sending the
//! read reports, and the read-state check run after every step (unread
//! counts against their definition, positions never going down). What it
//! tracks is in [`ReadState`](super::read_state::ReadState).

use receiptdb::{Error, SendReport};

use super::client::{message_list, store_fail, Client};
use super::fail::Fail;
use super::network::{Node, Packet, Payload};
use super::report::{Counters, Invariant};
use super::rng::Rng;

impl Client {
    /// The user reads: one random conversation (some of its unread
    /// messages), or with `all` everything held and unread.
    pub(crate) fn read(&mut self, rng: &mut Rng, all: bool, c: &mut Counters) -> Result<(), Fail> {
        let convs = self.reads.unread_conversations();
        let chosen: Vec<String> = if all {
            convs
        } else {
            rng.pick(&convs).cloned().into_iter().collect()
        };
        for conv in chosen {
            let ids = self.reads.take_unread(&conv, all, rng);
            for chunk in ids.chunks(receiptdb::MAX_BATCH) {
                let ask = self.fs.with_failed(&conv, chunk, c);
                let rep = self.send_receipts(&ask, c)?;
                self.fs.check_report(&rep)?;
                let queued = self.mk.check_private(&conv, rep, c)?;
                self.queued(&ask, queued, c)?;
            }
            if !all {
                // The user also marks the conversation read, sometimes up to
                // the last message read, sometimes up to the newest held.
                let top = self.reads.highest_of(&ids);
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
        self.reads.marked(conv);
        self.marks_after_local(&[conv.to_string()], c)
    }

    /// `setAllMessageRead` (every tally goes to 0).
    pub(crate) fn mark_all(&mut self, c: &mut Counters) -> Result<(), Fail> {
        c.marks += 1;
        self.call(c, "set_all_message_read", |s| s.set_all_message_read())?;
        self.reads.marked_all();
        let cached = self.mk.cached();
        self.marks_after_local(&cached, c)
    }

    /// Sends the pending read reports when a position moved or the last
    /// send is due a retry; returns the packet.
    pub(crate) fn flush_read_reports(
        &mut self,
        now: u64,
        retry_after: u64,
        c: &mut Counters,
    ) -> Result<Option<Packet>, Fail> {
        if !self.reads.dirty && !self.reads.due(now, retry_after) {
            return Ok(None);
        }
        let reports = self.call(c, "get_pending_read_reports", |s| {
            s.get_pending_read_reports()
        })?;
        self.reads.dirty = false;
        if reports.is_empty() {
            self.reads.sent(None);
            return Ok(None);
        }
        self.reads.sent(Some(now));
        c.read_reports_sent += reports.len() as u64;
        Ok(Some(Packet {
            src: Node::Client(self.idx),
            dst: Node::Server,
            payload: Payload::ReadReports(reports),
        }))
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
        self.reads.reported(conv, store) + failed
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
            self.reads.see_positions(id, cv.read_sequence, peer)?;
            let want = self.reads.unread_by_definition(id, cv.read_sequence);
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
            let cv = &convs[self.reads.next_deep(convs.len())];
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
}
