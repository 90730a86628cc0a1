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

fn batch_name(n: i64) -> String {
    format!("b{n}")
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
    if ids.is_empty() || ids.len() > max {
        return Err(Error::invalid(format!("messageIDs must hold 1..{max} IDs")));
    }
    for id in ids {
        check_id("messageID", id)?;
    }
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
pub(crate) fn send_message_read_receipt(db: &Db, message_ids: &[String]) -> Result<Vec<String>> {
    db.write(|tx| {
        let rows = load_one_conversation(tx.conn, message_ids, MAX_BATCH)?;
        let (ctype, target) = crate::model::parse_conversation_id(&rows[0].conversation_id)?;
        check_receipts_allowed(tx.conn, ctype, target)?;
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
        Ok(queued)
    })
}

/// Hands out batches of queued receipts: first those already handed out
/// (same IDs, same contents), then new ones. `limit` caps the number of batches.
pub(crate) fn get_pending_receipts(db: &Db, limit: Option<usize>) -> Result<Vec<Batch>> {
    let limit = limit.unwrap_or(DEFAULT_BATCH_LIMIT);
    if !(1..=DEFAULT_BATCH_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "limit must be 1..{DEFAULT_BATCH_LIMIT}"
        )));
    }
    db.write(|tx| {
        let c = tx.conn;
        let mut out = Vec::new();
        let existing: Vec<(i64, String)> = c
            .prepare_cached(
                "SELECT batch_id, conversation_id FROM batches ORDER BY batch_id LIMIT ?1",
            )?
            .query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut members = c.prepare_cached(BATCH_IDS)?;
        for (b, conv) in existing {
            let ids = members
                .query_map(params![b], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            out.push(Batch {
                batch_id: batch_name(b),
                conversation_id: conv,
                message_ids: ids,
            });
        }
        if out.len() >= limit {
            return Ok(out);
        }
        let loose: Vec<Loose> = c
            .prepare_cached(LOOSE_RECEIPTS)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        // Conversations in order of their oldest queued receipt.
        let mut convs: Vec<(&str, Vec<&Loose>)> = Vec::new();
        let mut slot: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for item in &loose {
            let i = *slot.entry(item.1.as_str()).or_insert_with(|| {
                convs.push((item.1.as_str(), Vec::new()));
                convs.len() - 1
            });
            convs[i].1.push(item);
        }
        let mut new_batch = c.prepare_cached(
            "INSERT INTO batches(conversation_id) VALUES (?1) RETURNING batch_id",
        )?;
        let mut assign = c.prepare_cached("UPDATE outbox SET batch_id = ?2 WHERE rid = ?1")?;
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
                    batch_id: batch_name(b),
                    conversation_id: conv.to_string(),
                    message_ids: chunk.iter().map(|(_, _, id)| id.clone()).collect(),
                });
            }
        }
        Ok(out)
    })
}

/// Records the server's answer to a batch: acked messages become
/// `acked`, rejected ones go back to `none`. An unknown or repeated
/// batch ID returns `false` and changes nothing.
pub(crate) fn ack_receipts(db: &Db, batch_id: &str, rejected: &[Rejection]) -> Result<bool> {
    if batch_id.len() > crate::model::MAX_ID_LEN {
        return Err(Error::invalid("batchID is too long"));
    }
    for r in rejected {
        check_id("messageID", &r.message_id)?;
    }
    // Only the exact ID handed out acks ("b01" or "b+01" is not "b1").
    let Some(n) = batch_id
        .strip_prefix('b')
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| format!("b{n}") == batch_id)
    else {
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
