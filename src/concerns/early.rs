//! Early receipts: receipt information for messages not held yet (or held
//! without needing a receipt), kept (bounded) with the conversation it was
//! given for, and applied when the message arrives in that conversation (or
//! a later save says it needs a receipt).

use rusqlite::params;

use super::delivery::{merge_delivery, Delivery};
use super::outbox::mark_self_read;
use super::receipts::{merge_held, merge_read_times};
use super::tombstones::is_deleted;
use crate::error::Result;
use crate::lattice::{min_reg, Estimate};
use crate::storage::db::Tx;
use crate::storage::meta::{self, Key};
use crate::storage::rows::MsgRow;

/// Most messages whose receipt information is buffered before they arrive.
pub const MAX_EARLY_MESSAGES: i64 = 10_000;
/// Most reader rows buffered for messages not held yet.
pub const MAX_EARLY_READERS: i64 = 1_000_000;

/// Buffered entries for one message that apply in a conversation: given for
/// it or for none (`''`).
pub(crate) const EARLY_FOR_CONV: &str =
    "SELECT conversation_id, read_count, unread_count, peer_read, self_read, delivered_count,
            peer_delivered FROM early_receipts
     WHERE message_id = ?1 AND conversation_id IN ('', ?2)";

/// Keeps receipt information for a message not held yet (bounded, oldest
/// evicted first, in bulk; a later snapshot brings evicted information
/// back). `conv` is the conversation it was given for, if any. Returns
/// whether it was kept: nothing is for a deleted message.
pub(crate) fn merge_early(
    tx: &mut Tx<'_>,
    message_id: &str,
    conv: Option<&str>,
    est: &Estimate,
    readers: &[String],
    self_read: bool,
) -> Result<bool> {
    if is_deleted(tx.conn, message_id)? {
        // A deleted message never comes back: nothing to keep for it.
        return Ok(false);
    }
    let conv = conv.unwrap_or("");
    let seq = meta::next(tx.conn, Key::EarlySeq)?;
    let fresh = !tx
        .conn
        .prepare_cached(
            "SELECT 1 FROM early_receipts WHERE message_id = ?1 AND conversation_id = ?2",
        )?
        .exists(params![message_id, conv])?;
    tx.conn
        .prepare_cached(
            "INSERT INTO early_receipts(message_id, conversation_id, read_count, unread_count,
                                        peer_read, self_read, seq)
             VALUES (?1, ?2, COALESCE(?3, 0), ?4, ?5, ?6, ?7)
             ON CONFLICT(message_id, conversation_id) DO UPDATE SET
                read_count = MAX(read_count, excluded.read_count),
                unread_count = CASE WHEN excluded.unread_count IS NULL THEN unread_count
                                    WHEN unread_count IS NULL THEN excluded.unread_count
                                    ELSE MIN(unread_count, excluded.unread_count) END,
                peer_read = peer_read | excluded.peer_read,
                self_read = self_read | excluded.self_read",
        )?
        .execute(params![
            message_id,
            conv,
            est.read_count,
            est.unread_count,
            est.peer_read,
            self_read,
            seq
        ])?;
    if fresh {
        meta::add_counter(tx.conn, Key::EarlyCount, 1)?;
    }
    add_early_users(tx, message_id, conv, readers, false)?;
    evict_early(tx)?;
    Ok(true)
}

/// Keeps users who read (`delivered_only` false) or received a message not
/// held yet; a reader row replaces a delivered-only one (a reader counts
/// as delivered). Rows count against the early bound.
fn add_early_users(
    tx: &mut Tx<'_>,
    message_id: &str,
    conv: &str,
    users: &[String],
    delivered_only: bool,
) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let mut added = 0i64;
    let mut ins = tx.conn.prepare_cached(
        "INSERT OR IGNORE INTO early_readers(message_id, conversation_id, user_id, delivered_only)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut read = tx.conn.prepare_cached(
        "UPDATE early_readers SET delivered_only = 0
         WHERE message_id = ?1 AND conversation_id = ?2 AND user_id = ?3 AND delivered_only = 1",
    )?;
    for u in users {
        let n = ins.execute(params![message_id, conv, u, delivered_only])? as i64;
        if n == 0 && !delivered_only {
            read.execute(params![message_id, conv, u])?;
        }
        added += n;
    }
    if added > 0 {
        tx.conn
            .prepare_cached(
                "UPDATE early_receipts SET readers = readers + ?3
                 WHERE message_id = ?1 AND conversation_id = ?2",
            )?
            .execute(params![message_id, conv, added])?;
        meta::add_counter(tx.conn, Key::EarlyReaderCount, added)?;
    }
    Ok(())
}

/// Keeps read times of readers of a message not held yet (the readers
/// were kept by [`merge_early`] in the same call); the earliest wins.
pub(crate) fn merge_early_read_times(
    tx: &mut Tx<'_>,
    message_id: &str,
    conv: Option<&str>,
    times: &[(String, i64)],
) -> Result<()> {
    let conv = conv.unwrap_or("");
    let mut st = tx.conn.prepare_cached(
        "UPDATE early_readers SET read_time = ?4
         WHERE message_id = ?1 AND conversation_id = ?2 AND user_id = ?3
           AND (read_time IS NULL OR read_time > ?4)",
    )?;
    for (user, t) in times {
        st.execute(params![message_id, conv, user, t])?;
    }
    Ok(())
}

/// Keeps delivery information for a message not held yet (or that needs
/// no receipt yet), beside its read information, under the same bound.
pub(crate) fn merge_early_delivery(
    tx: &mut Tx<'_>,
    message_id: &str,
    conv: Option<&str>,
    d: &Delivery<'_>,
) -> Result<()> {
    if d.is_empty() || !merge_early(tx, message_id, conv, &Estimate::default(), &[], false)? {
        return Ok(());
    }
    let conv = conv.unwrap_or("");
    tx.conn
        .prepare_cached(
            "UPDATE early_receipts SET delivered_count = MAX(delivered_count, ?3),
                peer_delivered = peer_delivered | ?4
             WHERE message_id = ?1 AND conversation_id = ?2",
        )?
        .execute(params![message_id, conv, d.count.unwrap_or(0), d.peer])?;
    add_early_users(tx, message_id, conv, d.users, true)?;
    evict_early(tx)
}

/// Past a bound, evicts the oldest entries in one go, down to 90% of the
/// bound, so a stream of arrivals over the bound costs linear time.
fn evict_early(tx: &mut Tx<'_>) -> Result<()> {
    let n = meta::counter(tx.conn, Key::EarlyCount)?;
    let readers = meta::counter(tx.conn, Key::EarlyReaderCount)?;
    if n <= MAX_EARLY_MESSAGES && readers <= MAX_EARLY_READERS {
        return Ok(());
    }
    let (target_n, target_r) = (MAX_EARLY_MESSAGES * 9 / 10, MAX_EARLY_READERS * 9 / 10);
    let mut cut: Option<i64> = None;
    let (mut gone_n, mut gone_r) = (0i64, 0i64);
    {
        let mut st = tx
            .conn
            .prepare_cached("SELECT seq, readers FROM early_receipts ORDER BY seq")?;
        let mut rows = st.query([])?;
        while n - gone_n > target_n || readers - gone_r > target_r {
            let Some(r) = rows.next()? else { break };
            cut = Some(r.get(0)?);
            gone_n += 1;
            gone_r += r.get::<_, i64>(1)?;
        }
    }
    let Some(cut) = cut else { return Ok(()) };
    tx.conn
        .prepare_cached(
            "DELETE FROM early_readers WHERE (message_id, conversation_id) IN
                (SELECT message_id, conversation_id FROM early_receipts WHERE seq <= ?1)",
        )?
        .execute(params![cut])?;
    tx.conn
        .prepare_cached("DELETE FROM early_receipts WHERE seq <= ?1")?
        .execute(params![cut])?;
    meta::add_counter(tx.conn, Key::EarlyCount, -gone_n)?;
    meta::add_counter(tx.conn, Key::EarlyReaderCount, -gone_r)?;
    Ok(())
}

/// Drops every buffered entry of a message (whatever its conversation).
fn drop_early(tx: &mut Tx<'_>, id: &str) -> Result<()> {
    drop_entries(tx, "message_id = ?1", id)
}

/// Drops every buffered entry of the messages of a JSON array of IDs.
pub(crate) fn drop_early_list(tx: &mut Tx<'_>, ids_json: &str) -> Result<()> {
    drop_entries(
        tx,
        "message_id IN (SELECT value FROM json_each(?1))",
        ids_json,
    )
}

/// Drops the buffered entries `filter` (over `early_receipts`, one bound
/// parameter) selects, with their users, and keeps the counters in step.
fn drop_entries(tx: &mut Tx<'_>, filter: &'static str, value: &str) -> Result<()> {
    let (n, r): (i64, i64) = tx
        .conn
        .prepare_cached(&format!(
            "SELECT COUNT(*), COALESCE(SUM(readers), 0) FROM early_receipts WHERE {filter}"
        ))?
        .query_row(params![value], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if n == 0 {
        return Ok(());
    }
    tx.conn
        .prepare_cached(&format!(
            "DELETE FROM early_readers WHERE (message_id, conversation_id) IN
                (SELECT message_id, conversation_id FROM early_receipts WHERE {filter})"
        ))?
        .execute(params![value])?;
    tx.conn
        .prepare_cached(&format!("DELETE FROM early_receipts WHERE {filter}"))?
        .execute(params![value])?;
    meta::add_counter(tx.conn, Key::EarlyCount, -n)?;
    meta::add_counter(tx.conn, Key::EarlyReaderCount, -r)?;
    Ok(())
}

/// Applies buffered receipt information to a message that just arrived (or
/// now needs a receipt): only what was given for its conversation or for
/// none; what was given for another conversation can never apply and is
/// dropped. Kept while the message needs no receipt.
pub(crate) fn flush_early(tx: &mut Tx<'_>, m: &MsgRow) -> Result<()> {
    if !m.need_receipt {
        tx.conn
            .prepare_cached(
                "DELETE FROM early_readers WHERE message_id = ?1 AND conversation_id NOT IN ('', ?2)",
            )?
            .execute(params![m.id, m.conversation_id])?;
        let (n, r): (i64, i64) = tx
            .conn
            .prepare_cached(
                "DELETE FROM early_receipts WHERE message_id = ?1 AND conversation_id NOT IN ('', ?2)
                 RETURNING 1, readers",
            )?
            .query_map(params![m.id, m.conversation_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .try_fold((0, 0), |(a, b), x| x.map(|(c, d)| (a + c, b + d)))?;
        meta::add_counter(tx.conn, Key::EarlyCount, -n)?;
        meta::add_counter(tx.conn, Key::EarlyReaderCount, -r)?;
        return Ok(());
    }
    let entries: Vec<(String, Estimate, bool, i64, bool)> = tx
        .conn
        .prepare_cached(EARLY_FOR_CONV)?
        .query_map(params![m.id, m.conversation_id], |r| {
            Ok((
                r.get(0)?,
                Estimate {
                    read_count: Some(r.get(1)?),
                    unread_count: r.get(2)?,
                    peer_read: r.get(3)?,
                },
                r.get::<_, bool>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if entries.is_empty() {
        return drop_early(tx, &m.id);
    }
    let mut est = Estimate::default();
    let mut self_read = false;
    let (mut delivered_count, mut peer_delivered) = (None::<i64>, false);
    for (_, e, s, dc, pd) in &entries {
        est.read_count = Some(est.read_count.unwrap_or(0).max(e.read_count.unwrap_or(0)));
        est.unread_count = min_reg(est.unread_count, e.unread_count);
        est.peer_read |= e.peer_read;
        self_read |= *s;
        if *dc > 0 {
            delivered_count = Some(delivered_count.unwrap_or(0).max(*dc));
        }
        peer_delivered |= *pd;
    }
    // Each user once: a reader if any of their rows says read.
    let users: Vec<(String, bool, Option<i64>)> = tx
        .conn
        .prepare_cached(
            "SELECT user_id, MIN(delivered_only), MIN(read_time) FROM early_readers
             WHERE message_id = ?1 AND conversation_id IN ('', ?2) GROUP BY user_id",
        )?
        .query_map(params![m.id, m.conversation_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (delivered, read): (Vec<_>, Vec<_>) = users.into_iter().partition(|u| u.1);
    let times: Vec<(String, i64)> = read
        .iter()
        .filter_map(|u| u.2.map(|t| (u.0.clone(), t)))
        .collect();
    let readers: Vec<String> = read.into_iter().map(|u| u.0).collect();
    let deliverers: Vec<String> = delivered.into_iter().map(|u| u.0).collect();
    drop_early(tx, &m.id)?;
    merge_held(tx, m, &est, &readers)?;
    if !readers.is_empty() {
        super::delivery::readers_added(tx, m)?;
    }
    merge_read_times(tx, m, &times)?;
    let d = Delivery {
        count: delivered_count,
        peer: peer_delivered,
        users: &deliverers,
    };
    if !m.recalled && merge_delivery(tx, m, &d)? {
        tx.delivery_changed.insert(m.rid);
    }
    if self_read {
        mark_self_read(tx, m)?;
    }
    Ok(())
}

/// Drops what was buffered for messages of a conversation whose history
/// was cleared (entries given for no conversation stay, to age out).
pub(crate) fn forget_conversation(tx: &mut Tx<'_>, conv: &str) -> Result<()> {
    drop_entries(tx, "conversation_id = ?1", conv)
}
