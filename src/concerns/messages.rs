//! Messages and conversations: create, send, save (upsert), find, page, unread counts.

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::Value;

use super::conversations::{ensure, message_changed, MsgFacts};
use super::early::{flush_early, merge_early};
use super::groups::check_receipts_allowed;
use super::receipts::merge_held;
use super::unread::init_group_counts;
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::lattice::Estimate;
use crate::model::{
    check_id, check_payload, check_seq, conversation_id, parse_conversation_id, ConversationType,
    IncomingMessage, Message, MessageStatus, MAX_ID_LEN,
};
use crate::storage::db::{Db, Tx};
use crate::storage::meta;
use crate::storage::rows::{load_message, load_row, row_to_message, MsgRow, MSG_PAGE};

/// Most messages accepted by one `saveMessages` or snapshot.
pub const MAX_MESSAGES_PER_CALL: usize = 1000;

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

fn require_message(conn: &Connection, id: &str) -> Result<Message> {
    load_message(conn, id)?.ok_or_else(|| Error::MessageNotFound(id.to_string()))
}

/// The receipt row of the message just inserted on this connection.
fn insert_receipt_row(conn: &Connection, unread: Option<i64>) -> Result<()> {
    conn.prepare_cached("INSERT INTO receipts(rid, unread_count) VALUES (?1, ?2)")?
        .execute(params![conn.last_insert_rowid(), unread])?;
    Ok(())
}

/// A fresh message ID: owner, a per-store random nonce, and a counter.
fn next_local_id(tx: &Tx<'_>) -> Result<String> {
    let nonce = match meta::get(tx.conn, meta::Key::DeviceNonce)? {
        Some(n) => n,
        None => {
            let n = crate::storage::random_hex(tx.conn)?;
            meta::set(tx.conn, meta::Key::DeviceNonce, &n)?;
            n
        }
    };
    let counter = meta::next(tx.conn, meta::Key::NextLocalId)?;
    let tail = format!("-{nonce}-{counter}");
    // Keep the ID within MAX_ID_LEN whatever the owner's length: the owner
    // part is cut at a character boundary (the nonce and counter keep it unique).
    let mut keep = MAX_ID_LEN.saturating_sub(tail.len()).min(tx.owner.len());
    while !tx.owner.is_char_boundary(keep) {
        keep -= 1;
    }
    Ok(format!("{}{tail}", &tx.owner[..keep]))
}

/// Creates an `out` message (`status: unSend`) with a fresh unique ID.
pub(crate) fn create_message(
    db: &Db,
    to: &str,
    conversation_type: ConversationType,
    payload: &Value,
    need_read_receipt: bool,
) -> Result<Message> {
    check_id("to", to)?;
    let payload = check_payload(payload)?;
    db.write(|tx| {
        if need_read_receipt {
            check_receipts_allowed(tx.conn, conversation_type, to)?;
        }
        let conv = conversation_id(conversation_type, to);
        ensure(tx, &conv, conversation_type)?;
        let id = next_local_id(tx)?;
        let top: i64 = tx.conn.query_row(
            "SELECT COALESCE(MAX(sequence), 0) FROM messages WHERE conversation_id = ?1",
            params![conv],
            |r| r.get(0),
        )?;
        // Listed after what was cleared, too, until the server gives its own.
        let seq = top
            .max(super::tombstones::cleared_seq(tx.conn, &conv)?)
            .saturating_add(1);
        let now = chrono::Utc::now().timestamp();
        let c2c = conversation_type == ConversationType::C2C;
        tx.conn.execute(
            "INSERT INTO messages(id, conversation_id, conversation_type, sender, recipient,
                time, sequence, is_out, status, need_receipt, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 'unSend', ?8, ?9)",
            params![
                id,
                conv,
                conversation_type,
                tx.owner,
                to,
                now,
                seq,
                need_read_receipt,
                payload
            ],
        )?;
        let rid = tx.conn.last_insert_rowid();
        insert_receipt_row(tx.conn, (c2c && need_read_receipt).then_some(1))?;
        let facts = MsgFacts {
            rid,
            is_out: true,
            status: MessageStatus::UnSend,
            sequence: seq,
            is_peer_read: false,
        };
        message_changed(tx, &conv, conversation_type, None, facts)?;
        if let Some(m) = load_row(tx.conn, &id)? {
            init_group_counts(tx, &m)?;
        }
        tx.events
            .push(EventKind::MessagesChanged(vec![(conv, id.clone())]));
        require_message(tx.conn, &id)
    })
}

/// Records that the server accepted an `out` message: its sequence and time.
pub(crate) fn mark_message_sent(db: &Db, id: &str, sequence: i64, time: i64) -> Result<Message> {
    check_id("ID", id)?;
    check_seq("sequence", sequence)?;
    check_seq("time", time)?;
    db.write(|tx| {
        let m = load_row(tx.conn, id)?.ok_or_else(|| Error::MessageNotFound(id.into()))?;
        if !m.is_out {
            return Err(Error::invalid("only out messages can be marked sent"));
        }
        let before = require_message(tx.conn, id)?;
        if before.status == MessageStatus::Success {
            // The server's time and sequence are fixed (PROTOCOL.md, Methods).
            if before.sequence == sequence && before.time == time {
                return Ok(before);
            }
            return Err(Error::invalid(format!(
                "message {id} was sent with sequence {} and time {}",
                before.sequence, before.time
            )));
        }
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
        message_changed(
            tx,
            &m.conversation_id,
            m.ctype,
            Some(facts_of(m.rid, &before)),
            MsgFacts {
                rid: m.rid,
                is_out: true,
                status: MessageStatus::Success,
                sequence,
                is_peer_read: before.is_peer_read,
            },
        )?;
        let after = require_message(tx.conn, id)?;
        if before != after {
            tx.events
                .push(EventKind::MessagesChanged(vec![(m.conversation_id, m.id)]));
        }
        Ok(after)
    })
}

fn facts_of(rid: i64, m: &Message) -> MsgFacts {
    MsgFacts {
        rid,
        is_out: m.flow == crate::model::Flow::Out,
        status: m.status,
        sequence: m.sequence,
        is_peer_read: m.is_peer_read,
    }
}

/// Saves messages from the transport (upsert by `ID`); returns how many
/// were saved (a message deleted here is not).
pub(crate) fn save_messages(db: &Db, messages: &[IncomingMessage]) -> Result<usize> {
    if messages.len() > MAX_MESSAGES_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_MESSAGES_PER_CALL} messages a call"
        )));
    }
    db.write(|tx| {
        let mut changed = Vec::new();
        let mut saved = 0;
        for m in messages {
            match upsert_message(tx, m, None)? {
                Some((row, true)) => {
                    saved += 1;
                    changed.push((row.conversation_id, row.id));
                }
                Some(_) => saved += 1,
                // Deleted here: not saved, and not counted.
                None => {}
            }
        }
        if !changed.is_empty() {
            tx.events.push(EventKind::MessagesChanged(changed));
        }
        Ok(saved)
    })
}

/// The message with this ID, if held.
pub(crate) fn find_message(db: &Db, id: &str) -> Result<Option<Message>> {
    check_id("messageID", id)?;
    db.read(|c| load_message(c, id))
}

/// A page of a conversation's messages, walking back from the newest.
pub(crate) fn get_message_list(
    db: &Db,
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
    db.read(|c| {
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
            .query_map(params![conversation_id, seq, time, rid], row_to_message)?
            .take(count as usize + 1)
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

/// Upserts one transport message; `expect_conv` restricts it to one
/// conversation. `None` when it was deleted here (or is history cleared
/// here): it is not saved, nor anything that came with it.
pub(crate) fn upsert_message(
    tx: &mut Tx<'_>,
    m: &IncomingMessage,
    expect_conv: Option<&str>,
) -> Result<Option<(MsgRow, bool)>> {
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
    check_seq("sequence", m.sequence)?;
    check_seq("time", m.time)?;
    let status = m.status.unwrap_or(MessageStatus::Success);
    let is_out = m.from == tx.owner;
    ensure(tx, &conv, ctype)?;
    let before = load_message(tx.conn, &m.id)?;
    let row = match load_row(tx.conn, &m.id)? {
        Some(old) => {
            if old.conversation_id != conv || old.sender != m.from {
                return Err(Error::invalid(format!(
                    "message {} already exists with another conversation or sender",
                    m.id
                )));
            }
            let b = before
                .as_ref()
                .ok_or_else(|| Error::MessageNotFound(m.id.clone()))?;
            // 0 is "not given": a save that leaves them out keeps them.
            let time = if m.time == 0 { b.time } else { m.time };
            let sequence = if m.sequence == 0 {
                b.sequence
            } else {
                m.sequence
            };
            if b.status == MessageStatus::Success && (time != b.time || sequence != b.sequence) {
                return Err(Error::invalid(format!(
                    "message {} has sequence {} and time {} from the server; they never change",
                    m.id, b.sequence, b.time
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
                    time,
                    sequence,
                    status,
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
                // Its receipt information appears: an event, as in groups.
                super::receipts::c2c_receipt_appears(tx, new.rid)?;
            }
            if first_send || became_receipt || new.time != old.time {
                init_group_counts(tx, &new)?;
            }
            if became_receipt {
                flush_early(tx, &new)?;
            }
            new
        }
        None => {
            if super::tombstones::is_hidden(tx.conn, &m.id, &conv, m.sequence, status)? {
                return Ok(None);
            }
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
                    ctype,
                    m.from,
                    m.to,
                    m.time,
                    m.sequence,
                    is_out,
                    status,
                    m.need_read_receipt,
                    payload.unwrap_or_else(|| "{}".to_string()),
                    m.is_peer_read
                ])?;
            insert_receipt_row(tx.conn, c2c_receipt.then_some(1))?;
            let row =
                load_row(tx.conn, &m.id)?.ok_or_else(|| Error::MessageNotFound(m.id.clone()))?;
            init_group_counts(tx, &row)?;
            // A new message's initial counts are not a received receipt.
            tx.receipt_changed.remove(&row.rid);
            flush_early(tx, &row)?;
            row
        }
    };
    if let Some(info) = &m.read_receipt_info {
        let est = Estimate {
            read_count: info.read_count.map(clamp),
            unread_count: info.unread_count.map(clamp),
            peer_read: info.is_peer_read.unwrap_or(false),
        };
        let delivery = super::delivery::Delivery {
            count: info.delivered_count.map(clamp),
            peer: info.is_peer_delivered.unwrap_or(false),
            users: &[],
        };
        if row.need_receipt || !row.is_out {
            merge_held(tx, &row, &est, &[])?;
            let group_ok = row.ctype == ConversationType::C2C
                || super::receipts::group_has_receipts(tx.conn, &row.recipient)?;
            if group_ok && super::delivery::merge_delivery(tx, &row, &delivery)? {
                tx.delivery_changed.insert(row.rid);
            }
        } else {
            // Kept: a later save may say the message needs a receipt.
            merge_early(tx, &row.id, Some(&row.conversation_id), &est, &[], false)?;
            super::early::merge_early_delivery(tx, &row.id, Some(&row.conversation_id), &delivery)?;
        }
    }
    if !m.is_revoked {
        // The owner's delivery ack, once it is sent, needs a receipt and
        // acks are on (a recalled message needs none).
        super::delivery::queue_ack(tx, &row)?;
    }
    if m.is_revoked && !row.recalled {
        // Last: what came with the recall (and was kept for it) counts, then
        // the figures stay as they are.
        tx.conn
            .prepare_cached("UPDATE messages SET recalled = 1 WHERE rid = ?1")?
            .execute(params![row.rid])?;
    }
    let after =
        load_message(tx.conn, &m.id)?.ok_or_else(|| Error::MessageNotFound(m.id.clone()))?;
    let peer_marked = message_changed(
        tx,
        &conv,
        ctype,
        before.as_ref().map(|b| facts_of(row.rid, b)),
        facts_of(row.rid, &after),
    )?;
    // The row is read again only when the read state just marked it read by the peer.
    let changed = match before {
        None => true,
        Some(b) if peer_marked => load_message(tx.conn, &m.id)?.as_ref() != Some(&b),
        Some(b) => after != b,
    };
    Ok(Some((row, changed)))
}

/// Deletes message rows (rowids, a JSON array); their owners forgot the rest.
pub(crate) fn delete_rows(tx: &Tx<'_>, rids_json: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM messages WHERE rid IN (SELECT value FROM json_each(?1))")?
        .execute(params![rids_json])?;
    Ok(())
}

pub(crate) fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}
