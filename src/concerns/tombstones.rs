//! What deleting leaves behind so nothing deleted comes back: the IDs of
//! deleted messages (`deleted_messages`) and how far each conversation's
//! history was cleared (`conversations.cleared_seq`). PROTOCOL.md,
//! Deleting messages, has the rules.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::model::MessageStatus;

/// Whether this message ID was deleted.
pub(crate) fn is_deleted(conn: &Connection, message_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM deleted_messages WHERE message_id = ?1")?
        .exists(params![message_id])?)
}

/// Whether a message the store does not hold must not be saved: its ID was
/// deleted, or it is a sent message at or below the sequence its
/// conversation's history was cleared to (old history a stale copy brings).
pub(crate) fn is_hidden(
    conn: &Connection,
    message_id: &str,
    conv: &str,
    sequence: i64,
    status: MessageStatus,
) -> Result<bool> {
    // One statement on the save path: the ID, then (for a sent message with
    // a sequence) the conversation's cleared sequence.
    let sent = status == MessageStatus::Success && sequence > 0;
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM deleted_messages WHERE message_id = ?1)
                OR (?3 AND COALESCE((SELECT cleared_seq FROM conversations
                                     WHERE conversation_id = ?2), 0) >= ?4)",
        )?
        .query_row(params![message_id, conv, sent, sequence], |r| r.get(0))?)
}

/// The sequence the conversation's history was cleared to (0: never).
pub(crate) fn cleared_seq(conn: &Connection, conv: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT cleared_seq FROM conversations WHERE conversation_id = ?1")?
        .query_row(params![conv], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0))
}

/// Remembers deleted message IDs (a JSON array of IDs) of one conversation.
pub(crate) fn record(conn: &Connection, conv: &str, ids_json: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO deleted_messages(message_id, conversation_id)
         SELECT value, ?2 FROM json_each(?1)",
    )?
    .execute(params![ids_json, conv])?;
    Ok(())
}

/// Raises the conversation's cleared sequence (a max register); returns it.
pub(crate) fn raise_cleared(conn: &Connection, conv: &str, seq: i64) -> Result<i64> {
    conn.prepare_cached(
        "UPDATE conversations SET cleared_seq = MAX(cleared_seq, ?2) WHERE conversation_id = ?1",
    )?
    .execute(params![conv, seq])?;
    cleared_seq(conn, conv)
}
