//! Offline receipt queries: receipt lists and group member lists (SPEC §3.3).

use rusqlite::params;
use serde::Serialize;

use crate::error::{Error, Result};
use rusqlite::Connection;

use super::unread::INDEXED_UNREAD_PAGE;
use crate::events::Filter;
use crate::model::{check_id, ConversationType, Message};
use crate::storage::db::Db;
use crate::storage::rows::{
    load_message, load_row, row_to_message, MSG_ALL, MSG_IN_LIST, MSG_OF_CONV,
};

/// A page of readers by keyset.
pub(crate) const READ_PAGE: &str =
    "SELECT user_id FROM readers WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3";
/// A page of the audience minus the readers, by keyset.
pub(crate) const UNREAD_PAGE: &str = "SELECT mb.user_id FROM members mb
     WHERE mb.group_id = ?1 AND mb.user_id > ?2
       AND (mb.join_time IS NULL OR mb.join_time <= ?3)
       AND mb.user_id <> ?4
       AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?5 AND r.user_id = mb.user_id)
     ORDER BY mb.user_id LIMIT ?6";

/// Which member list to page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberFilter {
    /// Members known to have read the message (`filter: 0`).
    Read,
    /// The audience minus the readers (`filter: 1`).
    Unread,
}

impl MemberFilter {
    /// From Tencent's numeric filter.
    pub fn from_code(code: i64) -> Result<MemberFilter> {
        match code {
            0 => Ok(MemberFilter::Read),
            1 => Ok(MemberFilter::Unread),
            _ => Err(Error::invalid("filter must be 0 (read) or 1 (unread)")),
        }
    }
    fn tag(self) -> &'static str {
        match self {
            MemberFilter::Read => "r",
            MemberFilter::Unread => "u",
        }
    }
}

/// One page of `getGroupMessageReadMemberList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberPage {
    /// No members remain after this page.
    pub is_completed: bool,
    /// Opaque; pass back for the next page (`""` when completed).
    pub cursor: String,
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// With filter 0.
    #[serde(rename = "readUserIDList", skip_serializing_if = "Option::is_none")]
    pub read_user_id_list: Option<Vec<String>>,
    /// With filter 1.
    #[serde(rename = "unreadUserIDList", skip_serializing_if = "Option::is_none")]
    pub unread_user_id_list: Option<Vec<String>>,
}

fn encode_cursor(f: MemberFilter, last: &str) -> String {
    let mut s = String::with_capacity(2 + last.len() * 2);
    s.push_str(f.tag());
    s.push(':');
    for b in last.as_bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn decode_cursor(f: MemberFilter, c: &str) -> Result<String> {
    let bad = || Error::invalid("cursor is not one this list handed out");
    let hex = c
        .strip_prefix(f.tag())
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(bad)?;
    if hex.len() % 2 != 0 || hex.len() > crate::model::MAX_ID_LEN * 2 {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Current receipt information of up to 100 messages of one conversation.
pub(crate) fn get_message_read_receipt_list(
    db: &Db,
    message_ids: &[String],
) -> Result<Vec<Message>> {
    if message_ids.is_empty() || message_ids.len() > 100 {
        return Err(Error::invalid("messageIDs must hold 1..100 IDs"));
    }
    for id in message_ids {
        check_id("messageID", id)?;
    }
    db.read(|c| {
        let mut out: Vec<Message> = Vec::with_capacity(message_ids.len());
        for id in message_ids {
            let m = load_message(c, id)?.ok_or_else(|| Error::MessageNotFound(id.clone()))?;
            out.push(m);
        }
        if out
            .iter()
            .any(|m| m.conversation_id != out[0].conversation_id)
        {
            return Err(Error::MixedConversations);
        }
        Ok(out)
    })
}

/// A page of the read or unread members of an `out` group message,
/// sorted by user ID, with a keyset cursor.
pub(crate) fn get_group_message_read_member_list(
    db: &Db,
    message_id: &str,
    filter: MemberFilter,
    cursor: &str,
    count: u32,
) -> Result<MemberPage> {
    check_id("messageID", message_id)?;
    if !(1..=100).contains(&count) {
        return Err(Error::invalid("count must be 1..100"));
    }
    let after = if cursor.is_empty() {
        String::new()
    } else {
        decode_cursor(filter, cursor)?
    };
    db.read(|c| {
        let m =
            load_row(c, message_id)?.ok_or_else(|| Error::MessageNotFound(message_id.into()))?;
        if !(m.is_out && m.need_receipt && m.ctype == ConversationType::Group) {
            return Err(Error::ReceiptInfoNotFound(message_id.into()));
        }
        let limit = count as i64 + 1;
        let indexed: bool = c
            .prepare_cached("SELECT unread_indexed FROM receipts WHERE rid = ?1")?
            .query_row(params![m.rid], |r| r.get(0))?;
        let mut ids: Vec<String> = match filter {
            MemberFilter::Read => c
                .prepare_cached(READ_PAGE)?
                .query_map(params![m.rid, after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Unread if indexed => c
                .prepare_cached(INDEXED_UNREAD_PAGE)?
                .query_map(params![m.rid, after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Unread => c
                .prepare_cached(UNREAD_PAGE)?
                .query_map(
                    params![m.recipient, after, m.time, m.sender, m.rid, limit],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?,
        };
        let is_completed = ids.len() <= count as usize;
        ids.truncate(count as usize);
        let cursor = match (is_completed, ids.last()) {
            (false, Some(last)) => encode_cursor(filter, last),
            _ => String::new(),
        };
        let (read, unread) = match filter {
            MemberFilter::Read => (Some(ids), None),
            MemberFilter::Unread => (None, Some(ids)),
        };
        Ok(MemberPage {
            is_completed,
            cursor,
            message_id: message_id.to_string(),
            read_user_id_list: read,
            unread_user_id_list: unread,
        })
    })
}

/// The messages a subscription filter selects, oldest first.
pub(crate) fn messages_for_filter(conn: &Connection, f: &Filter) -> Result<Vec<Message>> {
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
            let list =
                serde_json::to_string(&ids).map_err(|e| Error::Sqlite(e.to_string(), None))?;
            let mut st = conn.prepare(MSG_IN_LIST)?;
            for m in st.query_map(params![list], row_to_message)? {
                out.push(m?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_foreign_input() {
        let c = encode_cursor(MemberFilter::Read, "user-ü'; DROP");
        assert_eq!(
            decode_cursor(MemberFilter::Read, &c).ok().as_deref(),
            Some("user-ü'; DROP")
        );
        assert!(decode_cursor(MemberFilter::Unread, &c).is_err());
        assert!(decode_cursor(MemberFilter::Read, "r:zz").is_err());
        assert!(decode_cursor(MemberFilter::Read, "r:a").is_err());
        assert!(decode_cursor(MemberFilter::Read, "garbage").is_err());
    }
}
