//! The planted bug of `--mutate lww` (harness-side: the store is never
//! changed): the receipt figures a device displays per `out` message,
//! cached the way a naive app caches server figures. Every receipt
//! notification and snapshot figure overwrites the last (last writer wins)
//! instead of being joined, and the displayed figures, like an event
//! stream, must never go back.

use std::collections::BTreeMap;

use super::fail::Fail;
use super::report::{Counters, Invariant};
use super::seen::{went_back, Seen};

/// The figures one device displays with `--mutate lww`.
#[derive(Debug)]
pub(crate) struct LwwDisplay {
    /// The mutation is on: packets' figures are displayed as they come.
    pub on: bool,
    /// Message ID → figures displayed (kept across crashes).
    displayed: BTreeMap<String, Seen>,
}

impl LwwDisplay {
    /// Nothing displayed yet; `on` with the mutation.
    pub fn new(on: bool) -> LwwDisplay {
        LwwDisplay {
            on,
            displayed: BTreeMap::new(),
        }
    }

    /// A packet's figures for `id` overwrite the displayed ones (a figure
    /// the packet leaves out keeps its value); they must not go back.
    pub fn overwrite(
        &mut self,
        id: &str,
        read: Option<u64>,
        unread: Option<u64>,
        peer: Option<bool>,
        c: &mut Counters,
    ) -> Result<(), Fail> {
        c.event_items += 1;
        let old = self.displayed.get(id).copied();
        let new = Seen {
            read: read.unwrap_or(old.map_or(0, |o| o.read)),
            unread: unread.or(old.and_then(|o| o.unread)),
            peer: peer.unwrap_or(old.is_some_and(|o| o.peer)),
        };
        if let Some(detail) = old.and_then(|old| went_back(id, &old, &new)) {
            return Err(Fail::new(Invariant::Monotone, detail));
        }
        self.displayed.insert(id.to_string(), new);
        Ok(())
    }

    /// The receipt figures the device shows for an `out` message: the
    /// store's (`store`), or with the mutation the displayed ones (the
    /// store's until a packet carried figures for it).
    pub fn shown(&self, id: &str, store: Seen) -> Seen {
        match self.displayed.get(id) {
            Some(d) if self.on => *d,
            _ => store,
        }
    }
}
