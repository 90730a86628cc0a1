//! What a device holds and how far its user has read, as the harness tracks
//! it: the messages the store took (conversation, sequence, `in`), the `in`
//! ones the user has not read here yet, the unread count they define, the
//! highest read positions seen (they never go down), the running tally of
//! `--mutate tally`, and whether the read reports are due. The reading
//! itself, which calls the store, is `reading.rs`.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::IncomingMessage;

use super::fail::Fail;
use super::report::Invariant;
use super::rng::Rng;

/// One device's messages and read state.
#[derive(Debug, Default)]
pub(crate) struct ReadState {
    /// Message IDs this device holds.
    held: BTreeSet<String>,
    /// Held message ID → (conversation, sequence, `in`).
    info: BTreeMap<String, (String, i64, bool)>,
    /// The same `in` messages by conversation: sequence → how many, so the
    /// unread definition is a range count rather than a walk of `info`.
    in_seqs: BTreeMap<String, BTreeMap<i64, u64>>,
    /// Conversation → `in` messages held and not read here yet.
    unread: BTreeMap<String, BTreeSet<String>>,
    /// With `--mutate tally`: the unread count this client reports per
    /// conversation, kept as a running tally.
    tally_mode: bool,
    tally: BTreeMap<String, u64>,
    /// Highest read / peer read position seen per conversation (kept across
    /// crashes: positions never go down).
    positions: BTreeMap<String, (i64, i64)>,
    /// Read positions moved since the read reports were last read.
    pub dirty: bool,
    /// Step the read reports were last sent at (`None`: none outstanding).
    sent_at: Option<u64>,
    /// Round-robin cursor of the deep read-state check.
    deep_turn: usize,
}

impl ReadState {
    /// An empty read state; `tally_mode` for `--mutate tally`.
    pub fn new(tally_mode: bool) -> ReadState {
        ReadState {
            tally_mode,
            ..ReadState::default()
        }
    }

    /// The process died: when the read reports were sent is forgotten.
    pub fn crash(&mut self) {
        self.sent_at = None;
    }

    /// The store took these messages (`user_id`'s own are not `in`).
    pub fn note(&mut self, user_id: &str, msgs: &[IncomingMessage]) {
        for m in msgs {
            if self.held.insert(m.id.clone()) {
                let conv = m.conversation_id.clone().unwrap_or_default();
                let incoming = m.from != user_id;
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

    /// Whether the device holds this message.
    pub fn holds(&self, id: &str) -> bool {
        self.held.contains(id)
    }

    /// The conversation of a held message ("": not held).
    pub fn conversation_of(&self, id: &str) -> String {
        self.info.get(id).map(|i| i.0.clone()).unwrap_or_default()
    }

    /// The highest sequence this device holds in `conv` (0: none).
    pub fn highest_sequence(&self, conv: &str) -> i64 {
        self.info
            .values()
            .filter(|i| i.0 == conv)
            .map(|i| i.1)
            .max()
            .unwrap_or(0)
    }

    /// The highest sequence of these held messages, if any is held.
    pub fn highest_of(&self, ids: &[String]) -> Option<i64> {
        ids.iter()
            .filter_map(|id| self.info.get(id).map(|i| i.1))
            .max()
    }

    /// Conversations this device holds messages of.
    pub fn held_conversations(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.info.values().map(|i| &i.0).collect();
        set.into_iter().cloned().collect()
    }

    /// The conversation of the newest held `in` message, if any.
    pub fn newest_in_conversation(&self) -> Option<String> {
        self.info
            .values()
            .filter(|i| i.2)
            .max_by_key(|i| i.1)
            .map(|i| i.0.clone())
    }

    /// Whether some held message is unread here.
    pub fn has_unread(&self) -> bool {
        self.unread.values().any(|s| !s.is_empty())
    }

    /// Conversations with messages unread here.
    pub fn unread_conversations(&self) -> Vec<String> {
        self.unread
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The user reads in `conv`: all its unread messages, or a random
    /// number of the oldest IDs; they are unread no more.
    pub fn take_unread(&mut self, conv: &str, all: bool, rng: &mut Rng) -> Vec<String> {
        let set = self.unread.entry(conv.to_string()).or_default();
        let mut ids: Vec<String> = set.iter().cloned().collect();
        let take = if all {
            ids.len()
        } else {
            rng.range(1, ids.len() as u64) as usize
        };
        ids.truncate(take);
        for id in &ids {
            set.remove(id);
        }
        self.unread.retain(|_, s| !s.is_empty());
        ids
    }

    /// The unread count by definition, from the messages the harness saw
    /// the store take: held `in` messages above `read_sequence`.
    pub fn unread_by_definition(&self, conv: &str, read_sequence: i64) -> u64 {
        use std::ops::Bound::{Excluded, Unbounded};
        self.in_seqs.get(conv).map_or(0, |seqs| {
            seqs.range((Excluded(read_sequence), Unbounded))
                .map(|(_, n)| n)
                .sum()
        })
    }

    /// The unread count of `conv` the client itself reports, failed sends
    /// aside: the store's (`store`), or with `--mutate tally` the tally.
    pub fn reported(&self, conv: &str, store: u64) -> u64 {
        if self.tally_mode {
            self.tally.get(conv).copied().unwrap_or(0)
        } else {
            store
        }
    }

    /// `setMessageRead` on `conv` took: its tally is 0, a report is due.
    pub fn marked(&mut self, conv: &str) {
        self.tally.insert(conv.to_string(), 0);
        self.dirty = true;
    }

    /// `setAllMessageRead` took: every tally is 0, a report is due.
    pub fn marked_all(&mut self) {
        self.tally.values_mut().for_each(|t| *t = 0);
        self.dirty = true;
    }

    /// The store shows `conv` read up to `read` and its peer up to `peer`:
    /// neither may be below what was seen before.
    pub fn see_positions(&mut self, conv: &str, read: i64, peer: i64) -> Result<(), Fail> {
        let fail = |d: String| Err(Fail::new(Invariant::ReadState, d));
        let (old, old_peer) = self.positions.get(conv).copied().unwrap_or((0, 0));
        if read < old {
            return fail(format!("readSequence of {conv} fell from {old} to {read}"));
        }
        if peer < old_peer {
            return fail(format!(
                "peerReadSequence of {conv} fell from {old_peer} to {peer}"
            ));
        }
        self.positions.insert(conv.to_string(), (read, peer));
        Ok(())
    }

    /// Which of `n` conversations the deep check recounts now (in turn).
    pub fn next_deep(&mut self, n: usize) -> usize {
        self.deep_turn = (self.deep_turn + 1) % n;
        self.deep_turn
    }

    /// Whether read reports are outstanding and due a retry at `now`.
    pub fn due(&self, now: u64, retry_after: u64) -> bool {
        self.sent_at.is_some_and(|t| now >= t + retry_after)
    }

    /// Read reports were sent at this step (`None`: none outstanding).
    pub fn sent(&mut self, at: Option<u64>) {
        self.sent_at = at;
    }
}
