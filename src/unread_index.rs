//! An index of the unread members of big, mostly-read group messages.
//!
//! The unread list is audience − readers. Paging it with an anti-join costs a
//! lookup per member skipped, which grows as readers get dense (at 99% read, a
//! page of 100 skips ~10,000 readers). Once a message with a large audience is
//! at most 5% unread, its unread members are written out once and then kept
//! in step with readers and membership, so a page is a plain keyset seek.

use rusqlite::params;

use crate::error::Result;
use crate::messages::MsgRow;
use crate::store::Tx;

/// Default smallest audience worth indexing.
pub const DEFAULT_MIN_AUDIENCE: i64 = 2_000;
/// Index once at most 1 / `UNREAD_FRACTION` of the audience is unread.
const UNREAD_FRACTION: i64 = 20;

/// A page of indexed unread members, by keyset.
pub(crate) const INDEXED_UNREAD_PAGE: &str =
    "SELECT user_id FROM unread_members WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3";

/// Builds the index for a message once it is big and mostly read.
pub(crate) fn maybe_build(
    tx: &Tx<'_>,
    m: &MsgRow,
    local: Option<i64>,
    readers: i64,
    indexed: bool,
) -> Result<()> {
    let Some(unread) = local else {
        return Ok(());
    };
    let audience = unread + readers;
    if indexed || audience < tx.unread_index_min || unread * UNREAD_FRACTION > audience {
        return Ok(());
    }
    rebuild(tx, m)
}

/// (Re)writes a message's unread members from its audience and readers.
pub(crate) fn rebuild(tx: &Tx<'_>, m: &MsgRow) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM unread_members WHERE rid = ?1")?
        .execute(params![m.rid])?;
    tx.conn
        .prepare_cached(
            "INSERT INTO unread_members(rid, user_id)
             SELECT ?1, mb.user_id FROM members mb
             WHERE mb.group_id = ?2 AND (mb.join_time IS NULL OR mb.join_time <= ?3)
               AND mb.user_id <> ?4
               AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?1 AND r.user_id = mb.user_id)",
        )?
        .execute(params![m.rid, m.recipient, m.time, m.sender])?;
    tx.conn
        .prepare_cached("UPDATE receipts SET unread_indexed = 1 WHERE rid = ?1")?
        .execute(params![m.rid])?;
    Ok(())
}

/// New readers (a JSON array) of an indexed message are no longer unread.
pub(crate) fn readers_added(tx: &Tx<'_>, rid: i64, list: &str) -> Result<()> {
    tx.conn
        .prepare_cached(
            "DELETE FROM unread_members WHERE rid = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![rid, list])?;
    Ok(())
}

/// A member left: out of every indexed unread list of the group.
pub(crate) fn member_removed(tx: &Tx<'_>, conv: &str, user: &str) -> Result<()> {
    tx.conn
        .prepare_cached(
            "DELETE FROM unread_members WHERE user_id = ?2 AND rid IN
                (SELECT m.rid FROM messages m JOIN receipts r ON r.rid = m.rid
                 WHERE m.conversation_id = ?1 AND r.unread_indexed = 1)",
        )?
        .execute(params![conv, user])?;
    Ok(())
}

/// A member joined: unread in every indexed message whose audience takes them in.
pub(crate) fn member_added(
    tx: &Tx<'_>,
    conv: &str,
    user: &str,
    join_time: Option<i64>,
) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT OR IGNORE INTO unread_members(rid, user_id)
             SELECT m.rid, ?2 FROM messages m JOIN receipts rc ON rc.rid = m.rid
             WHERE m.conversation_id = ?1 AND rc.unread_indexed = 1 AND m.sender <> ?2
               AND (?3 IS NULL OR ?3 <= m.time)
               AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = m.rid AND r.user_id = ?2)",
        )?
        .execute(params![conv, user, join_time])?;
    Ok(())
}
