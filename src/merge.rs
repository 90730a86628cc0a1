//! The receipt lattice of SPEC §2 and its application to stored rows.
//!
//! `read_count` is a max-register, `unread_count` a min-register (`None` =
//! not known yet, the top), `peer_read` an or, readers a grow-only set. Each
//! incoming estimate (server figures, |readers|, the local audience count) is
//! joined in, so any order and any duplication give the same state.

use rusqlite::{params, OptionalExtension};

use crate::error::Result;
use crate::messages::MsgRow;
use crate::model::ConversationType;
use crate::store::Tx;

/// Most messages whose receipt information is buffered before they arrive.
pub const MAX_EARLY_MESSAGES: i64 = 10_000;
/// Most reader rows buffered for messages not held yet.
pub const MAX_EARLY_READERS: i64 = 1_000_000;

/// How many of a JSON list of readers are new and in the audience (members
/// by the message's time, not its sender); run before inserting them.
pub(crate) const NEW_AUDIENCE_READERS: &str = "SELECT COUNT(DISTINCT j.value) FROM json_each(?2) j
     JOIN members mb ON mb.group_id = ?3 AND mb.user_id = j.value
     WHERE (mb.join_time IS NULL OR mb.join_time <= ?4) AND j.value <> ?5
       AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?1 AND r.user_id = j.value)";

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

/// Merges an estimate and readers into a held message. Returns whether its
/// receipt state (counts, flag or readers) changed; records it for events.
pub(crate) fn merge_held(
    tx: &mut Tx<'_>,
    m: &MsgRow,
    est: &Estimate,
    readers: &[String],
) -> Result<bool> {
    if !(m.is_out && m.need_receipt) {
        return Ok(false);
    }
    let rec = tx
        .conn
        .prepare_cached(
            "SELECT read_count, unread_count, peer_read, local_unread, reader_count, unread_indexed
             FROM receipts WHERE rid = ?1",
        )?
        .query_row(params![m.rid], |r| stored_receipt(r, 0))?;
    merge_loaded(tx, m, rec, est, readers)
}

/// Receipt columns of a message row as read for a merge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredReceipt {
    state: ReceiptState,
    local: Option<i64>,
    reader_count: i64,
    indexed: bool,
}

/// Reads [`StoredReceipt`] from columns `at..at + 6` of a row.
pub(crate) fn stored_receipt(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<StoredReceipt> {
    Ok(StoredReceipt {
        state: ReceiptState {
            read_count: r.get(at)?,
            unread_count: r.get(at + 1)?,
            peer_read: r.get(at + 2)?,
        },
        local: r.get(at + 3)?,
        reader_count: r.get(at + 4)?,
        indexed: r.get(at + 5)?,
    })
}

/// [`merge_held`] on receipt columns the caller read in the same transaction.
pub(crate) fn merge_loaded(
    tx: &mut Tx<'_>,
    m: &MsgRow,
    rec: StoredReceipt,
    est: &Estimate,
    readers: &[String],
) -> Result<bool> {
    if !(m.is_out && m.need_receipt) {
        return Ok(false);
    }
    let StoredReceipt {
        state,
        local,
        reader_count,
        indexed,
    } = rec;
    let c2c = m.ctype == ConversationType::C2C;
    let mut est = *est;
    let mut added = 0i64;
    let mut hits = 0i64;
    if c2c {
        est.peer_read |= readers.contains(&m.recipient);
    } else if !readers.is_empty() {
        // The whole list goes to SQLite as one JSON array: set-based
        // statements instead of two round trips a reader.
        let list =
            serde_json::to_string(readers).map_err(|e| crate::Error::Sqlite(e.to_string()))?;
        if local.is_some() {
            hits = tx
                .conn
                .prepare_cached(NEW_AUDIENCE_READERS)?
                .query_row(params![m.rid, list, m.recipient, m.time, m.sender], |r| {
                    r.get(0)
                })?;
        }
        added = tx
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO readers(rid, user_id) SELECT ?1, value FROM json_each(?2)",
            )?
            .execute(params![m.rid, list])? as i64;
        if indexed && added > 0 {
            crate::unread_index::readers_added(tx, m.rid, &list)?;
        }
    }
    let reader_count = reader_count + added;
    let local = local.map(|l| l - hits);
    est.read_count = Some(est.read_count.unwrap_or(0).max(reader_count));
    // An unsent message's audience is not fixed yet (see messages::init_group_counts).
    if m.status != crate::model::MessageStatus::UnSend {
        est.unread_count = min_reg(est.unread_count, local);
    }
    let next = match tx.merge_mode {
        MergeMode::Lattice => state.join(&est, c2c),
        MergeMode::LastWriterWins => ReceiptState {
            read_count: est.read_count.unwrap_or(state.read_count),
            unread_count: est.unread_count.or(state.unread_count),
            peer_read: est.peer_read,
        },
    };
    let changed = next != state || added > 0;
    if changed || hits > 0 {
        tx.conn
            .prepare_cached(
                "UPDATE receipts SET read_count = ?2, unread_count = ?3, peer_read = ?4,
                    local_unread = ?5, reader_count = ?6
                 WHERE rid = ?1",
            )?
            .execute(params![
                m.rid,
                next.read_count,
                next.unread_count,
                next.peer_read,
                local,
                reader_count
            ])?;
    }
    if !c2c && m.status != crate::model::MessageStatus::UnSend {
        crate::unread_index::maybe_build(tx, m, local, reader_count, indexed)?;
    }
    if changed {
        tx.receipt_changed.insert(m.rid);
    }
    Ok(changed)
}

/// Keeps receipt information for a message not held yet (bounded, oldest
/// evicted first; a later snapshot brings evicted information back).
pub(crate) fn merge_early(
    tx: &mut Tx<'_>,
    message_id: &str,
    est: &Estimate,
    readers: &[String],
    self_read: bool,
) -> Result<()> {
    let seq: i64 = tx.conn.query_row(
        "INSERT INTO meta(key, value) VALUES ('early_seq', '1')
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
         RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )?;
    tx.conn
        .prepare_cached(
            "INSERT INTO early_receipts(message_id, read_count, unread_count, peer_read, self_read, seq)
             VALUES (?1, COALESCE(?2, 0), ?3, ?4, ?5, ?6)
             ON CONFLICT(message_id) DO UPDATE SET
                read_count = MAX(read_count, excluded.read_count),
                unread_count = CASE WHEN excluded.unread_count IS NULL THEN unread_count
                                    WHEN unread_count IS NULL THEN excluded.unread_count
                                    ELSE MIN(unread_count, excluded.unread_count) END,
                peer_read = peer_read | excluded.peer_read,
                self_read = self_read | excluded.self_read",
        )?
        .execute(params![
            message_id,
            est.read_count,
            est.unread_count,
            est.peer_read,
            self_read,
            seq
        ])?;
    let mut added = 0i64;
    if !readers.is_empty() {
        let mut ins = tx.conn.prepare_cached(
            "INSERT OR IGNORE INTO early_readers(message_id, user_id) VALUES (?1, ?2)",
        )?;
        for r in readers {
            added += ins.execute(params![message_id, r])? as i64;
        }
        tx.conn
            .prepare_cached(
                "UPDATE early_receipts SET readers = readers + ?2 WHERE message_id = ?1",
            )?
            .execute(params![message_id, added])?;
    }
    evict_early(tx)
}

fn evict_early(tx: &mut Tx<'_>) -> Result<()> {
    loop {
        let (n, readers): (i64, i64) = tx.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(readers), 0) FROM early_receipts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if n <= MAX_EARLY_MESSAGES && readers <= MAX_EARLY_READERS {
            return Ok(());
        }
        let oldest: Option<String> = tx
            .conn
            .query_row(
                "SELECT message_id FROM early_receipts ORDER BY seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match oldest {
            Some(id) => drop_early(tx, &id)?,
            None => return Ok(()),
        }
    }
}

fn drop_early(tx: &mut Tx<'_>, id: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM early_readers WHERE message_id = ?1")?
        .execute(params![id])?;
    tx.conn
        .prepare_cached("DELETE FROM early_receipts WHERE message_id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// Applies buffered receipt information to a message that just arrived.
pub(crate) fn flush_early(tx: &mut Tx<'_>, m: &MsgRow) -> Result<()> {
    let early = tx
        .conn
        .prepare_cached(
            "SELECT read_count, unread_count, peer_read, self_read FROM early_receipts WHERE message_id = ?1",
        )?
        .query_row(params![m.id], |r| {
            Ok((
                Estimate {
                    read_count: Some(r.get(0)?),
                    unread_count: r.get(1)?,
                    peer_read: r.get(2)?,
                },
                r.get::<_, bool>(3)?,
            ))
        })
        .optional()?;
    let Some((est, self_read)) = early else {
        return Ok(());
    };
    let readers: Vec<String> = tx
        .conn
        .prepare_cached("SELECT user_id FROM early_readers WHERE message_id = ?1")?
        .query_map(params![m.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop_early(tx, &m.id)?;
    merge_held(tx, m, &est, &readers)?;
    if self_read {
        crate::outbox::mark_self_read(tx, m)?;
    }
    Ok(())
}
