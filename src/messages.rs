//! Messages and conversations: create, send, save (upsert), find, page, unread counts.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::groups::{check_receipts_allowed, local_unread};
use crate::merge::{self, Estimate};
use crate::model::{
    check_id, check_payload, conversation_id, parse_conversation_id, ConversationType, Flow,
    IncomingMessage, Message, MessageStatus, ReadReceiptInfo, ReceiptSentState,
};
use crate::store::{Store, Tx};

/// Most messages accepted by one `saveMessages` or snapshot.
pub const MAX_MESSAGES_PER_CALL: usize = 1000;

/// Columns read by [`row_to_message`], in order.
macro_rules! msg_cols {
    () => {
        "m.rid, m.id, m.conversation_id, m.conversation_type, m.sender, m.recipient,
         m.time, m.sequence, m.is_out, m.status, m.need_receipt, m.payload, m.is_peer_read,
         r.read_count, r.unread_count, r.peer_read, m.sent_state"
    };
}
/// Messages with their receipt rows.
macro_rules! MSG_FROM {
    () => {
        " FROM messages m JOIN receipts r ON r.rid = m.rid"
    };
}
const MSG_ALL: &str = concat!("SELECT ", msg_cols!(), MSG_FROM!(), " ORDER BY m.rid");
const MSG_OF_CONV: &str = concat!(
    "SELECT ",
    msg_cols!(),
    MSG_FROM!(),
    " WHERE m.conversation_id = ?1 ORDER BY m.sequence, m.time, m.rid"
);
/// The messages of a JSON array of IDs, oldest first.
const MSG_IN_LIST: &str = concat!(
    "SELECT ",
    msg_cols!(),
    MSG_FROM!(),
    " WHERE m.id IN (SELECT value FROM json_each(?1)) ORDER BY m.rid"
);
/// One message by ID (a constant, so the statement cache hits without formatting).
pub(crate) const MSG_BY_ID: &str = concat!("SELECT ", msg_cols!(), MSG_FROM!(), " WHERE m.id = ?1");
/// A page of a conversation walking back from a (sequence, time, rid) key.
pub(crate) const MSG_PAGE: &str = concat!(
    "SELECT ",
    msg_cols!(),
    MSG_FROM!(),
    " WHERE m.conversation_id = ?1 AND (m.sequence, m.time, m.rid) < (?2, ?3, ?4)
     ORDER BY m.sequence DESC, m.time DESC, m.rid DESC LIMIT ?5"
);

/// One page of `getMessageList`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageListPage {
    /// Oldest to newest.
    pub message_list: Vec<Message>,
    /// Pass back to get the next (older) page; `""` when the page is empty.
    #[serde(rename = "nextReqMessageID")]
    pub next_req_message_id: String,
    /// No older messages remain.
    pub is_completed: bool,
}

/// A conversation's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conversation {
    /// `C2C<peer>` or `GROUP<groupID>`.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// `C2C` or `GROUP`.
    #[serde(rename = "type")]
    pub conversation_type: ConversationType,
    /// `in` messages not yet marked read.
    #[serde(rename = "unreadCount")]
    pub unread_count: u64,
}

pub(crate) fn row_to_message(r: &Row<'_>) -> rusqlite::Result<Message> {
    let out: bool = r.get(8)?;
    let need: bool = r.get(10)?;
    let payload: String = r.get(11)?;
    let ctype = ConversationType::from_db(&r.get::<_, String>(3)?);
    let status: String = r.get(9)?;
    Ok(Message {
        id: r.get(1)?,
        conversation_id: r.get(2)?,
        conversation_type: ctype,
        from: r.get(4)?,
        to: r.get(5)?,
        time: r.get(6)?,
        sequence: r.get(7)?,
        flow: if out { Flow::Out } else { Flow::In },
        status: MessageStatus::from_db(&status),
        need_read_receipt: need,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        is_peer_read: r.get(12)?,
        read_receipt_info: (out && need)
            .then(|| -> rusqlite::Result<ReadReceiptInfo> {
                Ok(ReadReceiptInfo {
                    read_count: r.get::<_, i64>(13)?.max(0) as u64,
                    unread_count: r.get::<_, Option<i64>>(14)?.map(|v| v.max(0) as u64),
                    is_peer_read: r.get(15)?,
                })
            })
            .transpose()?,
        receipt_sent_state: (!out && need)
            .then(|| r.get::<_, i64>(16).map(ReceiptSentState::from_db))
            .transpose()?,
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
}

/// A held message with its receipt columns, in one lookup (for merges).
pub(crate) fn load_for_merge(
    conn: &Connection,
    id: &str,
) -> Result<Option<(MsgRow, merge::StoredReceipt)>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.rid, m.id, m.conversation_id, m.conversation_type, m.sender, m.recipient,
                    m.time, m.is_out, m.need_receipt, m.status,
                    r.read_count, r.unread_count, r.peer_read, r.local_unread, r.reader_count,
                    r.unread_indexed
             FROM messages m JOIN receipts r ON r.rid = m.rid WHERE m.id = ?1",
        )?
        .query_row(params![id], |r| {
            Ok((msg_row(r)?, merge::stored_receipt(r, 10)?))
        })
        .optional()?)
}

fn msg_row(r: &Row<'_>) -> rusqlite::Result<MsgRow> {
    Ok(MsgRow {
        rid: r.get(0)?,
        id: r.get(1)?,
        conversation_id: r.get(2)?,
        ctype: ConversationType::from_db(&r.get::<_, String>(3)?),
        sender: r.get(4)?,
        recipient: r.get(5)?,
        time: r.get(6)?,
        is_out: r.get(7)?,
        need_receipt: r.get(8)?,
        status: MessageStatus::from_db(&r.get::<_, String>(9)?),
    })
}

pub(crate) fn load_row(conn: &Connection, id: &str) -> Result<Option<MsgRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT rid, id, conversation_id, conversation_type, sender, recipient, time,
                    is_out, need_receipt, status
             FROM messages WHERE id = ?1",
        )?
        .query_row(params![id], msg_row)
        .optional()?)
}

pub(crate) fn load_message(conn: &Connection, id: &str) -> Result<Option<Message>> {
    Ok(conn
        .prepare_cached(MSG_BY_ID)?
        .query_row(params![id], row_to_message)
        .optional()?)
}

/// The messages a subscription filter selects, oldest first.
pub(crate) fn messages_for_filter(
    conn: &Connection,
    f: &crate::events::Filter,
) -> Result<Vec<Message>> {
    use crate::events::Filter;
    let mut out = Vec::new();
    match f {
        Filter::All => {
            let mut st = conn.prepare(MSG_ALL)?;
            for m in st.query_map([], row_to_message)? {
                out.push(m?);
            }
        }
        Filter::Conversation(c) => {
            let mut st = conn.prepare(MSG_OF_CONV)?;
            for m in st.query_map(params![c], row_to_message)? {
                out.push(m?);
            }
        }
        Filter::Messages(ids) => {
            // A set has no order: the stored order (as for `All`) makes it oldest first.
            let ids: Vec<&String> = ids.iter().collect();
            let list = serde_json::to_string(&ids).map_err(|e| Error::Sqlite(e.to_string()))?;
            let mut st = conn.prepare(MSG_IN_LIST)?;
            for m in st.query_map(params![list], row_to_message)? {
                out.push(m?);
            }
        }
    }
    Ok(out)
}

fn require_message(conn: &Connection, id: &str) -> Result<Message> {
    load_message(conn, id)?.ok_or_else(|| Error::MessageNotFound(id.to_string()))
}

/// The receipt row of the message just inserted on this connection.
fn insert_receipt_row(conn: &Connection, unread: Option<i64>) -> Result<()> {
    conn.prepare_cached("INSERT INTO receipts(rid, unread_count) VALUES (?1, ?2)")?
        .execute(params![conn.last_insert_rowid(), unread])?;
    Ok(())
}

fn ensure_conversation(conn: &Connection, conv: &str, ctype: ConversationType) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO conversations(conversation_id, type, unread_count) VALUES (?1, ?2, 0)",
    )?
    .execute(params![conv, ctype.as_str()])?;
    Ok(())
}

/// A fresh message ID: owner, a per-store random nonce, and a counter.
fn next_local_id(tx: &Tx<'_>) -> Result<String> {
    let nonce: Option<String> = tx
        .conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'device_nonce'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let nonce = match nonce {
        Some(n) => n,
        None => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            let n = format!("{:016x}", h.finish());
            tx.conn.execute(
                "INSERT INTO meta(key, value) VALUES ('device_nonce', ?1)",
                params![n],
            )?;
            n
        }
    };
    let counter: i64 = tx.conn.query_row(
        "INSERT INTO meta(key, value) VALUES ('next_local_id', '1')
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
         RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )?;
    Ok(format!("{}-{}-{}", tx.owner, nonce, counter))
}

/// Recounts a group receipt message's local unread estimate from its
/// audience. Once the message is sent, `unread_count` takes the min with it
/// (it is unknown, the top, until the server's time fixes the audience).
fn init_group_counts(tx: &mut Tx<'_>, m: &MsgRow) -> Result<()> {
    if !(m.is_out && m.need_receipt && m.ctype == ConversationType::Group) {
        return Ok(());
    }
    let local = local_unread(tx.conn, &m.recipient, m.time, &m.sender, m.rid)?;
    let (old, indexed): (Option<i64>, bool) = tx
        .conn
        .prepare_cached("SELECT unread_count, unread_indexed FROM receipts WHERE rid = ?1")?
        .query_row(params![m.rid], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if indexed {
        crate::unread_index::rebuild(tx, m)?;
    }
    let new = if m.status == MessageStatus::UnSend {
        old
    } else {
        merge::min_reg(old, local)
    };
    tx.conn
        .prepare_cached("UPDATE receipts SET local_unread = ?2, unread_count = ?3 WHERE rid = ?1")?
        .execute(params![m.rid, local, new])?;
    if new != old {
        tx.receipt_changed.insert(m.rid);
    }
    Ok(())
}

impl Store {
    /// Creates an `out` message (`status: unSend`) with a fresh unique ID.
    pub fn create_message(
        &self,
        to: &str,
        conversation_type: ConversationType,
        payload: &Value,
        need_read_receipt: bool,
    ) -> Result<Message> {
        check_id("to", to)?;
        let payload = check_payload(payload)?;
        self.write(|tx| {
            if need_read_receipt {
                check_receipts_allowed(tx.conn, conversation_type, to)?;
            }
            let conv = conversation_id(conversation_type, to);
            ensure_conversation(tx.conn, &conv, conversation_type)?;
            let id = next_local_id(tx)?;
            let seq: i64 = tx.conn.query_row(
                "SELECT COALESCE(MAX(sequence), 0) + 1 FROM messages WHERE conversation_id = ?1",
                params![conv],
                |r| r.get(0),
            )?;
            let now = chrono::Utc::now().timestamp();
            let c2c = conversation_type == ConversationType::C2C;
            tx.conn.execute(
                "INSERT INTO messages(id, conversation_id, conversation_type, sender, recipient,
                    time, sequence, is_out, status, need_receipt, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 'unSend', ?8, ?9)",
                params![
                    id,
                    conv,
                    conversation_type.as_str(),
                    tx.owner,
                    to,
                    now,
                    seq,
                    need_read_receipt,
                    payload
                ],
            )?;
            insert_receipt_row(tx.conn, (c2c && need_read_receipt).then_some(1))?;
            if let Some(m) = load_row(tx.conn, &id)? {
                init_group_counts(tx, &m)?;
            }
            tx.events
                .push(EventKind::MessagesChanged(vec![(conv, id.clone())]));
            require_message(tx.conn, &id)
        })
    }

    /// Records that the server accepted an `out` message: its sequence and time.
    pub fn mark_message_sent(&self, id: &str, sequence: i64, time: i64) -> Result<Message> {
        check_id("ID", id)?;
        self.write(|tx| {
            let m = load_row(tx.conn, id)?.ok_or_else(|| Error::MessageNotFound(id.into()))?;
            if !m.is_out {
                return Err(Error::invalid("only out messages can be marked sent"));
            }
            let before = load_message(tx.conn, id)?;
            tx.conn.execute(
                "UPDATE messages SET status = 'success', sequence = ?2, time = ?3 WHERE rid = ?1",
                params![m.rid, sequence, time],
            )?;
            let first_send = m.status != MessageStatus::Success;
            let m2 = MsgRow {
                time,
                status: MessageStatus::Success,
                ..m.clone()
            };
            if first_send || time != m.time {
                init_group_counts(tx, &m2)?;
            }
            let after = require_message(tx.conn, id)?;
            if before.as_ref() != Some(&after) {
                tx.events
                    .push(EventKind::MessagesChanged(vec![(m.conversation_id, m.id)]));
            }
            Ok(after)
        })
    }

    /// Saves messages from the transport (upsert by `ID`); returns how many were saved.
    pub fn save_messages(&self, messages: &[IncomingMessage]) -> Result<usize> {
        if messages.len() > MAX_MESSAGES_PER_CALL {
            return Err(Error::invalid(format!(
                "at most {MAX_MESSAGES_PER_CALL} messages a call"
            )));
        }
        self.write(|tx| {
            let mut changed = Vec::new();
            for m in messages {
                let (row, did) = upsert_message(tx, m, None)?;
                if did {
                    changed.push((row.conversation_id, row.id));
                }
            }
            if !changed.is_empty() {
                tx.events.push(EventKind::MessagesChanged(changed));
            }
            Ok(messages.len())
        })
    }

    /// The message with this ID, if held.
    pub fn find_message(&self, id: &str) -> Result<Option<Message>> {
        check_id("messageID", id)?;
        self.read(|c| load_message(c, id))
    }

    /// A page of a conversation's messages, walking back from the newest.
    pub fn get_message_list(
        &self,
        conversation_id: &str,
        next_req_message_id: Option<&str>,
        count: Option<u32>,
    ) -> Result<MessageListPage> {
        parse_conversation_id(conversation_id)?;
        let count = count.unwrap_or(15);
        if !(1..=100).contains(&count) {
            return Err(Error::invalid("count must be 1..100"));
        }
        let next = next_req_message_id.filter(|s| !s.is_empty());
        if let Some(id) = next {
            check_id("nextReqMessageID", id)?;
        }
        self.read(|c| {
            let (seq, time, rid) = match next {
                None => (i64::MAX, i64::MAX, i64::MAX),
                Some(id) => {
                    let m = load_row(c, id)?.ok_or_else(|| Error::MessageNotFound(id.into()))?;
                    if m.conversation_id != conversation_id {
                        return Err(Error::invalid(
                            "nextReqMessageID is in another conversation",
                        ));
                    }
                    let (s, t): (i64, i64) = c.query_row(
                        "SELECT sequence, time FROM messages WHERE rid = ?1",
                        params![m.rid],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    (s, t, m.rid)
                }
            };
            let mut st = c.prepare_cached(MSG_PAGE)?;
            let mut list: Vec<Message> = st
                .query_map(
                    params![conversation_id, seq, time, rid, count as i64 + 1],
                    row_to_message,
                )?
                .collect::<rusqlite::Result<_>>()?;
            let is_completed = list.len() <= count as usize;
            list.truncate(count as usize);
            list.reverse();
            Ok(MessageListPage {
                next_req_message_id: list.first().map(|m| m.id.clone()).unwrap_or_default(),
                message_list: list,
                is_completed,
            })
        })
    }

    /// A conversation's type and unread count (0 for one never seen).
    pub fn get_conversation(&self, conversation_id: &str) -> Result<Conversation> {
        let (ctype, _) = parse_conversation_id(conversation_id)?;
        self.read(|c| {
            let n: Option<i64> = c
                .query_row(
                    "SELECT unread_count FROM conversations WHERE conversation_id = ?1",
                    params![conversation_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(Conversation {
                conversation_id: conversation_id.to_string(),
                conversation_type: ctype,
                unread_count: n.unwrap_or(0).max(0) as u64,
            })
        })
    }

    /// Marks a conversation read: its unread count becomes 0. Sends no receipts.
    pub fn set_message_read(&self, conversation_id: &str) -> Result<()> {
        parse_conversation_id(conversation_id)?;
        self.write(|tx| {
            let n = tx.conn.execute(
                "UPDATE conversations SET unread_count = 0
                 WHERE conversation_id = ?1 AND unread_count <> 0",
                params![conversation_id],
            )?;
            if n > 0 {
                tx.events.push(EventKind::ConversationChanged {
                    conversation_id: conversation_id.to_string(),
                    unread_count: 0,
                });
            }
            Ok(())
        })
    }
}

/// Works out and checks the conversation of an incoming message.
fn resolve_conversation(owner: &str, m: &IncomingMessage) -> Result<(ConversationType, String)> {
    check_id("ID", &m.id)?;
    check_id("from", &m.from)?;
    check_id("to", &m.to)?;
    let given = match &m.conversation_id {
        Some(c) => Some(parse_conversation_id(c)?.0),
        None => None,
    };
    let ctype = match (m.conversation_type, given) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::invalid(
                "conversationType disagrees with conversationID",
            ))
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(Error::invalid(
                "conversationType or conversationID is required",
            ))
        }
    };
    let conv = match ctype {
        ConversationType::Group => conversation_id(ctype, &m.to),
        ConversationType::C2C => {
            let peer = if m.from == owner {
                &m.to
            } else if m.to == owner {
                &m.from
            } else {
                return Err(Error::invalid(format!(
                    "C2C message {} is neither from nor to the owner",
                    m.id
                )));
            };
            conversation_id(ctype, peer)
        }
    };
    if let Some(c) = &m.conversation_id {
        if *c != conv {
            return Err(Error::invalid(format!(
                "message {} has conversationID {c} but belongs to {conv}",
                m.id
            )));
        }
    }
    Ok((ctype, conv))
}

/// Upserts one transport message; `expect_conv` restricts it to one conversation.
pub(crate) fn upsert_message(
    tx: &mut Tx<'_>,
    m: &IncomingMessage,
    expect_conv: Option<&str>,
) -> Result<(MsgRow, bool)> {
    let (ctype, conv) = resolve_conversation(tx.owner, m)?;
    if let Some(e) = expect_conv {
        if e != conv {
            return Err(Error::invalid(format!(
                "message {} belongs to {conv}, not {e}",
                m.id
            )));
        }
    }
    let payload = match &m.payload {
        Some(p) => Some(check_payload(p)?),
        None => None,
    };
    let status = m.status.unwrap_or(MessageStatus::Success);
    let is_out = m.from == tx.owner;
    ensure_conversation(tx.conn, &conv, ctype)?;
    let before = load_message(tx.conn, &m.id)?;
    let row = match load_row(tx.conn, &m.id)? {
        Some(old) => {
            if old.conversation_id != conv || old.sender != m.from {
                return Err(Error::invalid(format!(
                    "message {} already exists with another conversation or sender",
                    m.id
                )));
            }
            tx.conn
                .prepare_cached(
                    "UPDATE messages SET time = ?2, sequence = ?3,
                        status = CASE WHEN status = 'success' THEN status ELSE ?4 END,
                        need_receipt = need_receipt | ?5,
                        payload = COALESCE(?6, payload),
                        is_peer_read = is_peer_read | ?7
                     WHERE rid = ?1",
                )?
                .execute(params![
                    old.rid,
                    m.time,
                    m.sequence,
                    status.as_str(),
                    m.need_read_receipt,
                    payload,
                    m.is_peer_read
                ])?;
            let new =
                load_row(tx.conn, &m.id)?.ok_or_else(|| Error::MessageNotFound(m.id.clone()))?;
            let first_send =
                old.status != MessageStatus::Success && new.status == MessageStatus::Success;
            let became_receipt = new.need_receipt && !old.need_receipt;
            if became_receipt && new.ctype == ConversationType::C2C && new.is_out {
                tx.conn.execute(
                    "UPDATE receipts SET unread_count = CASE WHEN peer_read THEN 0 ELSE 1 END WHERE rid = ?1",
                    params![new.rid],
                )?;
            }
            if first_send || became_receipt || new.time != old.time {
                init_group_counts(tx, &new)?;
            }
            new
        }
        None => {
            let c2c_receipt = ctype == ConversationType::C2C && is_out && m.need_read_receipt;
            tx.conn
                .prepare_cached(
                    "INSERT INTO messages(id, conversation_id, conversation_type, sender, recipient,
                        time, sequence, is_out, status, need_receipt, payload, is_peer_read)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    m.id,
                    conv,
                    ctype.as_str(),
                    m.from,
                    m.to,
                    m.time,
                    m.sequence,
                    is_out,
                    status.as_str(),
                    m.need_read_receipt,
                    payload.unwrap_or_else(|| "{}".to_string()),
                    m.is_peer_read
                ])?;
            insert_receipt_row(tx.conn, c2c_receipt.then_some(1))?;
            if !is_out {
                tx.conn
                    .prepare_cached(
                        "UPDATE conversations SET unread_count = unread_count + 1 WHERE conversation_id = ?1",
                    )?
                    .execute(params![conv])?;
                tx.events.push(EventKind::ConversationChanged {
                    conversation_id: conv.clone(),
                    unread_count: tx
                        .conn
                        .query_row(
                            "SELECT unread_count FROM conversations WHERE conversation_id = ?1",
                            params![conv],
                            |r| r.get::<_, i64>(0),
                        )?
                        .max(0) as u64,
                });
            }
            let row =
                load_row(tx.conn, &m.id)?.ok_or_else(|| Error::MessageNotFound(m.id.clone()))?;
            init_group_counts(tx, &row)?;
            // A new message's initial counts are not a received receipt.
            tx.receipt_changed.remove(&row.rid);
            merge::flush_early(tx, &row)?;
            row
        }
    };
    if let Some(info) = &m.read_receipt_info {
        let est = Estimate {
            read_count: info.read_count.map(clamp),
            unread_count: info.unread_count.map(clamp),
            peer_read: info.is_peer_read.unwrap_or(false),
        };
        merge::merge_held(tx, &row, &est, &[])?;
    }
    let changed = match before {
        None => true,
        Some(b) => load_message(tx.conn, &m.id)?.as_ref() != Some(&b),
    };
    Ok((row, changed))
}

pub(crate) fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}
