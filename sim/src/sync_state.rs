//! How far a device is synced, as the harness tracks it: per conversation
//! the server version it holds everything up to (what its sync requests
//! send), and the parts applied of sync answers not yet complete. Kept
//! across crashes: a version only advances once its snapshots committed,
//! as if kept in the store with them.

use std::collections::{BTreeMap, BTreeSet};

use super::network::SyncPart;

/// One device's sync versions.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// Per conversation, the server version this client holds it up to.
    synced: BTreeMap<String, u64>,
    /// Parts applied of syncs not yet complete: (conversation, version) → parts.
    parts: BTreeMap<(String, u64), BTreeSet<usize>>,
}

impl SyncState {
    /// Per conversation, the version held up to: what a sync request sends.
    pub fn since(&self) -> BTreeMap<String, u64> {
        self.synced.clone()
    }

    /// Part of a sync's answer was applied: once every part of it is, the
    /// conversation is held up to the sync's version. Parts lost or late
    /// keep the old version, so the next sync sends them again.
    pub fn applied(&mut self, conv: &str, p: SyncPart) {
        let key = (conv.to_string(), p.upto);
        let parts = self.parts.entry(key.clone()).or_default();
        parts.insert(p.part);
        if parts.len() >= p.parts {
            self.parts.remove(&key);
            let v = self.synced.entry(conv.to_string()).or_insert(0);
            *v = (*v).max(p.upto);
            // Older syncs of this conversation can no longer advance it.
            self.parts
                .retain(|(c, upto), _| c != conv || *upto > p.upto);
        }
    }
}
