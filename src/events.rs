//! Events and subscriptions: delivered after commit, in commit order, over
//! bounded crossbeam channels that never block the writer.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde::Serialize;

/// Default capacity of a subscription's channel.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One item of `MESSAGE_READ_RECEIPT_RECEIVED` (PROTOCOL.md, Events): merged values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptItem {
    /// Group ID, `""` for C2C.
    #[serde(rename = "groupID")]
    pub group_id: String,
    /// The peer for C2C, `""` for groups.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Merged read count.
    pub read_count: u64,
    /// Merged unread count (`null` while unknown).
    pub unread_count: Option<u64>,
    /// Merged C2C peer-read flag.
    pub is_peer_read: bool,
    /// The message's conversation (not part of the JSON event).
    #[serde(skip)]
    pub conversation_id: String,
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// Receipt state of `out` messages changed (`MESSAGE_READ_RECEIPT_RECEIVED`).
    ReceiptsChanged(Vec<ReceiptItem>),
    /// Delivery information of `out` messages changed
    /// (`MESSAGE_DELIVERY_RECEIPT_RECEIVED`).
    DeliveriesChanged(Vec<DeliveryItem>),
    /// Messages were saved or updated: (conversationID, messageID) pairs.
    MessagesChanged(Vec<(String, String)>),
    /// Messages were deleted (`deleteMessages`, `clearHistory`):
    /// (conversationID, messageID) pairs (`MESSAGES_DELETED`).
    MessagesDeleted(Vec<(String, String)>),
    /// A conversation's read state (unread count, read positions, last
    /// message) changed.
    ConversationChanged {
        /// The conversation.
        conversation_id: String,
        /// Its new unread count.
        unread_count: u64,
        /// Its read position.
        read_sequence: i64,
        /// The peer's read position (`None` in groups).
        peer_read_sequence: Option<i64>,
        /// The unread mark shows (PROTOCOL.md, Unread marks).
        marked_unread: bool,
    },
    /// Held `out` C2C messages whose `isPeerRead` just became true
    /// (`MESSAGE_READ_BY_PEER`), as `findMessage` gives them.
    MessagesReadByPeer(Vec<crate::model::Message>),
    /// The total unread count after a commit that changed it
    /// (`TOTAL_UNREAD_MESSAGE_COUNT_UPDATED`).
    TotalUnreadChanged(u64),
    /// The outbox changed; `pending` receipts remain.
    OutboxChanged {
        /// Receipts queued and not yet acked.
        pending: u64,
    },
    /// A snapshot was applied to a conversation.
    SnapshotApplied {
        /// The conversation.
        conversation_id: String,
        /// IDs whose receipt state changed.
        changed: Vec<String>,
    },
    /// The store's contents were replaced by a copy (`restore`): every
    /// subscriber re-reads what it shows (`STORE_RESTORED`).
    StoreRestored,
    /// This subscriber's channel was full and `missed` events were dropped;
    /// re-read state.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// An event with the commit sequence number of the transaction that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Grows by commit order within one open store (0 for `Lagged`).
    pub commit_seq: u64,
    /// What happened.
    pub kind: EventKind,
}

/// Which events a subscription receives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Filter {
    /// Everything.
    #[default]
    All,
    /// Only events about one conversation.
    Conversation(String),
    /// Only events about these messages.
    Messages(HashSet<String>),
}

impl Filter {
    fn conv_ok(&self, conv: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Conversation(c) => c == conv,
            Filter::Messages(_) => false,
        }
    }
    fn item_ok(&self, conv: &str, msg: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Conversation(c) => c == conv,
            Filter::Messages(m) => m.contains(msg),
        }
    }
    /// The (conversationID, messageID) pairs this filter passes, if any.
    fn pairs_ok(&self, items: &[(String, String)]) -> Option<Vec<(String, String)>> {
        let v: Vec<_> = items
            .iter()
            .filter(|(c, m)| self.item_ok(c, m))
            .cloned()
            .collect();
        (!v.is_empty()).then_some(v)
    }

    /// The part of `kind` this filter lets through, if any.
    fn apply(&self, kind: &EventKind) -> Option<EventKind> {
        if *self == Filter::All {
            return Some(kind.clone());
        }
        match kind {
            EventKind::ReceiptsChanged(items) => {
                let v: Vec<_> = items
                    .iter()
                    .filter(|i| self.item_ok(&i.conversation_id, &i.message_id))
                    .cloned()
                    .collect();
                (!v.is_empty()).then_some(EventKind::ReceiptsChanged(v))
            }
            EventKind::DeliveriesChanged(items) => {
                let v: Vec<_> = items
                    .iter()
                    .filter(|i| self.item_ok(&i.conversation_id, &i.message_id))
                    .cloned()
                    .collect();
                (!v.is_empty()).then_some(EventKind::DeliveriesChanged(v))
            }
            EventKind::MessagesChanged(items) => {
                self.pairs_ok(items).map(EventKind::MessagesChanged)
            }
            EventKind::MessagesDeleted(items) => {
                self.pairs_ok(items).map(EventKind::MessagesDeleted)
            }
            EventKind::ConversationChanged {
                conversation_id, ..
            } => self.conv_ok(conversation_id).then(|| kind.clone()),
            EventKind::SnapshotApplied {
                conversation_id,
                changed,
            } => match self {
                Filter::Messages(m) => {
                    let v: Vec<_> = changed.iter().filter(|i| m.contains(*i)).cloned().collect();
                    (!v.is_empty()).then(|| EventKind::SnapshotApplied {
                        conversation_id: conversation_id.clone(),
                        changed: v,
                    })
                }
                _ => self.conv_ok(conversation_id).then(|| kind.clone()),
            },
            EventKind::MessagesReadByPeer(items) => {
                let v: Vec<_> = items
                    .iter()
                    .filter(|m| self.item_ok(&m.conversation_id, &m.id))
                    .cloned()
                    .collect();
                (!v.is_empty()).then_some(EventKind::MessagesReadByPeer(v))
            }
            // About no one conversation: only unfiltered subscribers get it.
            EventKind::OutboxChanged { .. } | EventKind::TotalUnreadChanged(_) => None,
            // A miss may concern any message: every subscriber must re-read.
            EventKind::Lagged { .. } | EventKind::StoreRestored => Some(kind.clone()),
        }
    }
}

struct Sub {
    id: u64,
    filter: Filter,
    tx: Sender<Event>,
    missed: u64,
}

/// The set of subscribers of one store.
#[derive(Default)]
pub(crate) struct Bus {
    subs: Mutex<Vec<Sub>>,
    next_id: AtomicU64,
}

impl Bus {
    pub(crate) fn subscribe(self: &Arc<Self>, filter: Filter, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut subs) = self.subs.lock() {
            subs.push(Sub {
                id,
                filter,
                tx,
                missed: 0,
            });
        }
        Subscription {
            rx,
            id,
            bus: Arc::downgrade(self),
        }
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        self.subs.lock().map(|s| !s.is_empty()).unwrap_or(true)
    }

    fn unsubscribe(&self, id: u64) {
        if let Ok(mut subs) = self.subs.lock() {
            subs.retain(|s| s.id != id);
        }
    }

    /// Sends without ever blocking: a full channel counts a miss instead.
    pub(crate) fn publish(&self, events: &[Event]) {
        let Ok(mut subs) = self.subs.lock() else {
            return;
        };
        subs.retain_mut(|s| {
            for ev in events {
                let Some(kind) = s.filter.apply(&ev.kind) else {
                    continue;
                };
                if s.missed > 0 {
                    let lag = Event {
                        commit_seq: 0,
                        kind: EventKind::Lagged { missed: s.missed },
                    };
                    match s.tx.try_send(lag) {
                        Ok(()) => s.missed = 0,
                        Err(TrySendError::Full(_)) => {
                            s.missed += 1;
                            continue;
                        }
                        Err(TrySendError::Disconnected(_)) => return false,
                    }
                }
                let e = Event {
                    commit_seq: ev.commit_seq,
                    kind,
                };
                match s.tx.try_send(e) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => s.missed += 1,
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
            true
        });
    }
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    rx: Receiver<Event>,
    id: u64,
    bus: std::sync::Weak<Bus>,
}

impl Subscription {
    /// The channel the events arrive on.
    pub fn receiver(&self) -> &Receiver<Event> {
        &self.rx
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.unsubscribe(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Lagged` published for everyone (the re-read after a commit
    /// failed) reaches filtered subscribers too: they missed something.
    #[test]
    fn lagged_reaches_filtered_subscribers() {
        let bus = Arc::new(Bus::default());
        let subs = [
            bus.subscribe(Filter::All, 4),
            bus.subscribe(Filter::Conversation("GROUPg1".into()), 4),
            bus.subscribe(
                Filter::Messages(["m1".to_string()].into_iter().collect()),
                4,
            ),
        ];
        bus.publish(&[Event {
            commit_seq: 7,
            kind: EventKind::Lagged { missed: 1 },
        }]);
        for s in &subs {
            let got: Vec<Event> = s.receiver().try_iter().collect();
            assert_eq!(
                got,
                vec![Event {
                    commit_seq: 7,
                    kind: EventKind::Lagged { missed: 1 }
                }]
            );
        }
    }
}

/// An item of `MESSAGE_DELIVERY_RECEIPT_RECEIVED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryItem {
    /// The group (`""` in C2C).
    #[serde(rename = "groupID")]
    pub group_id: String,
    /// The peer (`""` in groups).
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// How many of its audience received it (readers count).
    #[serde(rename = "deliveredCount")]
    pub delivered_count: u64,
    /// C2C: the peer received it.
    #[serde(rename = "isPeerDelivered")]
    pub is_peer_delivered: bool,
    /// The message's conversation (not part of the JSON event).
    #[serde(skip)]
    pub conversation_id: String,
}
