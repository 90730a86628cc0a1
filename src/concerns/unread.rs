//! The unread side of a group message, in one place: its `local_unread`
//! estimate (|audience| − |readers in audience|), the `unread_count`
//! min-register taking that estimate in, and the index of unread members.
//! Every write to these three goes through here, so the invariants below
//! hold after each call:
//!
//! - `local_unread` is `NULL` while the group's members are unknown, else
//!   exactly |audience| − |readers in audience| (audience: members by the
//!   message's time, not its sender);
//! - once the message is sent, `unread_count` ≤ `local_unread` (a min-register:
//!   it never rises);
//! - when `unread_indexed` is 1, `unread_members` holds exactly the audience
//!   minus the readers.
//!
//! The index:
//! The unread list is audience − readers. Paging it with an anti-join costs a
//! lookup per member skipped, which grows as readers get dense (at 99% read, a
//! page of 100 skips ~10,000 readers). Once a message with a large audience is
//! at most 5% unread, its unread members are written out once and then kept
//! in step with readers and membership, so a page is a plain keyset seek.

use rusqlite::{params, Connection};

use crate::error::Result;
use crate::lattice::min_reg;
use crate::model::{conversation_id, ConversationType, MessageStatus};
use crate::storage::db::Tx;
use crate::storage::rows::{group_type_of, MsgRow};
/// Index once at most 1 / `UNREAD_FRACTION` of the audience is unread.
const UNREAD_FRACTION: i64 = 20;

/// A page of indexed unread members, by keyset.
pub(crate) const INDEXED_UNREAD_PAGE: &str =
    "SELECT user_id FROM unread_members WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3";

/// Builds the index for a message once it is big and mostly read; returns
/// whether it did.
pub(crate) fn maybe_build(
    tx: &Tx<'_>,
    m: &MsgRow,
    local: Option<i64>,
    readers: i64,
    indexed: bool,
) -> Result<bool> {
    let Some(unread) = local else {
        return Ok(false);
    };
    let audience = unread + readers;
    if indexed || audience < tx.unread_index_min || unread * UNREAD_FRACTION > audience {
        return Ok(false);
    }
    rebuild(tx, m)?;
    Ok(true)
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

/// Moves the local unread estimate of a group's messages by ±1 for one member.
pub(crate) const MEMBER_DELTA: &str = "UPDATE receipts SET local_unread = local_unread + ?4
     WHERE local_unread IS NOT NULL
       AND rid IN (SELECT rid FROM messages
                   WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1
                     AND sender <> ?2 AND (?3 IS NULL OR ?3 <= time))
       AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = receipts.rid AND r.user_id = ?2)";

/// How many of a JSON list of readers are new and in the audience (members
/// by the message's time, not its sender); run before inserting them.
pub(crate) const NEW_AUDIENCE_READERS: &str = "SELECT COUNT(DISTINCT j.value) FROM json_each(?2) j
     JOIN members mb ON mb.group_id = ?3 AND mb.user_id = j.value
     WHERE (mb.join_time IS NULL OR mb.join_time <= ?4) AND j.value <> ?5
       AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?1 AND r.user_id = j.value)";

/// |audience| − |readers in audience| of a group message, or `None` when the
/// group's members are unknown.
pub(crate) fn local_unread(
    conn: &Connection,
    group_id: &str,
    time: i64,
    sender: &str,
    rid: i64,
) -> Result<Option<i64>> {
    if group_type_of(conn, group_id)?.is_none() {
        return Ok(None);
    }
    let n = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM members m
             WHERE m.group_id = ?1 AND (m.join_time IS NULL OR m.join_time <= ?2)
               AND m.user_id <> ?3
               AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?4 AND r.user_id = m.user_id)",
        )?
        .query_row(params![group_id, time, sender, rid], |r| r.get(0))?;
    Ok(Some(n))
}

/// Recounts a group receipt message's local unread estimate from its
/// audience. Once the message is sent, `unread_count` takes the min with it
/// (it is unknown, the top, until the server's time fixes the audience).
pub(crate) fn init_group_counts(tx: &mut Tx<'_>, m: &MsgRow) -> Result<()> {
    if !(m.is_out && m.need_receipt && m.ctype == ConversationType::Group) {
        return Ok(());
    }
    let local = local_unread(tx.conn, &m.recipient, m.time, &m.sender, m.rid)?;
    let (old, indexed): (Option<i64>, bool) = tx
        .conn
        .prepare_cached("SELECT unread_count, unread_indexed FROM receipts WHERE rid = ?1")?
        .query_row(params![m.rid], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if indexed {
        rebuild(tx, m)?;
    }
    let new = if m.status == MessageStatus::UnSend {
        old
    } else {
        min_reg(old, local)
    };
    tx.conn
        .prepare_cached("UPDATE receipts SET local_unread = ?2, unread_count = ?3 WHERE rid = ?1")?
        .execute(params![m.rid, local, new])?;
    if new != old {
        tx.receipt_changed.insert(m.rid);
    }
    Ok(())
}

/// Keeps every message's unread side exact after a membership change of
/// `group_id` (the member rows are already written): incremental ±1 moves
/// and index updates, or a full recount when the members just became known
/// (`incremental` false). `unread_count` then takes the min (it never rises).
pub(crate) fn members_changed(
    tx: &mut Tx<'_>,
    group_id: &str,
    removed: &[(String, Option<i64>)],
    added: &[(String, Option<i64>)],
    incremental: bool,
) -> Result<()> {
    let conv = conversation_id(ConversationType::Group, group_id);
    if incremental {
        let mut upd = tx.conn.prepare_cached(MEMBER_DELTA)?;
        for (u, jt) in removed {
            upd.execute(params![conv, u, jt, -1])?;
            member_removed(tx, &conv, u)?;
        }
        for (u, jt) in added {
            upd.execute(params![conv, u, jt, 1])?;
            member_added(tx, &conv, u, *jt)?;
        }
    } else {
        recompute_local_unread(tx.conn, &conv, group_id)?;
    }
    let mut st = tx.conn.prepare_cached(
        "UPDATE receipts SET unread_count = local_unread
         WHERE rid IN (SELECT rid FROM messages
                       WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1
                         AND status <> 'unSend')
           AND local_unread IS NOT NULL
           AND (unread_count IS NULL OR unread_count > local_unread)
         RETURNING rid",
    )?;
    let rids = st.query_map(params![conv], |r| r.get::<_, i64>(0))?;
    for rid in rids {
        tx.receipt_changed.insert(rid?);
    }
    Ok(())
}

/// How many of `list` (a JSON array of readers) are new and in the
/// audience of `m`; run before inserting them.
pub(crate) fn new_audience_readers(tx: &Tx<'_>, m: &MsgRow, list: &str) -> Result<i64> {
    Ok(tx
        .conn
        .prepare_cached(NEW_AUDIENCE_READERS)?
        .query_row(params![m.rid, list, m.recipient, m.time, m.sender], |r| {
            r.get(0)
        })?)
}

/// Full recount for every receipt message of a group whose members just became known.
fn recompute_local_unread(conn: &Connection, conv: &str, group_id: &str) -> Result<()> {
    let mut st = conn.prepare_cached(
        "SELECT rid, time, sender FROM messages
         WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1",
    )?;
    let msgs: Vec<(i64, i64, String)> = st
        .query_map(params![conv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut upd = conn.prepare_cached("UPDATE receipts SET local_unread = ?2 WHERE rid = ?1")?;
    for (rid, time, sender) in msgs {
        let n = local_unread(conn, group_id, time, &sender, rid)?;
        upd.execute(params![rid, n])?;
    }
    Ok(())
}
