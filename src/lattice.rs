//! The receipt lattice of SPEC §2, pure: no SQL, no I/O.
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

/// How incoming receipt figures are combined with the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMode {
    /// The lattice of SPEC §2 (the only correct mode).
    #[default]
    Lattice,
    /// Last writer wins: incoming figures overwrite. Deliberately wrong; the
    /// simulator's `--mutate lww` uses it to show that it detects divergence.
    LastWriterWins,
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
    /// Joins an estimate in. For C2C, a peer read means one reader, none unread.
    pub fn join(self, e: &Estimate, c2c: bool) -> ReceiptState {
        let peer_read = self.peer_read || e.peer_read;
        let mut read_count = self.read_count.max(e.read_count.unwrap_or(0));
        let mut unread_count = min_reg(self.unread_count, e.unread_count);
        if c2c && peer_read {
            read_count = read_count.max(1);
            unread_count = min_reg(unread_count, Some(0));
        }
        ReceiptState {
            read_count,
            unread_count: unread_count.map(|u| u.max(0)),
            peer_read,
        }
    }
}
