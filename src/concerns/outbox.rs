//! The durable outbox of receipts the owner sends, and its batches (PROTOCOL.md, Methods).

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::groups::check_receipts_allowed;
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::model::{check_id, MessageStatus, ReceiptSentState};
use crate::storage::db::{Db, Tx};
use crate::storage::meta;
use crate::storage::rows::MsgRow;

/// Most message IDs in one batch (and one `sendMessageReadReceipt`).
pub const MAX_BATCH: usize = 30;
/// Default and largest number of batches handed out by one `getPendingReceipts`.
pub const DEFAULT_BATCH_LIMIT: usize = 100;

/// A batch of receipts for the transport to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Stable until acked.
    #[serde(rename = "batchID")]
    pub batch_id: String,
    /// One conversation a batch.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// At most 30, in queue order.
    #[serde(rename = "messageIDs")]
    pub message_ids: Vec<String>,
}

/// A receipt the server refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// The server's error code.
    #[serde(default)]
    pub code: i64,
}

/// The message IDs of one batch, in queue order.
pub(crate) const BATCH_IDS: &str = "SELECT m.id FROM outbox o JOIN messages m ON m.rid = o.rid
     WHERE o.batch_id = ?1 ORDER BY o.seq";
/// Queued receipts not handed out yet, in queue order.
pub(crate) const LOOSE_RECEIPTS: &str = "SELECT o.rid, o.conversation_id, m.id
     FROM outbox o JOIN messages m ON m.rid = o.rid
     WHERE o.batch_id IS NULL ORDER BY o.seq";

/// The [`SendRow`]s of a JSON array of message IDs, with their positions.
pub(crate) const SEND_ROWS: &str =
    "SELECT j.key, m.rid, m.conversation_id, m.is_out, m.need_receipt, m.sent_state, m.status,
            m.recalled
     FROM json_each(?1) j JOIN messages m ON m.id = j.value";

/// Marks a JSON array of rowids `pending` (they were `none`).
pub(crate) const QUEUE_SET_PENDING: &str = "UPDATE messages SET sent_state = ?2
     WHERE rid IN (SELECT value FROM json_each(?1)) AND sent_state = ?3";
/// Queues a JSON array of rowids of one conversation, in array order.
const QUEUE_INSERT: &str = "INSERT INTO outbox(rid, conversation_id)
     SELECT value, ?2 FROM json_each(?1) ORDER BY key";

/// A queued receipt not handed out yet: (rowid, conversation, message ID).
type Loose = (i64, String, String);

/// What `sendMessageReadReceipt` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SendReport {
    /// The IDs newly queued, durable on return.
    pub queued: Vec<String>,
    /// Messages that would have been queued but were not, and why (left
    /// out of the JSON while empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A receipt `sendMessageReadReceipt` did not queue, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Why.
    pub reason: SkipReason,
}

/// Why a receipt was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SkipReason {
    /// The conversation (or the whole store) is read privately.
    #[serde(rename = "PRIVATE_READING")]
    PrivateReading,
}

/// The few facts `sendMessageReadReceipt` needs about a message.
pub(crate) struct SendRow {
    pub rid: i64,
    pub conversation_id: String,
    pub is_out: bool,
    pub need_receipt: bool,
    pub sent_state: ReceiptSentState,
    pub status: MessageStatus,
    pub recalled: bool,
}

/// Checks a list of message IDs: its length, that all are held, and that
/// they share one conversation. Returns the rows in the given order.
fn load_one_conversation(
    conn: &rusqlite::Connection,
    ids: &[String],
    max: usize,
) -> Result<Vec<SendRow>> {
    crate::model::check_message_ids(ids, max)?;
    // One statement finds the whole list (positions from `json_each`).
    let list = crate::storage::json_list(ids)?;
    let mut st = conn.prepare_cached(SEND_ROWS)?;
    let mut found: Vec<Option<SendRow>> = Vec::new();
    found.resize_with(ids.len(), || None);
    let mut q = st.query(params![list])?;
    while let Some(r) = q.next()? {
        let pos: usize = r.get(0)?;
        if let Some(slot) = found.get_mut(pos) {
            *slot = Some(SendRow {
                rid: r.get(1)?,
                conversation_id: r.get(2)?,
                is_out: r.get(3)?,
                need_receipt: r.get(4)?,
                sent_state: r.get(5)?,
                status: r.get(6)?,
                recalled: r.get(7)?,
            });
        }
    }
    let mut rows = Vec::with_capacity(ids.len());
    for (id, row) in ids.iter().zip(found) {
        rows.push(row.ok_or_else(|| Error::MessageNotFound(id.clone()))?);
    }
    if rows
        .iter()
        .any(|r| r.conversation_id != rows[0].conversation_id)
    {
        return Err(Error::MixedConversations);
    }
    Ok(rows)
}

/// Marks an `in` message as read by the owner elsewhere: `acked`, and out of
/// the outbox unless its batch was already handed out. Returns whether it changed.
pub(crate) fn mark_self_read(tx: &mut Tx<'_>, m: &MsgRow) -> Result<bool> {
    if m.is_out || !m.need_receipt {
        return Ok(false);
    }
    let n = tx
        .conn
        .prepare_cached("UPDATE messages SET sent_state = ?2 WHERE rid = ?1 AND sent_state < ?2")?
        .execute(params![m.rid, ReceiptSentState::Acked])?;
    let removed = tx
        .conn
        .prepare_cached("DELETE FROM outbox WHERE rid = ?1 AND batch_id IS NULL")?
        .execute(params![m.rid])?;
    if removed > 0 {
        let pending = meta::add_outbox_count(tx.conn, -(removed as i64))?;
        tx.events.push(EventKind::OutboxChanged { pending });
    }
    Ok(n > 0)
}

/// Queues read receipts for up to 30 messages of one conversation.
/// `out` messages, messages that need no receipt, and ones already sent
/// are skipped. Returns the IDs newly queued; they are durable on return.
pub(crate) fn send_message_read_receipt(db: &Db, message_ids: &[String]) -> Result<SendReport> {
    db.write(|tx| {
        let rows = load_one_conversation(tx.conn, message_ids, MAX_BATCH)?;
        let (ctype, target) = crate::model::parse_conversation_id(&rows[0].conversation_id)?;
        check_receipts_allowed(tx.conn, ctype, target)?;
        let private = crate::storage::rows::is_private(tx.conn, &rows[0].conversation_id)?;
        let mut skipped = Vec::new();
        let mut queued = Vec::new();
        let mut rids = Vec::with_capacity(rows.len());
        for (id, m) in message_ids.iter().zip(&rows) {
            // At most 30: a linear search beats hashing.
            // A message that did not arrive as sent (a failed send) needs no receipt.
            if m.is_out
                || !m.need_receipt
                || m.status != MessageStatus::Success
                || m.sent_state != ReceiptSentState::None
                || rids.contains(&m.rid)
            {
                continue;
            }
            if m.recalled {
                // Atomic: one receipt that can never apply fails the call.
                return Err(Error::MessageRecalled(id.clone()));
            }
            if private {
                // Read privately: nothing is sent, and the caller is told why.
                if !skipped.iter().any(|s: &Skipped| s.message_id == *id) {
                    skipped.push(Skipped {
                        message_id: id.clone(),
                        reason: SkipReason::PrivateReading,
                    });
                }
                continue;
            }
            rids.push(m.rid);
            queued.push(id.clone());
        }
        if !rids.is_empty() {
            // Two set-based statements instead of two per message.
            let list = crate::storage::json_list(&rids)?;
            tx.conn.prepare_cached(QUEUE_SET_PENDING)?.execute(params![
                list,
                ReceiptSentState::Pending,
                ReceiptSentState::None
            ])?;
            tx.conn
                .prepare_cached(QUEUE_INSERT)?
                .execute(params![list, rows[0].conversation_id])?;
        }
        if !queued.is_empty() {
            let pending = meta::add_outbox_count(tx.conn, queued.len() as i64)?;
            tx.events.push(EventKind::OutboxChanged { pending });
            tx.events.push(EventKind::MessagesChanged(
                queued
                    .iter()
                    .map(|id| (rows[0].conversation_id.clone(), id.clone()))
                    .collect(),
            ));
        }
        Ok(SendReport { queued, skipped })
    })
}

/// One durable outbox and its batches: the SQL that differs between the
/// read receipts (`outbox`, batches `b<n>`) and the delivery acks
/// (`delivery_outbox`, batches `d<n>`), which never share a batch.
pub(crate) struct Queue {
    /// Batches handed out, oldest first (`?1`: the limit).
    batches: &'static str,
    /// The message IDs of one batch, in queue order.
    members: &'static str,
    /// Queued entries not handed out yet: (rowid, conversation, message ID).
    loose: &'static str,
    /// A new batch of a conversation, returning its number.
    new_batch: &'static str,
    /// Puts one queued rowid (`?1`) into a batch (`?2`).
    assign: &'static str,
    /// The first letter of the batch IDs.
    prefix: char,
}

/// The read receipts' outbox.
pub(crate) const RECEIPTS: Queue = Queue {
    batches: "SELECT batch_id, conversation_id FROM batches ORDER BY batch_id LIMIT ?1",
    members: BATCH_IDS,
    loose: LOOSE_RECEIPTS,
    new_batch: "INSERT INTO batches(conversation_id) VALUES (?1) RETURNING batch_id",
    assign: "UPDATE outbox SET batch_id = ?2 WHERE rid = ?1",
    prefix: 'b',
};

/// The delivery acks' outbox (PROTOCOL.md, Delivered and read).
pub(crate) const DELIVERIES: Queue = Queue {
    batches: "SELECT batch_id, conversation_id FROM delivery_batches ORDER BY batch_id LIMIT ?1",
    members: "SELECT m.id FROM delivery_outbox o JOIN messages m ON m.rid = o.rid
     WHERE o.batch_id = ?1 ORDER BY o.seq",
    loose: "SELECT o.rid, o.conversation_id, m.id
     FROM delivery_outbox o JOIN messages m ON m.rid = o.rid
     WHERE o.batch_id IS NULL ORDER BY o.seq",
    new_batch: "INSERT INTO delivery_batches(conversation_id) VALUES (?1) RETURNING batch_id",
    assign: "UPDATE delivery_outbox SET batch_id = ?2 WHERE rid = ?1",
    prefix: 'd',
};

/// Checks a `limit` of batches (1..100, default 100).
pub(crate) fn check_limit(limit: Option<usize>) -> Result<usize> {
    let limit = limit.unwrap_or(DEFAULT_BATCH_LIMIT);
    if !(1..=DEFAULT_BATCH_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "limit must be 1..{DEFAULT_BATCH_LIMIT}"
        )));
    }
    Ok(limit)
}

/// Hands out batches of queued receipts: first those already handed out
/// (same IDs, same contents), then new ones. `limit` caps the number of batches.
pub(crate) fn get_pending_receipts(db: &Db, limit: Option<usize>) -> Result<Vec<Batch>> {
    let limit = check_limit(limit)?;
    db.write(|tx| hand_out(tx, &RECEIPTS, limit))
}

/// Hands out batches of one queue (see [`get_pending_receipts`]).
pub(crate) fn hand_out(tx: &Tx<'_>, q: &Queue, limit: usize) -> Result<Vec<Batch>> {
    let c = tx.conn;
    let name = |b: i64| format!("{}{b}", q.prefix);
    let mut out = Vec::new();
    let existing: Vec<(i64, String)> = c
        .prepare_cached(q.batches)?
        .query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut members = c.prepare_cached(q.members)?;
    for (b, conv) in existing {
        let ids = members
            .query_map(params![b], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        out.push(Batch {
            batch_id: name(b),
            conversation_id: conv,
            message_ids: ids,
        });
    }
    if out.len() >= limit {
        return Ok(out);
    }
    let loose: Vec<Loose> = c
        .prepare_cached(q.loose)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Conversations in order of their oldest queued entry.
    let mut convs: Vec<(&str, Vec<&Loose>)> = Vec::new();
    let mut slot: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for item in &loose {
        let i = *slot.entry(item.1.as_str()).or_insert_with(|| {
            convs.push((item.1.as_str(), Vec::new()));
            convs.len() - 1
        });
        convs[i].1.push(item);
    }
    let mut new_batch = c.prepare_cached(q.new_batch)?;
    let mut assign = c.prepare_cached(q.assign)?;
    'convs: for (conv, items) in convs {
        for chunk in items.chunks(MAX_BATCH) {
            if out.len() >= limit {
                break 'convs;
            }
            let b: i64 = new_batch.query_row(params![conv], |r| r.get(0))?;
            for (rid, _, _) in chunk {
                assign.execute(params![rid, b])?;
            }
            out.push(Batch {
                batch_id: name(b),
                conversation_id: conv.to_string(),
                message_ids: chunk.iter().map(|(_, _, id)| id.clone()).collect(),
            });
        }
    }
    Ok(out)
}

/// The number of a batch ID handed out with `prefix`; `None` for any other
/// text (only the exact ID acks: "b01" or "b+01" is not "b1").
pub(crate) fn batch_number(batch_id: &str, prefix: char) -> Result<Option<i64>> {
    if batch_id.len() > crate::model::MAX_ID_LEN {
        return Err(Error::invalid("batchID is too long"));
    }
    Ok(batch_id
        .strip_prefix(prefix)
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| format!("{prefix}{n}") == batch_id))
}

/// Records the server's answer to a batch: acked messages become
/// `acked`, rejected ones go back to `none`. An unknown or repeated
/// batch ID returns `false` and changes nothing.
pub(crate) fn ack_receipts(db: &Db, batch_id: &str, rejected: &[Rejection]) -> Result<bool> {
    let n = batch_number(batch_id, 'b')?;
    for r in rejected {
        check_id("messageID", &r.message_id)?;
    }
    let Some(n) = n else {
        return Ok(false);
    };
    let rejected: HashSet<&str> = rejected.iter().map(|r| r.message_id.as_str()).collect();
    db.write(|tx| {
        let c = tx.conn;
        let conv: Option<String> = c
            .prepare_cached("SELECT conversation_id FROM batches WHERE batch_id = ?1")?
            .query_row(params![n], |r| r.get(0))
            .optional()?;
        let Some(conv) = conv else {
            return Ok(false);
        };
        let rows: Vec<(i64, String)> = c
            .prepare_cached(
                "SELECT o.rid, m.id FROM outbox o JOIN messages m ON m.rid = o.rid WHERE o.batch_id = ?1",
            )?
            .query_map(params![n], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut back = c.prepare_cached("UPDATE messages SET sent_state = ?2 WHERE rid = ?1 AND sent_state = ?3")?;
        let mut ok = c.prepare_cached("UPDATE messages SET sent_state = ?2 WHERE rid = ?1 AND sent_state < ?2")?;
        let mut changed = Vec::new();
        for (rid, id) in &rows {
            let n = if rejected.contains(id.as_str()) {
                back.execute(params![rid, ReceiptSentState::None, ReceiptSentState::Pending])?
            } else {
                ok.execute(params![rid, ReceiptSentState::Acked])?
            };
            if n > 0 {
                changed.push((conv.clone(), id.clone()));
            }
        }
        let removed = c
            .prepare_cached("DELETE FROM outbox WHERE batch_id = ?1")?
            .execute(params![n])?;
        c.prepare_cached("DELETE FROM batches WHERE batch_id = ?1")?
            .execute(params![n])?;
        drop((back, ok));
        let pending = meta::add_outbox_count(c, -(removed as i64))?;
        tx.events.push(EventKind::OutboxChanged { pending });
        if !changed.is_empty() {
            tx.events.push(EventKind::MessagesChanged(changed));
        }
        Ok(true)
    })
}

/// How many receipts are queued and not yet acked.
pub(crate) fn pending_receipt_count(db: &Db) -> Result<u64> {
    db.read(meta::outbox_count)
}

/// Withdraws the queued receipts of deleted messages (rowids, a JSON
/// array), handed out or not; a batch left empty goes.
pub(crate) fn forget(tx: &mut Tx<'_>, rids_json: &str) -> Result<()> {
    let removed = tx
        .conn
        .prepare_cached("DELETE FROM outbox WHERE rid IN (SELECT value FROM json_each(?1))")?
        .execute(params![rids_json])?;
    if removed == 0 {
        return Ok(());
    }
    tx.conn
        .prepare_cached(
            "DELETE FROM batches
             WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.batch_id = batches.batch_id)",
        )?
        .execute([])?;
    let pending = meta::add_outbox_count(tx.conn, -(removed as i64))?;
    tx.events.push(EventKind::OutboxChanged { pending });
    Ok(())
}
