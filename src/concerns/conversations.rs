//! Conversation read state (PROTOCOL.md, Audience; PROTOCOL.md, Merge rules; PROTOCOL.md, Methods): read positions
//! (max-registers), the unread count kept equal to its definition, the
//! total, the peer read position, read reports, the last message, unread
//! marks (their registers are in `marks`) and private reading. Every write to `conversations.unread_count`,
//! `read_seq`, `peer_read_seq`, `last_*`, `read_reports` and the
//! `total_unread` meta key goes through this module.

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::marks::{
    ack_marks_upto, join_mark, load_marks, now_ms, raise_read_time, MAX_MARKS_PER_CALL,
};
use crate::error::{Error, Result};
use crate::model::{
    check_position, parse_conversation_id, ConversationType, Message, MessageStatus,
};
use crate::storage::db::{Db, Tx};
use crate::storage::meta;
use crate::storage::rows::{is_private, load_conv, load_message_by_rid, ConvRow};

/// Most conversations in one `applyReadReports` / `ackReadReports`.
pub const MAX_READ_REPORTS_PER_CALL: usize = 10_000;

/// A conversation's summary (`getConversation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conversation {
    /// `C2C<peer>` or `GROUP<groupID>`.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// `C2C` or `GROUP`.
    #[serde(rename = "type")]
    pub conversation_type: ConversationType,
    /// Held `in` messages with `status: success` above the read position.
    #[serde(rename = "unreadCount")]
    pub unread_count: u64,
    /// The owner's read position.
    #[serde(rename = "readSequence")]
    pub read_sequence: i64,
    /// The peer's read position (C2C); `None` in groups.
    #[serde(rename = "peerReadSequence")]
    pub peer_read_sequence: Option<i64>,
    /// The newest held message (by sequence, then time).
    #[serde(rename = "lastMessage")]
    pub last_message: Option<Message>,
    /// The conversation is marked unread (apart from its count); left out
    /// of answers while it is not.
    #[serde(
        rename = "markedUnread",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub marked_unread: bool,
    /// Reading it sends no read receipts (its own switch or the store's);
    /// left out of answers while it does.
    #[serde(
        rename = "privateReading",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub private_reading: bool,
}

/// One page of `getConversationList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationPage {
    /// Newest last message first.
    pub conversation_list: Vec<Conversation>,
    /// Opaque; pass back for the next page (`""` when the page is empty).
    pub cursor: String,
    /// No more conversations follow.
    pub is_completed: bool,
}

/// A read report: the owner has read `conversation_id` up to `read_sequence`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReport {
    /// The conversation.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// The read position.
    #[serde(rename = "readSequence")]
    pub read_sequence: i64,
    /// When the owner last read the conversation to its end (unix
    /// milliseconds), which clears older unread marks; `None` when never.
    /// In an ack, `None` acknowledges the time too.
    #[serde(rename = "readTime", default, skip_serializing_if = "Option::is_none")]
    pub read_time: Option<i64>,
    /// The conversation is read privately: the server should not tell the
    /// C2C peer (left out while false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

/// A pushed read report (`applyReadReports`): the owner read on another
/// device, and/or the C2C peer read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedReadReport {
    /// The conversation.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// The owner's read position the server holds.
    #[serde(rename = "readSequence", default)]
    pub read_sequence: Option<i64>,
    /// The peer's read position (C2C only).
    #[serde(rename = "peerReadSequence", default)]
    pub peer_read_sequence: Option<i64>,
    /// The owner read the conversation to its end at this time (unix ms).
    #[serde(rename = "readTime", default)]
    pub read_time: Option<i64>,
    /// The owner marked (true) or unmarked (false) it as unread, at `markTime`.
    #[serde(default)]
    pub marked: Option<bool>,
    /// The time of `marked` (unix ms); given with it.
    #[serde(rename = "markTime", default)]
    pub mark_time: Option<i64>,
}

impl PushedReadReport {
    /// What the report says, as positions to apply.
    pub(crate) fn positions(&self) -> Positions {
        Positions {
            read: self.read_sequence,
            peer: self.peer_read_sequence,
            read_time: self.read_time,
            marked: self.marked,
            mark_time: self.mark_time,
        }
    }
}

/// Read state the server reports for one conversation (a pushed read
/// report or a snapshot): every part optional.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Positions {
    pub read: Option<i64>,
    pub peer: Option<i64>,
    pub read_time: Option<i64>,
    pub marked: Option<bool>,
    pub mark_time: Option<i64>,
}

/// Records the state of `conv` before this transaction changes it, for the
/// events of the commit. Returns the row when it was read just now (so it
/// is current); `None` when an earlier step of this transaction touched it.
fn touch(tx: &mut Tx<'_>, conv: &str) -> Result<Option<Option<ConvRow>>> {
    if tx.conv_before.contains_key(conv) {
        return Ok(None);
    }
    let before = load_conv(tx.conn, conv)?;
    tx.conv_before.insert(conv.to_string(), before);
    Ok(Some(before))
}

/// The conversation's row as it is now, touching it first.
fn current(tx: &mut Tx<'_>, conv: &str) -> Result<Option<ConvRow>> {
    match touch(tx, conv)? {
        Some(row) => Ok(row),
        None => load_conv(tx.conn, conv),
    }
}

/// Moves the total unread count, and remembers the move for its event.
fn move_total(tx: &mut Tx<'_>, delta: i64) -> Result<()> {
    meta::add_total_unread(tx.conn, delta)?;
    tx.total_moved += delta;
    Ok(())
}

/// The conversation row, created empty when missing.
pub(crate) fn ensure(tx: &mut Tx<'_>, conv: &str, ctype: ConversationType) -> Result<()> {
    touch(tx, conv)?;
    tx.conn
        .prepare_cached(
            "INSERT OR IGNORE INTO conversations(conversation_id, type, unread_count) VALUES (?1, ?2, 0)",
        )?
        .execute(params![conv, ctype])?;
    Ok(())
}

fn add_unread(tx: &mut Tx<'_>, conv: &str, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    tx.conn
        .prepare_cached(
            "UPDATE conversations SET unread_count = unread_count + ?2 WHERE conversation_id = ?1",
        )?
        .execute(params![conv, delta])?;
    move_total(tx, delta)
}

/// What of a message the read state depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MsgFacts {
    pub rid: i64,
    pub is_out: bool,
    pub status: MessageStatus,
    pub sequence: i64,
    pub is_peer_read: bool,
}

fn positions(conn: &Connection, conv: &str) -> Result<(i64, i64)> {
    Ok(load_conv(conn, conv)?
        .map(|c| (c.read_seq, c.peer_read_seq))
        .unwrap_or((0, 0)))
}

fn unread_part(f: &MsgFacts, read_seq: i64) -> i64 {
    i64::from(!f.is_out && f.status == MessageStatus::Success && f.sequence > read_seq)
}

/// Keeps the conversation in step after a message of `conv` was inserted
/// (`before` `None`) or updated: the unread count, the peer read flag of a
/// sent C2C message at or below the peer position, and the last message.
pub(crate) fn message_changed(
    tx: &mut Tx<'_>,
    conv: &str,
    ctype: ConversationType,
    before: Option<MsgFacts>,
    after: MsgFacts,
) -> Result<bool> {
    let (read_seq, peer_seq) = current(tx, conv)?
        .map(|c| (c.read_seq, c.peer_read_seq))
        .unwrap_or((0, 0));
    let delta = unread_part(&after, read_seq) - before.map_or(0, |b| unread_part(&b, read_seq));
    add_unread(tx, conv, delta)?;
    let marked = ctype == ConversationType::C2C
        && after.is_out
        && after.status == MessageStatus::Success
        && !after.is_peer_read
        && after.sequence <= peer_seq;
    if marked {
        tx.conn
            .prepare_cached("UPDATE messages SET is_peer_read = 1 WHERE rid = ?1")?
            .execute(params![after.rid])?;
    }
    if before.is_some_and(|b| !b.is_peer_read)
        && ctype == ConversationType::C2C
        && after.is_out
        && is_peer_read(tx.conn, after.rid)?
    {
        tx.peer_read_now.insert(after.rid);
    }
    refresh_last(tx, conv)?;
    Ok(marked)
}

/// Takes out of the unread counts the messages of `conv` about to be
/// deleted (rowids, a JSON array); the read positions stay where they are.
pub(crate) fn messages_removing(tx: &mut Tx<'_>, conv: &str, rids_json: &str) -> Result<()> {
    let read_seq = current(tx, conv)?.map_or(0, |c| c.read_seq);
    let unread: i64 = tx
        .conn
        .prepare_cached(
            "SELECT count(*) FROM messages
             WHERE rid IN (SELECT value FROM json_each(?1))
               AND is_out = 0 AND status = 'success' AND sequence > ?2",
        )?
        .query_row(params![rids_json, read_seq], |r| r.get(0))?;
    add_unread(tx, conv, -unread)
}

fn is_peer_read(conn: &Connection, rid: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT is_peer_read FROM messages WHERE rid = ?1")?
        .query_row(params![rid], |r| r.get(0))?)
}

pub(crate) fn refresh_last(tx: &Tx<'_>, conv: &str) -> Result<()> {
    tx.conn
        .prepare_cached(
            "UPDATE conversations SET (last_rid, last_time, last_seq) = (
                SELECT rid, time, sequence FROM messages WHERE conversation_id = ?1
                ORDER BY sequence DESC, time DESC, rid DESC LIMIT 1)
             WHERE conversation_id = ?1",
        )?
        .execute(params![conv])?;
    Ok(())
}

/// The unread messages a move of the read position covers, `(from, to]`: a
/// range of the partial index `messages_unread`, as long as the move, never
/// the whole conversation.
pub(crate) const UNREAD_BETWEEN: &str = "SELECT count(*) FROM messages
     WHERE conversation_id = ?1 AND is_out = 0 AND status = 'success'
       AND sequence > ?2 AND sequence <= ?3";
/// The highest sequence of a sent message held in a conversation.
pub(crate) const HIGHEST_HELD: &str =
    "SELECT sequence FROM messages WHERE conversation_id = ?1 AND status = 'success'
     ORDER BY sequence DESC LIMIT 1";

fn count_unread_between(conn: &Connection, conv: &str, from: i64, to: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(UNREAD_BETWEEN)?
        .query_row(params![conv, from, to], |r| r.get(0))?)
}

fn highest_held(conn: &Connection, conv: &str) -> Result<i64> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(HIGHEST_HELD)?
        .query_row(params![conv], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0)
        .max(0))
}

/// Who moves a read position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The owner on this device: a read report is queued.
    Local,
    /// The server: pending reports at or below it are acknowledged.
    Server,
}

/// Raises the read position of `conv` to `seq` (a max-register); returns
/// whether it moved, and the position after.
pub(crate) fn raise_read(
    tx: &mut Tx<'_>,
    conv: &str,
    seq: i64,
    source: Source,
) -> Result<(bool, i64)> {
    raise_read_at(tx, conv, seq, source, None)
}

/// [`raise_read`]; a server position acknowledges the pending report it
/// covers (PROTOCOL.md, Merge rules); when it carries a read time, that must cover the
/// report's too (a server that keeps no times acknowledges them).
fn raise_read_at(
    tx: &mut Tx<'_>,
    conv: &str,
    seq: i64,
    source: Source,
    read_time: Option<i64>,
) -> Result<(bool, i64)> {
    let (ctype, _) = parse_conversation_id(conv)?;
    let row = current(tx, conv)?;
    if source == Source::Server {
        tx.conn
            .prepare_cached(
                "DELETE FROM read_reports WHERE conversation_id = ?1 AND read_seq <= ?2
                   AND read_time <= COALESCE(?3, read_time)",
            )?
            .execute(params![conv, seq, read_time])?;
    }
    // `ensure` without its insert when the row is there (the usual case).
    let old = match row {
        Some(row) => row.read_seq,
        None => {
            ensure(tx, conv, ctype)?;
            0
        }
    };
    if seq <= old {
        return Ok((false, old));
    }
    // The stored count equals its definition, so only the messages the move
    // covers leave it: the cost is the move's, not the conversation's.
    let covered = count_unread_between(tx.conn, conv, old, seq)?;
    tx.conn
        .prepare_cached(
            "UPDATE conversations SET read_seq = ?2, unread_count = unread_count - ?3
             WHERE conversation_id = ?1",
        )?
        .execute(params![conv, seq, covered])?;
    if covered != 0 {
        move_total(tx, -covered)?;
    }
    if source == Source::Local {
        let private = is_private(tx.conn, conv)?;
        tx.conn
            .prepare_cached(
                "INSERT INTO read_reports(conversation_id, read_seq, private) VALUES (?1, ?2, ?3)
                 ON CONFLICT(conversation_id) DO UPDATE SET
                    read_seq = max(read_seq, excluded.read_seq), private = excluded.private",
            )?
            .execute(params![conv, seq, private])?;
    }
    Ok((true, seq))
}

/// Raises the peer read position of a C2C conversation; marks the sent
/// messages at or below it `isPeerRead`. Returns whether it moved.
pub(crate) fn raise_peer_read(tx: &mut Tx<'_>, conv: &str, seq: i64) -> Result<bool> {
    let (ctype, _) = parse_conversation_id(conv)?;
    if ctype != ConversationType::C2C {
        return Err(Error::invalid(
            "peerReadSequence is for C2C conversations only",
        ));
    }
    ensure(tx, conv, ctype)?;
    let (_, old) = positions(tx.conn, conv)?;
    if seq <= old {
        return Ok(false);
    }
    tx.conn
        .prepare_cached("UPDATE conversations SET peer_read_seq = ?2 WHERE conversation_id = ?1")?
        .execute(params![conv, seq])?;
    let mut st = tx.conn.prepare_cached(
        "UPDATE messages SET is_peer_read = 1
         WHERE conversation_id = ?1 AND is_out = 1 AND is_peer_read = 0
           AND status = 'success' AND sequence <= ?2
         RETURNING rid",
    )?;
    let rids = st
        .query_map(params![conv, seq], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.peer_read_now.extend(rids);
    Ok(true)
}

pub(crate) fn load_conversation(conn: &Connection, conv: &str) -> Result<Conversation> {
    let (ctype, _) = parse_conversation_id(conv)?;
    let row = load_conv(conn, conv)?;
    let last_message = match row.and_then(|r| r.last_rid) {
        Some(rid) => load_message_by_rid(conn, rid)?,
        None => None,
    };
    Ok(Conversation {
        conversation_id: conv.to_string(),
        conversation_type: ctype,
        unread_count: row.map_or(0, |r| r.unread_count.max(0) as u64),
        read_sequence: row.map_or(0, |r| r.read_seq),
        peer_read_sequence: (ctype == ConversationType::C2C)
            .then(|| row.map_or(0, |r| r.peer_read_seq)),
        last_message,
        marked_unread: row.is_some_and(|r| r.marked),
        private_reading: is_private(conn, conv)?,
    })
}

/// A conversation's read state and last message (zeros for one never seen).
pub(crate) fn get_conversation(db: &Db, conversation_id: &str) -> Result<Conversation> {
    parse_conversation_id(conversation_id)?;
    db.read(|c| load_conversation(c, conversation_id))
}

/// `setMessageRead`: moves the read position up to `sequence` (or the
/// highest held), never down; returns the position.
pub(crate) fn set_message_read(
    db: &Db,
    conversation_id: &str,
    sequence: Option<i64>,
) -> Result<i64> {
    parse_conversation_id(conversation_id)?;
    if let Some(s) = sequence {
        check_position("sequence", s)?;
    }
    db.write(|tx| read_locally(tx, conversation_id, sequence).map(|r| r.1))
}

/// The owner reads `conv` on this device up to `sequence` (the highest
/// held without it). A read that leaves nothing held unread is a read to
/// the end: it raises the read time (clearing older unread marks) and
/// reports it. Returns whether the position moved or the mark cleared,
/// and the position.
fn read_locally(tx: &mut Tx<'_>, conv: &str, sequence: Option<i64>) -> Result<(bool, i64)> {
    let top = highest_held(tx.conn, conv)?;
    let marked_before = current(tx, conv)?.is_some_and(|r| r.marked);
    let (moved, pos) = raise_read(tx, conv, sequence.unwrap_or(top), Source::Local)?;
    let m = load_marks(tx.conn, conv)?;
    // A read that moves nothing is news only where a mark was ever seen:
    // it clears it (here and, reported, on the other devices).
    if pos >= top && (moved || m.mark_time > 0) {
        // Never older than the mark it reads past (clocks may disagree): a tie goes to the read.
        let t = now_ms().max(m.mark_time);
        if raise_read_time(tx.conn, conv, t)? {
            tx.conn
                .prepare_cached(
                    "INSERT INTO read_reports(conversation_id, read_seq, read_time, private)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(conversation_id) DO UPDATE SET
                        read_seq = max(read_seq, excluded.read_seq),
                        read_time = max(read_time, excluded.read_time),
                        private = excluded.private",
                )?
                .execute(params![conv, pos, t, is_private(tx.conn, conv)?])?;
        }
    }
    Ok((moved || marked_before, pos))
}

/// `setConversationPrivateReading`: the conversation's own switch (`None`:
/// follow the store's). Returns whether reading it is now private.
pub(crate) fn set_private_reading(
    db: &Db,
    conversation_id: &str,
    enable: Option<bool>,
) -> Result<bool> {
    let (ctype, _) = parse_conversation_id(conversation_id)?;
    db.write(|tx| {
        ensure(tx, conversation_id, ctype)?;
        tx.conn
            .prepare_cached(
                "UPDATE conversations SET private_reading = ?2 WHERE conversation_id = ?1",
            )?
            .execute(params![conversation_id, enable])?;
        is_private(tx.conn, conversation_id)
    })
}

/// `markConversationUnread`: marks (or unmarks) each conversation as
/// unread on this device, now, and queues the change for the server.
/// Returns the conversations whose mark shows or hides because of it.
pub(crate) fn mark_conversation_unread(
    db: &Db,
    conversation_ids: &[String],
    enable: bool,
) -> Result<Vec<String>> {
    if conversation_ids.is_empty() || conversation_ids.len() > MAX_MARKS_PER_CALL {
        return Err(Error::invalid(format!(
            "conversationIDList must hold 1..{MAX_MARKS_PER_CALL} IDs"
        )));
    }
    for c in conversation_ids {
        parse_conversation_id(c)?;
    }
    db.write(|tx| {
        let mut changed: Vec<String> = Vec::new();
        for conv in conversation_ids {
            let (ctype, _) = parse_conversation_id(conv)?;
            ensure(tx, conv, ctype)?;
            let before = load_conv(tx.conn, conv)?.is_some_and(|r| r.marked);
            let m = load_marks(tx.conn, conv)?;
            // A local mark always takes effect here, whatever the clocks:
            // newer than the read and the mark it overrides.
            let t = if enable {
                now_ms().max(m.read_time + 1).max(m.mark_time + 1)
            } else {
                now_ms().max(m.mark_time)
            };
            if join_mark(tx.conn, conv, enable, t)? {
                tx.conn
                    .prepare_cached(
                        "INSERT INTO mark_reports(conversation_id, mark_on, mark_time)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT(conversation_id) DO UPDATE SET
                            mark_on = excluded.mark_on, mark_time = excluded.mark_time
                         WHERE mark_time < excluded.mark_time
                            OR (mark_time = excluded.mark_time AND mark_on <> 0
                                AND excluded.mark_on = 0)",
                    )?
                    .execute(params![conv, enable, t])?;
            }
            let after = load_conv(tx.conn, conv)?.is_some_and(|r| r.marked);
            if after != before && !changed.contains(conv) {
                changed.push(conv.clone());
            }
        }
        Ok(changed)
    })
}

/// `setAllMessageRead`: every conversation with unread messages read up
/// to its highest held message; returns how many moved.
pub(crate) fn set_all_message_read(db: &Db) -> Result<u64> {
    db.write(|tx| {
        let convs: Vec<String> = tx
            .conn
            .prepare_cached(
                "SELECT conversation_id FROM conversations
                 WHERE unread_count > 0 OR (mark_on <> 0 AND mark_time > read_time)",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut moved = 0;
        for conv in convs {
            if read_locally(tx, &conv, None)?.0 {
                moved += 1;
            }
        }
        Ok(moved)
    })
}

/// `getTotalUnreadMessageCount`.
pub(crate) fn total_unread(db: &Db) -> Result<u64> {
    db.read(meta::total_unread)
}

/// The pending read reports, one per conversation, in conversation order.
pub(crate) fn pending_read_reports(db: &Db) -> Result<Vec<ReadReport>> {
    db.read(read_reports_in)
}

/// [`pending_read_reports`] on a connection (in the caller's transaction).
pub(crate) fn read_reports_in(c: &Connection) -> Result<Vec<ReadReport>> {
    let mut st = c.prepare_cached(
        "SELECT conversation_id, read_seq, read_time, private FROM read_reports
         ORDER BY conversation_id",
    )?;
    let v = st
        .query_map([], |r| {
            let t: i64 = r.get(2)?;
            Ok(ReadReport {
                conversation_id: r.get(0)?,
                read_sequence: r.get(1)?,
                read_time: (t > 0).then_some(t),
                private: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// `ackReadReports`: the server holds these positions; returns how many
/// conversations' pending reports this cleared.
pub(crate) fn ack_read_reports(db: &Db, reports: &[ReadReport]) -> Result<u64> {
    if reports.len() > MAX_READ_REPORTS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_READ_REPORTS_PER_CALL} reports a call"
        )));
    }
    for r in reports {
        parse_conversation_id(&r.conversation_id)?;
        check_position("readSequence", r.read_sequence)?;
    }
    db.write(|tx| {
        let mut acked = 0;
        for r in reports {
            acked += tx
                .conn
                .prepare_cached(
                    "DELETE FROM read_reports WHERE conversation_id = ?1 AND read_seq <= ?2
                       AND read_time <= COALESCE(?3, read_time)",
                )?
                .execute(params![r.conversation_id, r.read_sequence, r.read_time])?
                as u64;
        }
        Ok(acked)
    })
}

/// Checks the positions of a pushed report or snapshot.
pub(crate) fn check_pushed(conv: &str, p: &Positions) -> Result<()> {
    let (ctype, _) = parse_conversation_id(conv)?;
    if let Some(s) = p.read {
        check_position("readSequence", s)?;
    }
    if let Some(s) = p.peer {
        if ctype != ConversationType::C2C {
            return Err(Error::invalid(
                "peerReadSequence is for C2C conversations only",
            ));
        }
        check_position("peerReadSequence", s)?;
    }
    if let Some(t) = p.read_time {
        check_position("readTime", t)?;
    }
    match (p.marked, p.mark_time) {
        (Some(_), Some(t)) => check_position("markTime", t)?,
        (None, None) => {}
        _ => return Err(Error::invalid("marked and markTime go together")),
    }
    Ok(())
}

/// Applies server positions to one conversation; returns whether a
/// position moved or the unread mark showed or hid.
pub(crate) fn apply_positions(tx: &mut Tx<'_>, conv: &str, p: &Positions) -> Result<bool> {
    let mut moved = false;
    if let Some(s) = p.read {
        moved |= raise_read_at(tx, conv, s, Source::Server, p.read_time)?.0;
    }
    if let Some(s) = p.peer {
        moved |= raise_peer_read(tx, conv, s)?;
    }
    if p.read_time.is_none() && p.marked.is_none() {
        return Ok(moved);
    }
    let (ctype, _) = parse_conversation_id(conv)?;
    ensure(tx, conv, ctype)?;
    let before = load_conv(tx.conn, conv)?.is_some_and(|r| r.marked);
    if let Some(t) = p.read_time {
        // (Without a position it acknowledges no read report: the server
        // holds no position for it.)
        raise_read_time(tx.conn, conv, t)?;
    }
    if let (Some(on), Some(t)) = (p.marked, p.mark_time) {
        join_mark(tx.conn, conv, on, t)?;
        ack_marks_upto(tx.conn, conv, on, t)?;
    }
    let after = load_conv(tx.conn, conv)?.is_some_and(|r| r.marked);
    Ok(moved || before != after)
}

/// `applyReadReports`: returns the conversations whose positions moved.
pub(crate) fn apply_read_reports(db: &Db, reports: &[PushedReadReport]) -> Result<Vec<String>> {
    if reports.len() > MAX_READ_REPORTS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_READ_REPORTS_PER_CALL} reports a call"
        )));
    }
    for r in reports {
        check_pushed(&r.conversation_id, &r.positions())?;
    }
    db.write(|tx| {
        let mut changed: Vec<String> = Vec::new();
        for r in reports {
            let moved = apply_positions(tx, &r.conversation_id, &r.positions())?;
            if moved && !changed.contains(&r.conversation_id) {
                changed.push(r.conversation_id.clone());
            }
        }
        Ok(changed)
    })
}
