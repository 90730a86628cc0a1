//! The receipt figures of a message as a client saw or shows them
//! ([`Seen`]: `readCount`, `unreadCount`, `isPeerRead`), and the one-way
//! rule they follow ([`went_back`]): the event stream, the mutated
//! displays and the recall freeze all compare them.

use receiptdb::ReadReceiptInfo;

/// The last receipt figures seen in a message's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub read: u64,
    pub unread: Option<u64>,
    pub peer: bool,
}

impl Seen {
    /// A message's receipt figures as the store holds them.
    pub(crate) fn of(info: &ReadReceiptInfo) -> Seen {
        Seen {
            read: info.read_count,
            unread: info.unread_count,
            peer: info.is_peer_read,
        }
    }
}

/// Why `new` figures of message `id` went back from `old`, if they did:
/// `readCount` fell, `isPeerRead` was lost, or `unreadCount` rose (`None`
/// is the top: unknown → a number is fine, a number → unknown is not).
pub(crate) fn went_back(id: &str, old: &Seen, new: &Seen) -> Option<String> {
    if new.read < old.read {
        return Some(format!(
            "readCount of {id} fell from {} to {}",
            old.read, new.read
        ));
    }
    if old.peer && !new.peer {
        return Some(format!("isPeerRead of {id} went from true to false"));
    }
    match (old.unread, new.unread) {
        (Some(a), Some(b)) if b > a => Some(format!("unreadCount of {id} rose from {a} to {b}")),
        (Some(a), None) => Some(format!("unreadCount of {id} went from {a} to unknown")),
        _ => None,
    }
}
