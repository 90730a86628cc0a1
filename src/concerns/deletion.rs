//! Deleting messages and clearing a conversation's history: each owner
//! forgets its part (receipt state, readers, queued receipts and delivery
//! acks, early receipts, unread counts), then the rows go and a tombstone
//! stays so no later copy brings them back (PROTOCOL.md, Deleting messages).

use rusqlite::params;
use serde::Serialize;

use super::conversations::{messages_removing, refresh_last};
use super::early::{drop_early_list, forget_conversation};
use super::tombstones;
use super::{delivery, outbox, receipts, unread};
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::model::{check_message_ids, parse_conversation_id, MessageStatus};
use crate::storage::db::{Db, Tx};
use crate::storage::json_list;
use crate::storage::rows::load_row;

/// Most messages one `deleteMessages` call deletes (as `sendMessageReadReceipt`).
pub const MAX_DELETE: usize = 30;

/// What `clearHistory` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearReport {
    /// How many messages were deleted.
    pub deleted: u64,
    /// The history is cleared up to this sequence: a sent message at or
    /// below it is not saved again (0: nothing sent was held).
    pub cleared_sequence: i64,
}

/// Deletes held messages of one conversation, for good. IDs already deleted
/// are skipped; an ID never held fails the call (nothing changes). Returns
/// the IDs deleted now.
pub(crate) fn delete_messages(db: &Db, message_ids: &[String]) -> Result<Vec<String>> {
    check_message_ids(message_ids, MAX_DELETE)?;
    db.write(|tx| {
        let mut conv: Option<String> = None;
        let mut rids = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for id in message_ids {
            let Some(m) = load_row(tx.conn, id)? else {
                if tombstones::is_deleted(tx.conn, id)? {
                    continue;
                }
                return Err(Error::MessageNotFound(id.clone()));
            };
            match &conv {
                Some(c) if *c != m.conversation_id => return Err(Error::MixedConversations),
                Some(_) => {}
                None => conv = Some(m.conversation_id.clone()),
            }
            if !rids.contains(&m.rid) {
                rids.push(m.rid);
                ids.push(m.id);
            }
        }
        let Some(conv) = conv else {
            return Ok(Vec::new());
        };
        remove(tx, &conv, &rids, &ids)?;
        tombstones::record(tx.conn, &conv, &json_list(&ids)?)?;
        Ok(ids)
    })
}

/// Deletes every message the store holds in a conversation and raises its
/// cleared sequence to the highest sent one, so an older copy of the
/// history is not saved again; read positions stay.
pub(crate) fn clear_history(db: &Db, conversation_id: &str) -> Result<ClearReport> {
    parse_conversation_id(conversation_id)?;
    db.write(|tx| {
        let mut rids = Vec::new();
        let mut ids = Vec::new();
        // Unsent and failed messages have no server sequence: their IDs are
        // remembered instead.
        let mut unsent = Vec::new();
        let mut top = 0i64;
        {
            let mut st = tx.conn.prepare_cached(
                "SELECT rid, id, status, sequence FROM messages WHERE conversation_id = ?1",
            )?;
            let mut q = st.query(params![conversation_id])?;
            while let Some(r) = q.next()? {
                let id: String = r.get(1)?;
                let status: MessageStatus = r.get(2)?;
                let seq: i64 = r.get(3)?;
                rids.push(r.get::<_, i64>(0)?);
                if status == MessageStatus::Success {
                    top = top.max(seq);
                } else {
                    unsent.push(id.clone());
                }
                ids.push(id);
            }
        }
        if !ids.is_empty() {
            remove(tx, conversation_id, &rids, &ids)?;
        }
        if !unsent.is_empty() {
            tombstones::record(tx.conn, conversation_id, &json_list(&unsent)?)?;
        }
        forget_conversation(tx, conversation_id)?;
        let cleared_sequence = tombstones::raise_cleared(tx.conn, conversation_id, top)?;
        Ok(ClearReport {
            deleted: ids.len() as u64,
            cleared_sequence,
        })
    })
}

/// Removes held messages of `conv` and everything kept for them.
fn remove(tx: &mut Tx<'_>, conv: &str, rids: &[i64], ids: &[String]) -> Result<()> {
    let rids_json = json_list(rids)?;
    let ids_json = json_list(ids)?;
    messages_removing(tx, conv, &rids_json)?;
    unread::forget(tx, &rids_json)?;
    receipts::forget(tx, &rids_json)?;
    outbox::forget(tx, &rids_json)?;
    delivery::forget(tx, &rids_json)?;
    drop_early_list(tx, &ids_json)?;
    super::messages::delete_rows(tx, &rids_json)?;
    refresh_last(tx, conv)?;
    // Whatever this transaction noted about them has no row to report.
    for rid in rids {
        tx.receipt_changed.remove(rid);
        tx.peer_read_now.remove(rid);
        tx.delivery_changed.remove(rid);
    }
    tx.events.push(EventKind::MessagesDeleted(
        ids.iter()
            .map(|id| (conv.to_string(), id.clone()))
            .collect(),
    ));
    Ok(())
}
