//! Early receipts: receipt information for messages not held yet, kept
//! (bounded) and applied when the message arrives.

use rusqlite::{params, OptionalExtension};

use super::outbox::mark_self_read;
use super::receipts::merge_held;
use crate::error::Result;
use crate::lattice::Estimate;
use crate::storage::db::Tx;
use crate::storage::meta;
use crate::storage::rows::MsgRow;

/// Most messages whose receipt information is buffered before they arrive.
pub const MAX_EARLY_MESSAGES: i64 = 10_000;
/// Most reader rows buffered for messages not held yet.
pub const MAX_EARLY_READERS: i64 = 1_000_000;

/// Keeps receipt information for a message not held yet (bounded, oldest
/// evicted first; a later snapshot brings evicted information back).
pub(crate) fn merge_early(
    tx: &mut Tx<'_>,
    message_id: &str,
    est: &Estimate,
    readers: &[String],
    self_read: bool,
) -> Result<()> {
    let seq = meta::next(tx.conn, meta::Key::EarlySeq)?;
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
        mark_self_read(tx, m)?;
    }
    Ok(())
}
