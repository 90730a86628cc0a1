//! Typed row loaders: each SELECT sits next to the code that reads its
//! columns, so no column position is shared across files.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::error::Result;
use crate::events::{DeliveryItem, EventKind, ReceiptItem};
use crate::lattice::ReceiptState;
use crate::model::{
    ConversationType, Flow, GroupType, Message, MessageStatus, ReadReceiptInfo, ReceiptSentState,
};

/// Whether a conversation row `c` shows its unread mark (a tie goes to the read).
macro_rules! MARKED {
    () => {
        "(c.mark_on <> 0 AND c.mark_time > c.read_time)"
    };
}

/// Columns read by [`row_to_message`], in order.
macro_rules! msg_cols {
    () => {
        "m.rid, m.id, m.conversation_id, m.conversation_type, m.sender, m.recipient,
         m.time, m.sequence, m.is_out, m.status, m.need_receipt, m.payload, m.is_peer_read,
         r.read_count, r.unread_count, r.peer_read, m.sent_state, m.recalled"
    };
}
/// Messages with their receipt rows.
macro_rules! MSG_FROM {
    () => {
        " FROM messages m JOIN receipts r ON r.rid = m.rid"
    };
}
pub(crate) const MSG_ALL: &str = concat!("SELECT ", msg_cols!(), MSG_FROM!(), " ORDER BY m.rid");
pub(crate) const MSG_OF_CONV: &str = concat!(
    "SELECT ",
    msg_cols!(),
    MSG_FROM!(),
    " WHERE m.conversation_id = ?1 ORDER BY m.sequence, m.time, m.rid"
);
/// The messages of a JSON array of IDs, oldest first.
pub(crate) const MSG_IN_LIST: &str = concat!(
    "SELECT ",
    msg_cols!(),
    MSG_FROM!(),
    " WHERE m.id IN (SELECT value FROM json_each(?1)) ORDER BY m.rid"
);
/// One message by rowid.
pub(crate) const MSG_BY_RID: &str =
    concat!("SELECT ", msg_cols!(), MSG_FROM!(), " WHERE m.rid = ?1");
/// One message by ID (a constant, so the statement cache hits without formatting).
pub(crate) const MSG_BY_ID: &str = concat!("SELECT ", msg_cols!(), MSG_FROM!(), " WHERE m.id = ?1");
/// A page of a conversation walking back from a (sequence, time, rid) key.
pub(crate) const MSG_PAGE: &str = concat!(
    "SELECT ",
    msg_cols!(),
    MSG_FROM!(),
    " WHERE m.conversation_id = ?1 AND (m.sequence, m.time, m.rid) < (?2, ?3, ?4)
     ORDER BY m.sequence DESC, m.time DESC, m.rid DESC LIMIT 101"
);

/// A page of the conversation list: each conversation with its last message.
macro_rules! CONV_PAGE {
    () => {
        concat!(
            "SELECT ",
            msg_cols!(),
            ", c.last_time, c.last_seq, c.conversation_id, c.unread_count, c.read_seq,
             c.peer_read_seq, ",
            MARKED!(),
            " FROM conversations c INDEXED BY conversations_by_last
             JOIN messages m ON m.rid = c.last_rid
             JOIN receipts r ON r.rid = m.rid WHERE c.last_rid IS NOT NULL"
        )
    };
}
// The page queries stop at a literal LIMIT (the largest page plus one) and
// the caller stops stepping after the rows it wants: a bound LIMIT makes
// SQLite recompile the statement at every call (the planner reads the bound
// value, so binding it expires the prepared statement), which cost more than
// the page itself.
/// The first page.
pub(crate) const CONV_FIRST: &str = concat!(
    CONV_PAGE!(),
    " ORDER BY c.last_time DESC, c.last_seq DESC, c.conversation_id LIMIT 101"
);
/// After a cursor: the same time and sequence, a later ID.
pub(crate) const CONV_SAME_KEY: &str = concat!(
    CONV_PAGE!(),
    " AND c.last_time = ?1 AND c.last_seq = ?2 AND c.conversation_id > ?3
     ORDER BY c.last_time DESC, c.last_seq DESC, c.conversation_id LIMIT 101"
);
/// After a cursor: the same time, a lower sequence.
pub(crate) const CONV_SAME_TIME: &str = concat!(
    CONV_PAGE!(),
    " AND c.last_time = ?1 AND c.last_seq < ?2
     ORDER BY c.last_time DESC, c.last_seq DESC, c.conversation_id LIMIT 101"
);
/// After a cursor: an older time.
pub(crate) const CONV_OLDER: &str = concat!(
    CONV_PAGE!(),
    " AND c.last_time < ?1
     ORDER BY c.last_time DESC, c.last_seq DESC, c.conversation_id LIMIT 101"
);

/// One row of a conversation page.
pub(crate) struct ConvPageRow {
    pub last_time: i64,
    pub last_seq: i64,
    pub conversation_id: String,
    pub unread_count: i64,
    pub read_seq: i64,
    pub peer_read_seq: i64,
    pub marked: bool,
    pub last_message: Message,
}

/// Reads a row of the `CONV_*` page queries.
pub(crate) fn conv_page_row(r: &Row<'_>) -> rusqlite::Result<ConvPageRow> {
    Ok(ConvPageRow {
        last_message: row_to_message(r)?,
        last_time: r.get(18)?,
        last_seq: r.get(19)?,
        conversation_id: r.get(20)?,
        unread_count: r.get(21)?,
        read_seq: r.get(22)?,
        peer_read_seq: r.get(23)?,
        marked: r.get(24)?,
    })
}

pub(crate) fn row_to_message(r: &Row<'_>) -> rusqlite::Result<Message> {
    let out: bool = r.get(8)?;
    let need: bool = r.get(10)?;
    let payload: String = r.get(11)?;
    let ctype: ConversationType = r.get(3)?;
    Ok(Message {
        id: r.get(1)?,
        conversation_id: r.get(2)?,
        conversation_type: ctype,
        from: r.get(4)?,
        to: r.get(5)?,
        time: r.get(6)?,
        sequence: r.get(7)?,
        flow: if out { Flow::Out } else { Flow::In },
        status: r.get(9)?,
        need_read_receipt: need,
        payload: serde_json::from_str::<Value>(&payload).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(e))
        })?,
        is_peer_read: r.get(12)?,
        read_receipt_info: (out && need)
            .then(|| -> rusqlite::Result<ReadReceiptInfo> {
                Ok(ReadReceiptInfo {
                    read_count: r.get::<_, i64>(13)?.max(0) as u64,
                    unread_count: r.get::<_, Option<i64>>(14)?.map(|v| v.max(0) as u64),
                    is_peer_read: r.get(15)?,
                    delivered_count: None,
                    is_peer_delivered: None,
                    read_time: None,
                })
            })
            .transpose()?,
        receipt_sent_state: (!out && need)
            .then(|| r.get::<_, ReceiptSentState>(16))
            .transpose()?,
        is_revoked: r.get(17)?,
    })
}

/// Internal facts about a held message.
#[derive(Debug, Clone)]
pub(crate) struct MsgRow {
    pub rid: i64,
    pub id: String,
    pub conversation_id: String,
    pub ctype: ConversationType,
    pub sender: String,
    pub recipient: String,
    pub time: i64,
    pub is_out: bool,
    pub need_receipt: bool,
    pub status: MessageStatus,
    /// Recalled: its receipt figures stay as they were.
    pub recalled: bool,
}

/// A message's row columns then its receipt columns, as [`msg_row`] and
/// `stored_receipt(r, 11)` read them (`m`: messages, `r`: receipts).
macro_rules! row_and_receipt_cols {
    () => {
        "SELECT m.rid, m.id, m.conversation_id, m.conversation_type, m.sender, m.recipient,
                m.time, m.is_out, m.need_receipt, m.status, m.recalled,
                r.read_count, r.unread_count, r.peer_read, r.local_unread, r.reader_count,
                r.unread_indexed"
    };
}

/// A held message with its receipt columns, in one lookup (for merges).
pub(crate) fn load_for_merge(
    conn: &Connection,
    id: &str,
) -> Result<Option<(MsgRow, StoredReceipt)>> {
    Ok(conn
        .prepare_cached(concat!(
            row_and_receipt_cols!(),
            " FROM messages m JOIN receipts r ON r.rid = m.rid WHERE m.id = ?1"
        ))?
        .query_row(params![id], |r| Ok((msg_row(r)?, stored_receipt(r, 11)?)))
        .optional()?)
}

/// What a count-only merge reads of a held message: no strings, so a
/// snapshot of 100,000 states decodes no text it does not need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MergeHead {
    pub rid: i64,
    /// Whether it belongs to the conversation the items were given for.
    pub in_conv: bool,
    pub ctype: ConversationType,
    pub is_out: bool,
    pub need_receipt: bool,
    pub status: MessageStatus,
    /// Recalled: receipt information for it is ignored.
    pub recalled: bool,
}

/// Columns read by [`merge_head`], in order (`?2`: the conversation).
macro_rules! merge_head_cols {
    () => {
        "m.rid, m.conversation_id = ?2, m.conversation_type, m.is_out, m.need_receipt, m.status,
         m.recalled, r.read_count, r.unread_count, r.peer_read, r.local_unread, r.reader_count,
         r.unread_indexed"
    };
}
/// [`MergeHead`]s with receipt columns for a JSON array of message IDs, in
/// one statement (set-based lookups for snapshots), with each ID's position.
pub(crate) const MERGE_HEADS_OF_LIST: &str = concat!(
    "SELECT ",
    merge_head_cols!(),
    ", j.key FROM json_each(?1) j JOIN messages m ON m.id = j.value
     JOIN receipts r ON r.rid = m.rid"
);

fn merge_head(r: &Row<'_>) -> rusqlite::Result<(MergeHead, StoredReceipt)> {
    let head = MergeHead {
        rid: r.get(0)?,
        in_conv: r.get(1)?,
        ctype: r.get(2)?,
        is_out: r.get(3)?,
        need_receipt: r.get(4)?,
        status: r.get(5)?,
        recalled: r.get(6)?,
    };
    Ok((head, stored_receipt(r, 7)?))
}

/// [`MergeHead`]s of the `n` IDs of a JSON array at once, by position
/// (`None` where the message is not held).
pub(crate) fn load_merge_heads_of_list(
    conn: &Connection,
    ids_json: &str,
    conv: &str,
    n: usize,
) -> Result<Vec<Option<(MergeHead, StoredReceipt)>>> {
    let mut out = vec![None; n];
    let mut st = conn.prepare_cached(MERGE_HEADS_OF_LIST)?;
    let mut rows = st.query(params![ids_json, conv])?;
    while let Some(r) = rows.next()? {
        let pos: i64 = r.get(13)?;
        if let Some(slot) = usize::try_from(pos).ok().and_then(|p| out.get_mut(p)) {
            *slot = Some(merge_head(r)?);
        }
    }
    Ok(out)
}

/// The [`MergeHead`] of one held message by rowid, read again after a write.
pub(crate) fn load_merge_head(
    conn: &Connection,
    rid: i64,
    conv: &str,
) -> Result<Option<(MergeHead, StoredReceipt)>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            merge_head_cols!(),
            " FROM messages m JOIN receipts r ON r.rid = m.rid WHERE m.rid = ?1"
        ))?
        .query_row(params![rid, conv], merge_head)
        .optional()?)
}

/// Columns read by [`msg_row`], in order.
macro_rules! row_cols {
    () => {
        "SELECT rid, id, conversation_id, conversation_type, sender, recipient, time,
                is_out, need_receipt, status, recalled FROM messages"
    };
}

/// The [`MsgRow`] of a held message by rowid.
pub(crate) fn load_row_by_rid(conn: &Connection, rid: i64) -> Result<Option<MsgRow>> {
    Ok(conn
        .prepare_cached(concat!(row_cols!(), " WHERE rid = ?1"))?
        .query_row(params![rid], msg_row)
        .optional()?)
}

fn msg_row(r: &Row<'_>) -> rusqlite::Result<MsgRow> {
    Ok(MsgRow {
        rid: r.get(0)?,
        id: r.get(1)?,
        conversation_id: r.get(2)?,
        ctype: r.get(3)?,
        sender: r.get(4)?,
        recipient: r.get(5)?,
        time: r.get(6)?,
        is_out: r.get(7)?,
        need_receipt: r.get(8)?,
        status: r.get(9)?,
        recalled: r.get(10)?,
    })
}

pub(crate) fn load_row(conn: &Connection, id: &str) -> Result<Option<MsgRow>> {
    Ok(conn
        .prepare_cached(concat!(row_cols!(), " WHERE id = ?1"))?
        .query_row(params![id], msg_row)
        .optional()?)
}

/// The `out` messages of a conversation that need a receipt.
pub(crate) fn load_receipt_rows_of_conversation(
    conn: &Connection,
    conv: &str,
) -> Result<Vec<MsgRow>> {
    let mut st = conn.prepare_cached(
        "SELECT rid, id, conversation_id, conversation_type, sender, recipient, time,
                is_out, need_receipt, status, recalled
         FROM messages WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1",
    )?;
    let rows = st
        .query_map(params![conv], msg_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(crate) fn load_message(conn: &Connection, id: &str) -> Result<Option<Message>> {
    Ok(conn
        .prepare_cached(MSG_BY_ID)?
        .query_row(params![id], row_to_message)
        .optional()?)
}

/// Receipt columns of a message row as read for a merge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredReceipt {
    pub state: ReceiptState,
    /// `local_unread`: |audience| − |readers in audience|, `None` while members are unknown.
    pub local: Option<i64>,
    pub reader_count: i64,
    /// Whether `unread_members` holds this message's unread list.
    pub indexed: bool,
}

/// The receipt columns of one message.
pub(crate) fn load_receipt(conn: &Connection, rid: i64) -> Result<StoredReceipt> {
    Ok(conn
        .prepare_cached(
            "SELECT read_count, unread_count, peer_read, local_unread, reader_count, unread_indexed
             FROM receipts WHERE rid = ?1",
        )?
        .query_row(params![rid], |r| stored_receipt(r, 0))?)
}

/// Reads [`StoredReceipt`] from columns `at..at + 6` of a row (the SELECTs
/// of this file only).
fn stored_receipt(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<StoredReceipt> {
    Ok(StoredReceipt {
        state: ReceiptState {
            read_count: r.get(at)?,
            unread_count: r.get(at + 1)?,
            peer_read: r.get(at + 2)?,
        },
        local: r.get(at + 3)?,
        reader_count: r.get(at + 4)?,
        indexed: r.get(at + 5)?,
    })
}

/// What a member page reads before its list, in one statement: the
/// message's row, its receipt columns (`None` without a receipt row), its
/// group's type (`None` when unknown or not a group message) and, when `?2`
/// is true, its reader rows and whether the sender has one.
pub(crate) const PAGE_HEAD: &str = concat!(
    row_and_receipt_cols!(),
    ", r.rid IS NOT NULL, g.group_type, CASE WHEN ?2 THEN r.reader_rows END,
        CASE WHEN ?2 THEN EXISTS (SELECT 1 FROM readers x WHERE x.rid = m.rid AND x.user_id = m.sender) END
     FROM messages m
     LEFT JOIN receipts r ON r.rid = m.rid
     LEFT JOIN groups g ON m.conversation_type = 'GROUP' AND g.group_id = m.recipient
     WHERE m.id = ?1"
);

/// A message and what a member page needs of it ([`PAGE_HEAD`]).
#[derive(Debug)]
pub(crate) struct PageHead {
    pub row: MsgRow,
    pub receipt: Option<StoredReceipt>,
    pub group_type: Option<GroupType>,
    /// Reader rows (all, the sender's among them), when asked for.
    pub reader_rows: Option<i64>,
    /// Whether the sender has a reader row, when asked for.
    pub sender_row: Option<bool>,
}

/// The [`PageHead`] of message `id`; with `reader_rows`, its reader rows
/// and whether the sender has one too.
pub(crate) fn load_page_head(
    conn: &Connection,
    id: &str,
    reader_rows: bool,
) -> Result<Option<PageHead>> {
    Ok(conn
        .prepare_cached(PAGE_HEAD)?
        .query_row(params![id, reader_rows], |r| {
            let has_receipt: bool = r.get(17)?;
            Ok(PageHead {
                row: msg_row(r)?,
                receipt: if has_receipt {
                    Some(stored_receipt(r, 11)?)
                } else {
                    None
                },
                group_type: r.get(18)?,
                reader_rows: r.get(19)?,
                sender_row: r.get(20)?,
            })
        })
        .optional()?)
}

/// The last [`PageHead`] read, with what it was read for: a member list is
/// read page after page, and each page's head is the same while nothing
/// was written. Its owner forgets it at every write on its connection;
/// `PRAGMA data_version` tells of commits on any other.
#[derive(Debug, Default)]
pub(crate) struct HeadMemo(Option<KeptHead>);

/// A kept [`PageHead`] and what it was read for.
#[derive(Debug)]
struct KeptHead {
    id: String,
    reader_rows: bool,
    /// `PRAGMA data_version` when it was read.
    version: i64,
    head: Arc<PageHead>,
}

impl HeadMemo {
    /// The [`PageHead`] of message `id` as [`load_page_head`] reads it, from
    /// the memo when it holds that head and the file's `data_version` is
    /// the one it was read at (to be called inside the read transaction).
    pub(crate) fn page_head(
        &mut self,
        conn: &Connection,
        id: &str,
        reader_rows: bool,
    ) -> Result<Option<Arc<PageHead>>> {
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if let Some(k) = &self.0 {
            if k.id == id && k.reader_rows == reader_rows && k.version == version {
                return Ok(Some(Arc::clone(&k.head)));
            }
        }
        let head = load_page_head(conn, id, reader_rows)?.map(Arc::new);
        self.0 = head.as_ref().map(|h| KeptHead {
            id: id.to_string(),
            reader_rows,
            version,
            head: Arc::clone(h),
        });
        Ok(head)
    }

    /// Forgets the head (a write is about to run on the owner's connection).
    pub(crate) fn forget(&mut self) {
        self.0 = None;
    }
}

/// The group's type, or `None` when the group is unknown.
pub(crate) fn group_type_of(conn: &Connection, group_id: &str) -> Result<Option<GroupType>> {
    Ok(conn
        .prepare_cached("SELECT group_type FROM groups WHERE group_id = ?1")?
        .query_row(params![group_id], |r| r.get(0))
        .optional()?)
}

/// Merged receipt values of the given `out` messages, for events.
pub(crate) fn receipt_items(conn: &Connection, rids: &BTreeSet<i64>) -> Result<Vec<ReceiptItem>> {
    let mut st = conn.prepare_cached(
        "SELECT m.id, m.conversation_id, m.conversation_type, m.recipient, m.sender,
                r.read_count, r.unread_count, r.peer_read
         FROM messages m JOIN receipts r ON r.rid = m.rid WHERE m.rid = ?1
           AND NOT (m.conversation_type = 'GROUP' AND EXISTS
                (SELECT 1 FROM groups g WHERE g.group_id = m.recipient
                   AND g.group_type IN ('Community', 'AVChatRoom')))",
    )?;
    let mut out = Vec::with_capacity(rids.len());
    for rid in rids {
        let item = st
            .query_row(params![rid], |r| {
                let ctype: ConversationType = r.get(2)?;
                let to: String = r.get(3)?;
                let group = ctype == ConversationType::Group;
                Ok(ReceiptItem {
                    message_id: r.get(0)?,
                    conversation_id: r.get(1)?,
                    group_id: if group { to.clone() } else { String::new() },
                    user_id: if group { String::new() } else { to },
                    read_count: r.get::<_, i64>(5)?.max(0) as u64,
                    unread_count: r.get::<_, Option<i64>>(6)?.map(|v| v.max(0) as u64),
                    is_peer_read: r.get(7)?,
                })
            })
            .optional()?;
        if let Some(i) = item {
            out.push(i);
        }
    }
    Ok(out)
}

/// The message with this rowid, if held.
pub(crate) fn load_message_by_rid(conn: &Connection, rid: i64) -> Result<Option<Message>> {
    Ok(conn
        .prepare_cached(MSG_BY_RID)?
        .query_row(params![rid], row_to_message)
        .optional()?)
}

/// The stored read state of one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvRow {
    pub unread_count: i64,
    pub read_seq: i64,
    pub peer_read_seq: i64,
    pub last_rid: Option<i64>,
    /// The unread mark shows: its newest mark is newer than the newest read to the end.
    pub marked: bool,
}

/// The read state of a conversation, if it has a row.
pub(crate) fn load_conv(conn: &Connection, conv: &str) -> Result<Option<ConvRow>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT c.unread_count, c.read_seq, c.peer_read_seq, c.last_rid, ",
            MARKED!(),
            " FROM conversations c WHERE c.conversation_id = ?1"
        ))?
        .query_row(params![conv], |r| {
            Ok(ConvRow {
                unread_count: r.get(0)?,
                read_seq: r.get(1)?,
                peer_read_seq: r.get(2)?,
                last_rid: r.get(3)?,
                marked: r.get(4)?,
            })
        })
        .optional()?)
}

/// The conversation events of one commit: `CONVERSATION_CHANGED` for each
/// touched conversation whose row differs from `before`, the messages whose
/// `isPeerRead` just became true, and the total when it moved.
pub(crate) fn conversation_events(
    conn: &Connection,
    before: &BTreeMap<String, Option<ConvRow>>,
    total_moved: i64,
    peer_read: &BTreeSet<i64>,
) -> Result<Vec<EventKind>> {
    let mut out = Vec::new();
    for (conv, old) in before {
        let now = load_conv(conn, conv)?;
        if now == *old {
            continue;
        }
        if let Some(n) = now {
            let group = conv.starts_with("GROUP");
            out.push(EventKind::ConversationChanged {
                conversation_id: conv.clone(),
                unread_count: n.unread_count.max(0) as u64,
                read_sequence: n.read_seq,
                peer_read_sequence: (!group).then_some(n.peer_read_seq),
                marked_unread: n.marked,
            });
        }
    }
    if !peer_read.is_empty() {
        let mut msgs = Vec::with_capacity(peer_read.len());
        for rid in peer_read {
            if let Some(m) = load_message_by_rid(conn, *rid)? {
                msgs.push(m);
            }
        }
        if !msgs.is_empty() {
            out.push(EventKind::MessagesReadByPeer(msgs));
        }
    }
    if total_moved != 0 {
        out.push(EventKind::TotalUnreadChanged(super::meta::total_unread(
            conn,
        )?));
    }
    Ok(out)
}

/// The delivery answer of one `out` message (`withDelivery`, events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Delivered {
    /// Users known to have received it, in the audience (readers included).
    pub count: i64,
    /// C2C: the peer received (or read) it.
    pub peer: bool,
}

/// The delivery answer of a message's receipt row: a reader counts as
/// delivered, so the count is never below `read_count`.
pub(crate) fn load_delivered(conn: &Connection, rid: i64) -> Result<Delivered> {
    Ok(conn
        .prepare_cached(
            "SELECT max(delivered_count, read_count), peer_delivered OR peer_read
             FROM receipts WHERE rid = ?1",
        )?
        .query_row(params![rid], |r| {
            Ok(Delivered {
                count: r.get(0)?,
                peer: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// The delivery items of the given `out` messages, for their event.
pub(crate) fn delivery_items(conn: &Connection, rids: &[i64]) -> Result<Vec<DeliveryItem>> {
    let mut st = conn.prepare_cached(
        "SELECT m.id, m.conversation_type, m.recipient, m.conversation_id FROM messages m
         WHERE m.rid = ?1",
    )?;
    let mut out = Vec::with_capacity(rids.len());
    for rid in rids {
        let Some((id, ctype, to, conv)) = st
            .query_row(params![rid], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, ConversationType>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let d = load_delivered(conn, *rid)?;
        let group = ctype == ConversationType::Group;
        out.push(DeliveryItem {
            group_id: if group { to.clone() } else { String::new() },
            user_id: if group { String::new() } else { to },
            message_id: id,
            delivered_count: d.count.max(0) as u64,
            is_peer_delivered: d.peer,
            conversation_id: conv,
        });
    }
    Ok(out)
}

/// Whether reading `conv` is private: its own switch, else the store's.
pub(crate) fn is_private(conn: &Connection, conv: &str) -> Result<bool> {
    use rusqlite::OptionalExtension;
    let own: Option<bool> = conn
        .prepare_cached("SELECT private_reading FROM conversations WHERE conversation_id = ?1")?
        .query_row(params![conv], |r| r.get(0))
        .optional()?
        .flatten();
    match own {
        Some(p) => Ok(p),
        None => Ok(super::meta::receipt_config(conn)?.private_reading),
    }
}
