//! Receipt state with readers: merging an estimate and a reader list into a
//! held `out` message by the lattice ([`crate::lattice`]), and recording the
//! change for events. The unread side goes through [`super::unread`].

use rusqlite::params;

use super::unread;
use crate::error::Result;
use crate::lattice::{min_reg, Estimate, ReceiptState};
use crate::model::{ConversationType, GroupType, MessageStatus};
use crate::storage::db::Tx;
use crate::storage::rows::{
    group_type_of, load_receipt, load_row_by_rid, MergeHead, MsgRow, StoredReceipt,
};

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
    let rec = load_receipt(tx.conn, m.rid)?;
    let group = group_of(tx.conn, m)?;
    merge_loaded(tx, m, rec, group, est, readers)
}

/// The type of a group message's group, `None` when the group is unknown
/// or the message is one-to-one (read once a merge, for every use).
pub(crate) fn group_of(conn: &rusqlite::Connection, m: &MsgRow) -> Result<Option<GroupType>> {
    if m.ctype == ConversationType::Group {
        group_type_of(conn, &m.recipient)
    } else {
        Ok(None)
    }
}

/// Whether a group of type `group` (`None`: unknown) takes receipts.
pub(crate) fn takes_receipts(group: Option<GroupType>) -> bool {
    group.is_none_or(|t| t.supports_receipts())
}

/// [`merge_held`] on receipt columns and the group's type ([`group_of`])
/// the caller read in the same transaction.
pub(crate) fn merge_loaded(
    tx: &mut Tx<'_>,
    m: &MsgRow,
    rec: StoredReceipt,
    group: Option<GroupType>,
    est: &Estimate,
    readers: &[String],
) -> Result<bool> {
    // A recalled message's figures stay as they were (PROTOCOL.md, Recalled messages).
    if !(m.is_out && m.need_receipt) || m.recalled {
        return Ok(false);
    }
    let StoredReceipt {
        state,
        local,
        reader_count,
        indexed,
    } = rec;
    let c2c = m.ctype == ConversationType::C2C;
    if !c2c && !takes_receipts(group) {
        // Community / AVChatRoom: receipt information is ignored (PROTOCOL.md, Methods).
        return Ok(false);
    }
    let mut est = *est;
    let mut hits = 0i64;
    let mut counted = 0i64;
    let mut added = 0i64;
    if c2c {
        est.peer_read |= readers.contains(&m.recipient);
    } else if !readers.is_empty() {
        // The whole list goes to SQLite as one JSON array: set-based
        // statements instead of two round trips a reader. Sorted and
        // without repeats, so lookups and inserts walk the indexes in order
        // and the counts need no DISTINCT.
        let mut unique: Vec<&str> = readers.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        // Readers are never forgotten, but only those in the audience count;
        // the unread side moves only while the members are known.
        let known = group.is_some();
        // One reader is bound as itself (no JSON to parse), more as a list.
        let arg = match unique[..] {
            [one] => one.to_string(),
            _ => crate::storage::json_list(&unique)?,
        };
        let ids = unread::ReaderList {
            ids: &unique,
            arg: &arg,
        };
        // One reader is inserted first: whether the insert added it says
        // whether it is new. More are counted before they are inserted.
        let (in_unread, in_read) = if let [one] = unique[..] {
            added = tx
                .conn
                .prepare_cached("INSERT OR IGNORE INTO readers(rid, user_id) VALUES (?1, ?2)")?
                .execute(params![m.rid, one])? as i64;
            if added > 0 {
                unread::one_new_reader(tx, m, known, one)?
            } else {
                (0, 0)
            }
        } else {
            let counts = unread::new_readers(tx, m, known, &ids, local)?;
            added = tx
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO readers(rid, user_id) SELECT ?1, value FROM json_each(?2)",
                )?
                .execute(params![m.rid, arg])? as i64;
            counts
        };
        hits = if local.is_some() { in_unread } else { 0 };
        counted = in_read;
        if indexed && added > 0 {
            unread::readers_added(tx, m.rid, &ids)?;
        }
    }
    let reader_count = reader_count + counted;
    let local = local.map(|l| l - hits);
    let next = next_state(m.ctype, m.status, state, local, reader_count, est);
    // A reader outside the audience changes no count and no list.
    let changed = next != state || counted > 0;
    if changed || hits > 0 || counted > 0 || added > 0 {
        tx.conn
            .prepare_cached(
                "UPDATE receipts SET read_count = ?2, unread_count = ?3, peer_read = ?4,
                    local_unread = ?5, reader_count = ?6, reader_rows = reader_rows + ?7
                 WHERE rid = ?1",
            )?
            .execute(params![
                m.rid,
                next.read_count,
                next.unread_count,
                next.peer_read,
                local,
                reader_count,
                added
            ])?;
    }
    if !c2c && m.status.audience_fixed() {
        unread::maybe_build(tx, m, local, reader_count, indexed)?;
    }
    if changed {
        tx.receipt_changed.insert(m.rid);
    }
    Ok(changed)
}

/// The state after joining `est` into `state`, given the message's reader
/// count and local unread estimate (no SQL).
fn next_state(
    ctype: ConversationType,
    status: MessageStatus,
    state: ReceiptState,
    local: Option<i64>,
    reader_count: i64,
    mut est: Estimate,
) -> ReceiptState {
    let c2c = ctype == ConversationType::C2C;
    est.read_count = Some(est.read_count.unwrap_or(0).max(reader_count));
    // Until the server accepts it, a message has no fixed audience (see unread::init_group_counts).
    if status.audience_fixed() {
        est.unread_count = min_reg(est.unread_count, local);
    }
    state.join(&est, c2c)
}

/// A count-only merge (no readers) into a held message whose receipt
/// columns `rec` are current: the same as [`merge_loaded`] with no readers,
/// except that the new state is returned for the caller to write (with
/// others, in one statement) instead of being written here. `rec` is
/// updated to the new state. Returns the state to write, if it changed.
pub(crate) fn merge_counts_deferred(
    tx: &mut Tx<'_>,
    m: &MergeHead,
    rec: &mut StoredReceipt,
    est: &Estimate,
) -> Result<Option<ReceiptState>> {
    if !(m.is_out && m.need_receipt) || m.recalled {
        return Ok(None);
    }
    let next = next_state(
        m.ctype,
        m.status,
        rec.state,
        rec.local,
        rec.reader_count,
        *est,
    );
    if m.ctype != ConversationType::C2C
        && m.status.audience_fixed()
        && unread::needs_build(tx, rec.local, rec.reader_count, rec.indexed)
    {
        // Rare (a big, mostly read message): only then is the whole row read.
        if let Some(row) = load_row_by_rid(tx.conn, m.rid)? {
            rec.indexed = unread::maybe_build(tx, &row, rec.local, rec.reader_count, rec.indexed)?;
        }
    }
    if next == rec.state {
        return Ok(None);
    }
    rec.state = next;
    tx.receipt_changed.insert(m.rid);
    Ok(Some(next))
}

/// Whether a group's messages can have group receipts: `Community` and
/// `AVChatRoom` never do (unknown groups may).
pub(crate) fn group_has_receipts(conn: &rusqlite::Connection, group_id: &str) -> Result<bool> {
    Ok(takes_receipts(group_type_of(conn, group_id)?))
}

/// Writes merged receipt states of count-only merges, each one keyed
/// UPDATE by rowid on one prepared statement.
pub(crate) fn write_states(
    conn: &rusqlite::Connection,
    states: &[(i64, ReceiptState)],
) -> Result<()> {
    let mut st = conn.prepare_cached(
        "UPDATE receipts SET read_count = ?2, unread_count = ?3, peer_read = ?4 WHERE rid = ?1",
    )?;
    for (rid, s) in states {
        st.execute(params![rid, s.read_count, s.unread_count, s.peer_read])?;
    }
    Ok(())
}

/// A sent C2C message that now asks for a receipt shows its one bit: the
/// lattice columns follow `peer_read` (and the change is an event).
pub(crate) fn c2c_receipt_appears(tx: &mut Tx<'_>, rid: i64) -> Result<()> {
    tx.conn
        .prepare_cached(
            "UPDATE receipts SET read_count = peer_read,
                unread_count = CASE WHEN peer_read THEN 0 ELSE 1 END WHERE rid = ?1",
        )?
        .execute(params![rid])?;
    tx.receipt_changed.insert(rid);
    Ok(())
}

/// Joins the read times the server reports for readers of a held `out`
/// message (unix seconds; the earliest wins): per reader in a group (only
/// readers held), the peer's in C2C (others ignored). Whether one changed.
pub(crate) fn merge_read_times(tx: &Tx<'_>, m: &MsgRow, times: &[(String, i64)]) -> Result<bool> {
    if !(m.is_out && m.need_receipt) || m.recalled || times.is_empty() {
        return Ok(false);
    }
    let mut changed = 0;
    if m.ctype == ConversationType::C2C {
        for (_, t) in times.iter().filter(|(u, _)| *u == m.recipient) {
            changed += tx
                .conn
                .prepare_cached(
                    "UPDATE receipts SET peer_read_time = ?2
                     WHERE rid = ?1 AND (peer_read_time IS NULL OR peer_read_time > ?2)",
                )?
                .execute(params![m.rid, t])?;
        }
    } else {
        let mut st = tx.conn.prepare_cached(
            "UPDATE readers SET read_time = ?3
             WHERE rid = ?1 AND user_id = ?2 AND (read_time IS NULL OR read_time > ?3)",
        )?;
        for (user, t) in times {
            changed += st.execute(params![m.rid, user, t])?;
        }
    }
    Ok(changed > 0)
}

/// Forgets the receipt state and readers of deleted messages (rowids, a
/// JSON array).
pub(crate) fn forget(tx: &Tx<'_>, rids_json: &str) -> Result<()> {
    for sql in [
        "DELETE FROM readers WHERE rid IN (SELECT value FROM json_each(?1))",
        "DELETE FROM receipts WHERE rid IN (SELECT value FROM json_each(?1))",
    ] {
        tx.conn.prepare_cached(sql)?.execute(params![rids_json])?;
    }
    Ok(())
}
