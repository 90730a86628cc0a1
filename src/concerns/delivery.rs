//! Delivered vs read (PROTOCOL.md, Delivered and read): who received an
//! `out` message (deliverers ∪ readers, a grow-only set), the delivered
//! count (a max-register), the C2C peer-delivered bit (an or), and the
//! owner's own delivery acks for `in` messages, queued in an outbox of
//! their own.

use rusqlite::{params, Connection, OptionalExtension};

use super::outbox::{batch_number, hand_out, Batch, DELIVERIES};
use crate::error::Result;
use crate::model::{ConversationType, MessageStatus};
use crate::storage::db::{Db, Tx};
use crate::storage::meta;
use crate::storage::rows::{group_type_of, load_delivered, MsgRow};

/// Delivery information about one `out` message, from the server.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Delivery<'a> {
    /// The server's delivered count.
    pub count: Option<i64>,
    /// The server says the C2C peer received it.
    pub peer: bool,
    /// Users who received it.
    pub users: &'a [String],
}

impl Delivery<'_> {
    /// Whether it says anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.count.is_none() && !self.peer && self.users.is_empty()
    }
}

/// Who received a group message (readers and deliverers) in its read
/// audience, the rules of the read list (members or former members by the
/// message's time, anyone while the members are unknown, `?4` = 0; never
/// the sender), from a keyset (`?2`): one arm of a compound SELECT per
/// table. Ordered by user ID, SQLite runs it as a merge of the two index
/// ranges that stops at a page's end (a subquery over the union would build
/// it whole). Params: `?1` rid, `?2` after, `?3` sender, `?4` members
/// known, `?5` group, `?6` the message's time.
macro_rules! in_read_audience {
    ($t:literal) => {
        concat!(
            "SELECT ", $t, ".user_id FROM ", $t, "s ", $t,
            " WHERE ", $t, ".rid = ?1 AND ", $t, ".user_id > ?2 AND ", $t, ".user_id <> ?3
               AND (?4 = 0
                    OR EXISTS (SELECT 1 FROM members mb WHERE mb.group_id = ?5 AND mb.user_id = ", $t, ".user_id
                                 AND (mb.join_time IS NULL OR mb.join_time <= ?6))
                    OR EXISTS (SELECT 1 FROM former_members fm WHERE fm.group_id = ?5 AND fm.user_id = ", $t, ".user_id
                                 AND (fm.join_time IS NULL OR fm.join_time <= ?6)))"
        )
    };
}
/// A page of the delivered list (filter 2).
pub(crate) const DELIVERED_PAGE: &str = concat!(
    in_read_audience!("reader"),
    " UNION ",
    in_read_audience!("deliverer"),
    " ORDER BY 1 LIMIT 101"
);
/// The size of the delivered list: |(deliverers ∪ readers) in the read audience|.
const DELIVERED_IN_AUDIENCE: &str = concat!(
    "SELECT COUNT(*) FROM (",
    in_read_audience!("reader"),
    " UNION ",
    in_read_audience!("deliverer"),
    ")"
);

fn delivered_in_audience(conn: &Connection, m: &MsgRow) -> Result<i64> {
    let known = group_type_of(conn, &m.recipient)?.is_some();
    Ok(conn.prepare_cached(DELIVERED_IN_AUDIENCE)?.query_row(
        params![m.rid, "", m.sender, known, m.recipient, m.time],
        |r| r.get(0),
    )?)
}

/// Merges delivery information into a held `out` message that needs a
/// receipt (the caller has checked the group takes receipts and the
/// message is not recalled). Returns whether its delivery answer changed.
pub(crate) fn merge_delivery(tx: &mut Tx<'_>, m: &MsgRow, d: &Delivery<'_>) -> Result<bool> {
    if !(m.is_out && m.need_receipt) || m.recalled || d.is_empty() {
        return Ok(false);
    }
    let before = load_delivered(tx.conn, m.rid)?;
    if m.ctype == ConversationType::C2C {
        // One bit: any evidence about the peer sets it; others are ignored.
        let peer = d.peer || d.count.unwrap_or(0) >= 1 || d.users.contains(&m.recipient);
        if peer {
            tx.conn
                .prepare_cached(
                    "UPDATE receipts SET peer_delivered = 1, delivered_count = 1
                     WHERE rid = ?1 AND peer_delivered = 0",
                )?
                .execute(params![m.rid])?;
        }
    } else {
        if !d.users.is_empty() {
            let mut unique: Vec<&str> = d.users.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            let list = crate::storage::json_list(&unique)?;
            let added = tx
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO deliverers(rid, user_id) SELECT ?1, value FROM json_each(?2)",
                )?
                .execute(params![m.rid, list])? as i64;
            if added > 0 {
                tx.conn
                    .prepare_cached(
                        "UPDATE receipts SET deliverer_count = deliverer_count + ?2 WHERE rid = ?1",
                    )?
                    .execute(params![m.rid, added])?;
            }
        }
        let local = delivered_in_audience(tx.conn, m)?;
        let figure = d.count.unwrap_or(0).max(local);
        tx.conn
            .prepare_cached(
                "UPDATE receipts SET delivered_count = max(delivered_count, ?2),
                    delivered_local = ?3 WHERE rid = ?1",
            )?
            .execute(params![m.rid, figure, local])?;
    }
    Ok(load_delivered(tx.conn, m.rid)? != before)
}

/// After readers were merged into a group message: when it has deliverers, the
/// union may have grown past both counts, so the local estimate is joined
/// again (without deliverers the readers alone are counted by `read_count`).
pub(crate) fn readers_added(tx: &Tx<'_>, m: &MsgRow) -> Result<()> {
    if !(m.is_out && m.need_receipt && m.ctype == ConversationType::Group) || m.recalled {
        return Ok(());
    }
    let deliverers: i64 = tx
        .conn
        .prepare_cached("SELECT deliverer_count FROM receipts WHERE rid = ?1")?
        .query_row(params![m.rid], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if deliverers == 0 {
        return Ok(());
    }
    let local = delivered_in_audience(tx.conn, m)?;
    tx.conn
        .prepare_cached(
            "UPDATE receipts SET delivered_count = max(delivered_count, ?2), delivered_local = ?2
             WHERE rid = ?1",
        )?
        .execute(params![m.rid, local])?;
    Ok(())
}

/// Queues the owner's delivery ack for an `in` message that needs a
/// receipt and was sent (not failed, not recalled), once, when delivery
/// acks are on. Returns whether it queued one.
pub(crate) fn queue_ack(tx: &Tx<'_>, m: &MsgRow) -> Result<bool> {
    if m.is_out || !m.need_receipt || m.status != MessageStatus::Success || m.recalled {
        return Ok(false);
    }
    if !meta::delivery_acks_on(tx.conn)? {
        return Ok(false);
    }
    let no_receipts = group_type_of(tx.conn, &m.recipient)?.is_some_and(|t| !t.supports_receipts());
    if m.ctype == ConversationType::Group && no_receipts {
        return Ok(false);
    }
    let queued = tx
        .conn
        .prepare_cached(
            "UPDATE messages SET delivery_state = 1 WHERE rid = ?1 AND delivery_state = 0",
        )?
        .execute(params![m.rid])?;
    if queued == 0 {
        return Ok(false);
    }
    tx.conn
        .prepare_cached("INSERT INTO delivery_outbox(rid, conversation_id) VALUES (?1, ?2)")?
        .execute(params![m.rid, m.conversation_id])?;
    Ok(true)
}

/// Hands out batches of delivery acks (`d<n>`), as receipts are.
pub(crate) fn pending_deliveries(tx: &Tx<'_>, limit: usize) -> Result<Vec<Batch>> {
    hand_out(tx, &DELIVERIES, limit)
}

/// `ackDeliveryReceipts`: the server holds a batch of delivery acks; its
/// messages are done for good. An unknown or repeated batch ID is `false`.
pub(crate) fn ack_deliveries(db: &Db, batch_id: &str) -> Result<bool> {
    let Some(n) = batch_number(batch_id, 'd')? else {
        return Ok(false);
    };
    db.write(|tx| {
        let c = tx.conn;
        let held = c
            .prepare_cached("SELECT 1 FROM delivery_batches WHERE batch_id = ?1")?
            .exists(params![n])?;
        if !held {
            return Ok(false);
        }
        c.prepare_cached(
            "UPDATE messages SET delivery_state = 2
             WHERE rid IN (SELECT rid FROM delivery_outbox WHERE batch_id = ?1)",
        )?
        .execute(params![n])?;
        c.prepare_cached("DELETE FROM delivery_outbox WHERE batch_id = ?1")?
            .execute(params![n])?;
        c.prepare_cached("DELETE FROM delivery_batches WHERE batch_id = ?1")?
            .execute(params![n])?;
        Ok(true)
    })
}

/// How many receivers the store itself can name: its count at the last
/// delivery merge, or the readers it counts when that is more.
pub(crate) fn local_count(conn: &Connection, rid: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT max(delivered_local, reader_count) FROM receipts WHERE rid = ?1")?
        .query_row(params![rid], |r| r.get(0))?)
}

/// Forgets who received deleted messages and withdraws their delivery acks
/// (rowids, a JSON array), handed out or not; a batch left empty goes.
pub(crate) fn forget(tx: &Tx<'_>, rids_json: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM deliverers WHERE rid IN (SELECT value FROM json_each(?1))")?
        .execute(params![rids_json])?;
    let withdrawn = tx
        .conn
        .prepare_cached(
            "DELETE FROM delivery_outbox WHERE rid IN (SELECT value FROM json_each(?1))",
        )?
        .execute(params![rids_json])?;
    if withdrawn == 0 {
        return Ok(());
    }
    tx.conn
        .prepare_cached(
            "DELETE FROM delivery_batches WHERE NOT EXISTS
                (SELECT 1 FROM delivery_outbox o WHERE o.batch_id = delivery_batches.batch_id)",
        )?
        .execute([])?;
    Ok(())
}
