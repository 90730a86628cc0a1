//! The receipt lattice of PROTOCOL.md, Merge rules, pure: no SQL, no I/O.
//!
//! `read_count` is a max-register, `unread_count` a min-register (`None` =
//! not known yet, the top), `peer_read` an or, readers a grow-only set. Each
//! incoming estimate (server figures, |readers|, the local audience count) is
//! joined in, so any order and any duplication give the same state.

/// The visible receipt state of one `out` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiptState {
    /// Max-register.
    pub read_count: i64,
    /// Min-register; `None` is "unknown" and loses to any figure.
    pub unread_count: Option<i64>,
    /// Or-register (C2C).
    pub peer_read: bool,
}

/// One incoming estimate of a message's receipt state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// A read count, if the source gives one.
    pub read_count: Option<i64>,
    /// An unread count, if the source gives one.
    pub unread_count: Option<i64>,
    /// Whether the source says the peer read it.
    pub peer_read: bool,
}

/// Min of two min-registers where `None` is the top.
pub fn min_reg(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl ReceiptState {
    /// Joins an estimate in. A C2C receipt is one bit: any evidence that the
    /// peer read it (`peer_read`, a read count of 1 or more, an unread count
    /// of 0) sets it, and the counts are derived from it (1/0 or 0/1).
    pub fn join(self, e: &Estimate, c2c: bool) -> ReceiptState {
        if c2c {
            let peer_read = self.peer_read
                || e.peer_read
                || e.read_count.unwrap_or(0) >= 1
                || e.unread_count == Some(0);
            return ReceiptState::c2c(peer_read);
        }
        let peer_read = self.peer_read || e.peer_read;
        let read_count = self.read_count.max(e.read_count.unwrap_or(0));
        let unread_count = min_reg(self.unread_count, e.unread_count);
        ReceiptState {
            read_count,
            unread_count: unread_count.map(|u| u.max(0)),
            peer_read,
        }
    }

    /// The C2C receipt state of one bit.
    pub fn c2c(peer_read: bool) -> ReceiptState {
        ReceiptState {
            read_count: i64::from(peer_read),
            unread_count: Some(i64::from(!peer_read)),
            peer_read,
        }
    }
}
