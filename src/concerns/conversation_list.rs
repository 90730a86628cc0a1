//! The conversation list (`getConversationList`, PROTOCOL.md, Methods): the
//! conversations holding messages by their last message, by keyset, then
//! the groups set up without messages, by ID. Reads only.

use rusqlite::{params, Connection};

use super::conversations::{load_conversation, Conversation, ConversationPage};
use crate::error::{Error, Result};
use crate::model::{parse_conversation_id, ConversationType};
use crate::storage::db::Db;
use crate::storage::rows::{
    conv_page_row, is_private, ConvPageRow, CONV_FIRST, CONV_OLDER, CONV_SAME_KEY, CONV_SAME_TIME,
};

/// Longest cursor `getConversationList` gives: two integers, two dots and a conversation ID.
const MAX_CURSOR_LEN: usize = 2 * 20 + 2 + crate::model::MAX_CONVERSATION_ID_LEN;

/// The cursor after a conversation: its last message's time and sequence, and its ID.
fn encode_cursor(time: i64, seq: i64, conv: &str) -> String {
    format!("{time}.{seq}.{conv}")
}

/// The cursor after a conversation without messages (listed last, by ID).
fn encode_empty_cursor(conv: &str) -> String {
    format!("{EMPTY_CURSOR_PREFIX}{conv}")
}

/// Marks a cursor of the second part of the list (conversations without messages).
const EMPTY_CURSOR_PREFIX: &str = "e.";

/// Where a page starts.
enum After {
    /// A conversation with messages: its last message's time, sequence, and its ID.
    Last(i64, i64, String),
    /// A conversation without messages (only those follow).
    Empty(String),
}

fn decode_cursor(c: &str) -> Result<After> {
    let bad = || Error::invalid("cursor is not one getConversationList gave");
    if let Some(conv) = c.strip_prefix(EMPTY_CURSOR_PREFIX) {
        // Only groups are listed without messages.
        match parse_conversation_id(conv) {
            Ok((ConversationType::Group, _)) => {}
            _ => return Err(bad()),
        }
        return Ok(After::Empty(conv.to_string()));
    }
    let mut it = c.splitn(3, '.');
    let t = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let s = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let conv = it.next().ok_or_else(bad)?;
    parse_conversation_id(conv).map_err(|_| bad())?;
    Ok(After::Last(t, s, conv.to_string()))
}

/// The first `want` rows of a page query (each stops at `LIMIT 101`, so
/// `want` must not exceed 101; the statement stays prepared between calls).
fn page_rows(
    conn: &Connection,
    sql: &str,
    p: &[&dyn rusqlite::ToSql],
    want: usize,
) -> Result<Vec<ConvPageRow>> {
    let mut st = conn.prepare_cached(sql)?;
    let v = st
        .query_map(p, conv_page_row)?
        .take(want)
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// `getConversationList`: conversations holding messages, newest last
/// message first, by keyset; then the groups set up without messages, by ID.
pub(crate) fn get_conversation_list(
    db: &Db,
    cursor: Option<&str>,
    count: Option<u32>,
) -> Result<ConversationPage> {
    let count = count.unwrap_or(15);
    if !(1..=100).contains(&count) {
        return Err(Error::invalid("count must be 1..100"));
    }
    let after = match cursor.filter(|c| !c.is_empty()) {
        Some(c) if c.len() > MAX_CURSOR_LEN => return Err(Error::invalid("cursor is too long")),
        Some(c) => Some(decode_cursor(c)?),
        None => None,
    };
    // One more than the page, to know whether it is the last; at most 101.
    let want = count as usize + 1;
    db.read(|c| {
        let mut ks: Vec<ConvPageRow> = match &after {
            None => page_rows(c, CONV_FIRST, &[], want)?,
            Some(After::Last(t, s, id)) => {
                let mut v = page_rows(c, CONV_SAME_KEY, &[t, s, id], want)?;
                if v.len() < want {
                    v.extend(page_rows(c, CONV_SAME_TIME, &[t, s], want - v.len())?);
                }
                if v.len() < want {
                    v.extend(page_rows(c, CONV_OLDER, &[t], want - v.len())?);
                }
                v
            }
            Some(After::Empty(_)) => Vec::new(),
        };
        // Then the groups set up without messages, by conversation ID.
        let mut empty: Vec<String> = Vec::new();
        if ks.len() < want {
            let from = match &after {
                Some(After::Empty(conv)) => conv.as_str(),
                _ => "",
            };
            empty = empty_groups(c, from, want - ks.len())?;
        }
        let is_completed = ks.len() + empty.len() <= count as usize;
        ks.truncate(count as usize);
        empty.truncate(count as usize - ks.len());
        let cursor = match (empty.last(), ks.last()) {
            (Some(conv), _) => encode_empty_cursor(conv),
            (None, Some(r)) => encode_cursor(r.last_time, r.last_seq, &r.conversation_id),
            (None, None) => String::new(),
        };
        let mut conversation_list = ks
            .into_iter()
            .map(|r| {
                let (ctype, _) = parse_conversation_id(&r.conversation_id)?;
                Ok(Conversation {
                    conversation_type: ctype,
                    unread_count: r.unread_count.max(0) as u64,
                    read_sequence: r.read_seq,
                    peer_read_sequence: (ctype == ConversationType::C2C).then_some(r.peer_read_seq),
                    marked_unread: r.marked,
                    private_reading: is_private(c, &r.conversation_id)?,
                    last_message: Some(r.last_message),
                    conversation_id: r.conversation_id,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for conv in empty {
            conversation_list.push(load_conversation(c, &conv)?);
        }
        Ok(ConversationPage {
            conversation_list,
            cursor,
            is_completed,
        })
    })
}

/// The conversations of groups set up that hold no message, after `from`
/// (a conversation ID, `""` for the first), in ID order; at most `want`.
pub(crate) const EMPTY_GROUPS: &str = "SELECT 'GROUP' || g.group_id FROM groups g
     WHERE g.group_id > ?1
       AND NOT EXISTS (SELECT 1 FROM conversations c
                       WHERE c.conversation_id = 'GROUP' || g.group_id AND c.last_rid IS NOT NULL)
     ORDER BY g.group_id LIMIT 101";

fn empty_groups(conn: &Connection, from: &str, want: usize) -> Result<Vec<String>> {
    // Group IDs order as their conversation IDs do (one common prefix).
    let after = from.strip_prefix("GROUP").unwrap_or("");
    let mut st = conn.prepare_cached(EMPTY_GROUPS)?;
    let v = st
        .query_map(params![after], |r| r.get(0))?
        .take(want)
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}
