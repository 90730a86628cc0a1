//! The authoritative state a server reported (`SyncServer::query`), read
//! against the ledger: readers and read positions ([`Truth`]), and the
//! read state beyond them ([`Extra`]: deliveries, read times, the
//! positions a peer may see, unread marks). The checks compare clients
//! with it; the world's queries (`queries.rs`) fill it.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::ReceiptSentState;

use super::ledger::{Ledger, LedgerMessage};
use super::protocol::MarkState;

/// The authoritative state a server reported (`SyncServer::query`), with
/// the ledger it is read against.
pub(crate) struct Truth<'a> {
    pub ledger: &'a Ledger,
    /// Message number → readers (absent: none).
    pub readers: BTreeMap<usize, BTreeSet<usize>>,
    /// (user, conversation) → read position (absent: 0).
    pub positions: BTreeMap<(usize, String), i64>,
    /// Deliveries, read times, peer-visible positions, unread marks.
    pub extra: Extra,
}

/// What the server reported beyond readers and positions.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// Message number → users who received it (readers included).
    pub delivered: BTreeMap<usize, BTreeSet<usize>>,
    /// Message number → reader → read time.
    pub read_times: BTreeMap<usize, BTreeMap<usize, i64>>,
    /// (user, conversation) → the position its C2C peer may see.
    pub peer_positions: BTreeMap<(usize, String), i64>,
    /// (user, conversation) → unread-mark registers.
    pub marks: BTreeMap<(usize, String), MarkState>,
}

/// The readers (or receivers) of a message the server names none of.
static NO_READERS: BTreeSet<usize> = BTreeSet::new();

impl Truth<'_> {
    /// Message number `idx` of the ledger.
    pub(crate) fn msg(&self, idx: usize) -> &LedgerMessage {
        &self.ledger.msgs[idx]
    }

    /// The server's readers of message `idx`.
    pub(crate) fn readers(&self, idx: usize) -> &BTreeSet<usize> {
        self.readers.get(&idx).unwrap_or(&NO_READERS)
    }

    /// The server's `readCount`, `unreadCount`, `isPeerRead` of message `idx`.
    pub(crate) fn figures(&self, idx: usize) -> (u64, u64, bool) {
        self.ledger.figures(self.msg(idx), self.readers(idx))
    }

    /// The server's read position of `user` in `conv`.
    pub(crate) fn read_position(&self, user: usize, conv: &str) -> i64 {
        self.positions
            .get(&(user, conv.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// The peer's position as this user may see it (reports that were not private).
    pub(crate) fn peer_position(&self, user: usize, conv: &str) -> Option<i64> {
        let peer = self.ledger.c2c_peer(conv)?;
        let key = (peer, format!("C2C{}", self.ledger.users[user]));
        Some(self.extra.peer_positions.get(&key).copied().unwrap_or(0))
    }

    /// The users who received message `idx`, per the server.
    pub(crate) fn delivered(&self, idx: usize) -> &BTreeSet<usize> {
        self.extra.delivered.get(&idx).unwrap_or(&NO_READERS)
    }

    /// When `user` first read message `idx`, per the server.
    pub(crate) fn read_time(&self, idx: usize, user: usize) -> Option<i64> {
        self.extra.read_times.get(&idx)?.get(&user).copied()
    }

    /// The receipt sent state `user`'s devices must hold for message `idx`.
    pub(crate) fn sent_state(&self, idx: usize, user: usize) -> ReceiptSentState {
        if self.readers(idx).contains(&user) {
            ReceiptSentState::Acked
        } else {
            ReceiptSentState::None
        }
    }
}
