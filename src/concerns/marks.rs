//! The unread mark's registers (PROTOCOL.md, Unread marks): the newest
//! read to the end, the newest mark or unmark, and the marks and unmarks
//! the server has not acknowledged. Times are unix milliseconds. The calls
//! that move them with a conversation's read state are in `conversations`.

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{check_position, parse_conversation_id};
use crate::storage::db::Db;

/// Most mark reports in one `ackMarkReports` (as read reports).
pub const MAX_MARK_REPORTS_PER_CALL: usize = 10_000;

/// A mark or unmark of a conversation as unread (`markReports` of
/// `getPendingReceipts`, `ackMarkReports`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkReport {
    /// The conversation.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// Marked (true) or unmarked (false).
    pub marked: bool,
    /// When (unix milliseconds).
    #[serde(rename = "markTime")]
    pub mark_time: i64,
}

/// Most conversations in one `markConversationUnread`.
pub const MAX_MARKS_PER_CALL: usize = 100;

/// The clock of marks and reads to the end: unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis().max(0)
}

/// The time registers of a conversation's unread mark.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Marks {
    /// The newest read to the end.
    pub read_time: i64,
    /// The newest mark or unmark.
    pub mark_time: i64,
}

/// The registers of `conv` (zeros for a conversation without a row).
pub(crate) fn load_marks(conn: &Connection, conv: &str) -> Result<Marks> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT read_time, mark_time FROM conversations WHERE conversation_id = ?1",
        )?
        .query_row(params![conv], |r| {
            Ok(Marks {
                read_time: r.get(0)?,
                mark_time: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Joins a read to the end at `t` (a max-register); whether it rose.
pub(crate) fn raise_read_time(conn: &Connection, conv: &str, t: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE conversations SET read_time = ?2 WHERE conversation_id = ?1 AND read_time < ?2",
        )?
        .execute(params![conv, t])?
        > 0)
}

/// Joins a mark (`on`) or unmark at `t`: the newer wins, and at one time
/// the unmark. Whether the register changed.
pub(crate) fn join_mark(conn: &Connection, conv: &str, on: bool, t: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE conversations SET mark_time = ?2, mark_on = ?3
             WHERE conversation_id = ?1
               AND (mark_time < ?2 OR (mark_time = ?2 AND mark_on <> 0 AND ?3 = 0))",
        )?
        .execute(params![conv, t, on])?
        > 0)
}

/// Clears pending mark reports of `conv` that the mark or unmark `(on, t)`
/// covers (the same or an older event); how many.
pub(crate) fn ack_marks_upto(conn: &Connection, conv: &str, on: bool, t: i64) -> Result<u64> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM mark_reports WHERE conversation_id = ?1
               AND (mark_time < ?2 OR (mark_time = ?2 AND (mark_on = ?3 OR ?3 = 0)))",
        )?
        .execute(params![conv, t, on])? as u64)
}

/// The marks and unmarks the server has not acknowledged, the newest per
/// conversation, in conversation order.
pub(crate) fn pending_mark_reports(db: &Db) -> Result<Vec<MarkReport>> {
    db.read(mark_reports_in)
}

/// [`pending_mark_reports`] on a connection (in the caller's transaction).
pub(crate) fn mark_reports_in(c: &Connection) -> Result<Vec<MarkReport>> {
    let mut st = c.prepare_cached(
        "SELECT conversation_id, mark_on, mark_time FROM mark_reports ORDER BY conversation_id",
    )?;
    let v = st
        .query_map([], |r| {
            Ok(MarkReport {
                conversation_id: r.get(0)?,
                marked: r.get(1)?,
                mark_time: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// `ackMarkReports`: the server holds these marks; clears the pending ones
/// they cover. Returns how many it cleared.
pub(crate) fn ack_mark_reports(db: &Db, reports: &[MarkReport]) -> Result<u64> {
    if reports.len() > MAX_MARK_REPORTS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_MARK_REPORTS_PER_CALL} reports a call"
        )));
    }
    for r in reports {
        parse_conversation_id(&r.conversation_id)?;
        check_position("markTime", r.mark_time)?;
    }
    db.write(|tx| {
        let mut acked = 0;
        for r in reports {
            acked += ack_marks_upto(tx.conn, &r.conversation_id, r.marked, r.mark_time)?;
        }
        Ok(acked)
    })
}
