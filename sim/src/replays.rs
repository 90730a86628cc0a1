//! The snapshots the server sent each client, kept per client and
//! conversation for the `stale` fault: a few of them, always the very first
//! (the stalest), so a stale replay can deliver an older answer again.

use std::collections::BTreeMap;

use receiptdb::Snapshot;

/// Snapshots remembered per client and conversation, for stale replays.
const HISTORY: usize = 3;

/// (client, conversation) → fresh snapshots it was sent, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Replays(BTreeMap<(usize, String), Vec<Snapshot>>);

impl Replays {
    /// Remembers a snapshot sent to a client, for later stale replays.
    pub fn remember(&mut self, key: (usize, String), snap: &Snapshot) {
        let h = self.0.entry(key).or_default();
        if h.len() >= HISTORY {
            h.remove(1); // keep the very first one: the stalest
        }
        h.push(snap.clone());
    }

    /// One of the snapshots remembered for `key` (`pick` wraps around).
    pub fn old(&self, key: &(usize, String), pick: usize) -> Option<Snapshot> {
        let h = self.0.get(key)?;
        h.get(pick % h.len()).cloned()
    }

    /// The oldest remembered snapshot of each conversation of `client`.
    pub fn oldest(&self, client: usize) -> Vec<Snapshot> {
        self.0
            .range((client, String::new())..)
            .take_while(|((c, _), _)| *c == client)
            .filter_map(|(_, h)| h.first().cloned())
            .collect()
    }
}
