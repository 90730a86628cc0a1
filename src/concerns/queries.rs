//! Offline receipt queries: receipt lists and group member lists (PROTOCOL.md, Methods).

use rusqlite::params;
use serde::Serialize;

use crate::error::{Error, Result};
use rusqlite::Connection;

use super::groups::check_receipts_allowed;
use super::unread::INDEXED_UNREAD_PAGE;
use crate::events::Filter;
use crate::model::{check_id, ConversationType, GroupType, Member, Message};
use crate::storage::db::Db;
use crate::storage::rows::{
    group_type_of, load_delivered, load_message, load_receipt, load_row, row_to_message, MsgRow,
    MSG_ALL, MSG_IN_LIST, MSG_OF_CONV,
};

// The member pages end in a literal LIMIT (the largest page plus one) and
// the caller steps only the rows it wants: a bound LIMIT recompiles the
// statement at every call (see `storage::rows`).

/// A page of the read list (readers in the audience: members or former
/// members by the message's time, or anyone while the members are unknown
/// (`?4` = 0); never the sender), by keyset.
pub(crate) const READ_PAGE: &str = "SELECT r.user_id FROM readers r
     WHERE r.rid = ?1 AND r.user_id > ?2 AND r.user_id <> ?3
       AND (?4 = 0
            OR EXISTS (SELECT 1 FROM members mb WHERE mb.group_id = ?5 AND mb.user_id = r.user_id
                         AND (mb.join_time IS NULL OR mb.join_time <= ?6))
            OR EXISTS (SELECT 1 FROM former_members fm WHERE fm.group_id = ?5 AND fm.user_id = r.user_id
                         AND (fm.join_time IS NULL OR fm.join_time <= ?6)))
     ORDER BY r.user_id LIMIT 101";
/// A page of the read list when every reader row counts and the sender has
/// none: the keyset walk alone (`?3`: the page and one more).
pub(crate) const READ_PAGE_PLAIN: &str =
    "SELECT user_id FROM readers WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3";
/// A page of the read list when every reader row but the sender's counts
/// (`reader_rows` less the sender's row equals `reader_count`): the plain
/// keyset walk, no audience lookups.
pub(crate) const READ_PAGE_ALL: &str = "SELECT user_id FROM readers
     WHERE rid = ?1 AND user_id > ?2 AND user_id <> ?3
     ORDER BY user_id LIMIT 101";
/// The audience still in the group from a keyset, in user ID order (one
/// side of the unread page's merge).
pub(crate) const AUDIENCE_WALK: &str = "SELECT user_id FROM members
     WHERE group_id = ?1 AND user_id > ?2 AND (join_time IS NULL OR join_time <= ?3)
       AND user_id <> ?4
     ORDER BY user_id";
/// A message's readers from a keyset, in user ID order (the other side).
pub(crate) const READERS_WALK: &str =
    "SELECT user_id FROM readers WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id";
/// Who received a message (readers and deliverers) from a keyset, in user
/// ID order, each once (the other side of the undelivered page).
pub(crate) const DELIVERED_WALK: &str =
    "SELECT user_id FROM readers WHERE rid = ?1 AND user_id > ?2
     UNION SELECT user_id FROM deliverers WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id";

fn next_user(rows: &mut rusqlite::Rows<'_>) -> Result<Option<String>> {
    Ok(match rows.next()? {
        Some(r) => Some(r.get(0)?),
        None => None,
    })
}

/// A page of the audience still in the group minus the readers: the two
/// walks above, both in user ID order (SQLite's BINARY order is byte order,
/// as `str`'s is), merged. Every step is a sequential read; an anti-join
/// would look each member up in the readers, and that cost grows with the
/// tables (measured: page cost at 100,000 members vs 200).
/// `others` is the walk taken out: the readers ([`READERS_WALK`]), or who
/// received it ([`DELIVERED_WALK`]) for the undelivered page.
fn unread_page(
    c: &Connection,
    m: &MsgRow,
    after: &str,
    limit: usize,
    others: &str,
) -> Result<Vec<String>> {
    let mut walk = c.prepare_cached(AUDIENCE_WALK)?;
    let mut members = walk.query(params![m.recipient, after, m.time, m.sender])?;
    let mut rwalk = c.prepare_cached(others)?;
    let mut readers = rwalk.query(params![m.rid, after])?;
    let mut reader = next_user(&mut readers)?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(user) = next_user(&mut members)? else {
            break;
        };
        while reader.as_deref().is_some_and(|r| r < user.as_str()) {
            reader = next_user(&mut readers)?;
        }
        if reader.as_deref() != Some(user.as_str()) {
            out.push(user);
        }
    }
    Ok(out)
}

/// Which member list to page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberFilter {
    /// Members known to have read the message (`filter: 0`).
    Read,
    /// The audience minus the readers (`filter: 1`).
    Unread,
    /// Members known to have received it, readers included (`filter: 2`,
    /// receiptdb's).
    Delivered,
    /// The audience minus those who received it (`filter: 3`, receiptdb's).
    Undelivered,
}

impl MemberFilter {
    /// From Tencent's numeric filter.
    pub fn from_code(code: i64) -> Result<MemberFilter> {
        match code {
            0 => Ok(MemberFilter::Read),
            1 => Ok(MemberFilter::Unread),
            2 => Ok(MemberFilter::Delivered),
            3 => Ok(MemberFilter::Undelivered),
            _ => Err(Error::invalid(
                "filter must be 0 (read), 1 (unread), 2 (delivered) or 3 (undelivered)",
            )),
        }
    }
    fn tag(self) -> &'static str {
        match self {
            MemberFilter::Read => "r",
            MemberFilter::Unread => "u",
            MemberFilter::Delivered => "d",
            MemberFilter::Undelivered => "n",
        }
    }
}

/// A reader and, when the server said, when they read (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderAt {
    /// The reader.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// When they read it; left out while unknown.
    #[serde(rename = "readTime", skip_serializing_if = "Option::is_none")]
    pub read_time: Option<i64>,
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
    /// The store's counts show the server knows more than the lists can
    /// name (`readCount` above the read list's size, or `unreadCount` below
    /// the unread list's): the same on every page.
    pub is_stale: bool,
    /// With filter 0.
    #[serde(rename = "readUserIDList", skip_serializing_if = "Option::is_none")]
    pub read_user_id_list: Option<Vec<String>>,
    /// With filter 1.
    #[serde(rename = "unreadUserIDList", skip_serializing_if = "Option::is_none")]
    pub unread_user_id_list: Option<Vec<String>>,
    /// With filter 0 and `withReadTime`: each reader of the page with the
    /// time they read it, when known.
    #[serde(rename = "readMemberList", skip_serializing_if = "Option::is_none")]
    pub read_member_list: Option<Vec<ReaderAt>>,
    /// With filter 2.
    #[serde(
        rename = "deliveredUserIDList",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivered_user_id_list: Option<Vec<String>>,
    /// With filter 3.
    #[serde(
        rename = "undeliveredUserIDList",
        skip_serializing_if = "Option::is_none"
    )]
    pub undelivered_user_id_list: Option<Vec<String>>,
}

fn hex(out: &mut String, s: &str) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in s.as_bytes() {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

fn unhex(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 || hex.len() > crate::model::MAX_ID_LEN * 2 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = hex
        .as_bytes()
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// A cursor names its filter, its message and the last user of the page.
fn encode_cursor(f: MemberFilter, message_id: &str, last: &str) -> String {
    encode_tagged(f.tag(), message_id, last)
}

/// A cursor of a list tagged `tag`, bound to `subject` (a message or a group).
fn encode_tagged(tag: &str, subject: &str, last: &str) -> String {
    let mut s = String::with_capacity(3 + (subject.len() + last.len()) * 2);
    s.push_str(tag);
    s.push(':');
    hex(&mut s, subject);
    s.push(':');
    hex(&mut s, last);
    s
}

/// The last user of the page a cursor ends; another message's or filter's
/// cursor is `INVALID_PARAMS`.
fn decode_cursor(f: MemberFilter, message_id: &str, c: &str) -> Result<String> {
    decode_tagged(f.tag(), message_id, c)
}

/// The last key of the page a cursor of `tag` for `subject` ends.
fn decode_tagged(tag: &str, subject: &str, c: &str) -> Result<String> {
    let bad = || Error::invalid("cursor is not one this list handed out");
    let rest = c
        .strip_prefix(tag)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(bad)?;
    let (msg, last) = rest.split_once(':').ok_or_else(bad)?;
    if unhex(msg).as_deref() != Some(subject) {
        return Err(bad());
    }
    unhex(last).ok_or_else(bad)
}

/// A group as the store holds it (`getGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    /// The group.
    #[serde(rename = "groupID")]
    pub group_id: String,
    /// Its type, as `setGroup` gave it.
    pub group_type: GroupType,
    /// How many members it has now.
    pub member_count: u64,
    /// Whether its messages may ask for read receipts (receipts on, and its
    /// type among the configured ones).
    pub receipts_enabled: bool,
}

/// One page of `getGroupMemberList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMemberPage {
    /// The group.
    #[serde(rename = "groupID")]
    pub group_id: String,
    /// Members in user ID order, each with its join time when known.
    pub member_list: Vec<Member>,
    /// Opaque; pass back for the next page (`""` when completed).
    pub cursor: String,
    /// No members remain after this page.
    pub is_completed: bool,
}

/// The group `group_id`, or `None` when the store was never told of it.
pub(crate) fn get_group(db: &Db, group_id: &str) -> Result<Option<GroupInfo>> {
    check_id("groupID", group_id)?;
    db.read(|c| {
        let Some(group_type) = group_type_of(c, group_id)? else {
            return Ok(None);
        };
        let member_count: i64 = c
            .prepare_cached("SELECT count(*) FROM members WHERE group_id = ?1")?
            .query_row(params![group_id], |r| r.get(0))?;
        let receipts_enabled = check_receipts_allowed(c, ConversationType::Group, group_id).is_ok();
        Ok(Some(GroupInfo {
            group_id: group_id.to_string(),
            group_type,
            member_count: member_count.max(0) as u64,
            receipts_enabled,
        }))
    })
}

/// A page of the group's members after the cursor's, by keyset.
const GROUP_MEMBER_PAGE: &str = "SELECT user_id, join_time FROM members
     WHERE group_id = ?1 AND user_id > ?2 ORDER BY user_id LIMIT 101";

/// One page of a known group's members (`count` 1..100), in user ID order.
pub(crate) fn get_group_member_list(
    db: &Db,
    group_id: &str,
    cursor: &str,
    count: u32,
) -> Result<GroupMemberPage> {
    check_id("groupID", group_id)?;
    if !(1..=100).contains(&count) {
        return Err(Error::invalid("count must be 1..100"));
    }
    let after = if cursor.is_empty() {
        String::new()
    } else {
        decode_tagged("g", group_id, cursor)?
    };
    db.read(|c| {
        if group_type_of(c, group_id)?.is_none() {
            return Err(Error::invalid(format!(
                "unknown group {group_id:?}: call setGroup first"
            )));
        }
        let mut members: Vec<Member> = c
            .prepare_cached(GROUP_MEMBER_PAGE)?
            .query_map(params![group_id, after], |r| {
                Ok(Member {
                    user_id: r.get(0)?,
                    join_time: r.get(1)?,
                })
            })?
            .take(count as usize + 1)
            .collect::<rusqlite::Result<_>>()?;
        let is_completed = members.len() <= count as usize;
        members.truncate(count as usize);
        let cursor = match (is_completed, members.last()) {
            (false, Some(last)) => encode_tagged("g", group_id, &last.user_id),
            _ => String::new(),
        };
        Ok(GroupMemberPage {
            group_id: group_id.to_string(),
            member_list: members,
            cursor,
            is_completed,
        })
    })
}

/// Current receipt information of up to 100 messages of one conversation.
pub(crate) fn get_message_read_receipt_list(
    db: &Db,
    message_ids: &[String],
    with_delivery: bool,
    with_read_time: bool,
) -> Result<Vec<Message>> {
    crate::model::check_message_ids(message_ids, 100)?;
    db.read(|c| {
        let mut out: Vec<Message> = Vec::with_capacity(message_ids.len());
        let mut seen = std::collections::HashSet::new();
        for id in message_ids {
            // Each message once, in the order first given.
            if !seen.insert(id.as_str()) {
                continue;
            }
            let m = load_message(c, id)?.ok_or_else(|| Error::MessageNotFound(id.clone()))?;
            out.push(m);
        }
        let Some(first) = out.first() else {
            return Ok(out);
        };
        if out
            .iter()
            .any(|m| m.conversation_id != first.conversation_id)
        {
            return Err(Error::MixedConversations);
        }
        if first.conversation_type == ConversationType::Group {
            require_group_receipts(c, &first.to)?;
        }
        if with_delivery || with_read_time {
            for m in &mut out {
                let Some(info) = m.read_receipt_info.as_mut() else {
                    continue;
                };
                let Some(row) = load_row(c, &m.id)? else {
                    continue;
                };
                if with_delivery {
                    let d = load_delivered(c, row.rid)?;
                    info.delivered_count = Some(d.count.max(0) as u64);
                    info.is_peer_delivered = Some(d.peer);
                }
                if with_read_time && row.ctype == ConversationType::C2C {
                    info.read_time = c
                        .prepare_cached("SELECT peer_read_time FROM receipts WHERE rid = ?1")?
                        .query_row(params![row.rid], |r| r.get(0))?;
                }
            }
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
    get_group_message_read_member_list_with(db, message_id, filter, cursor, count, false)
}

/// [`get_group_message_read_member_list`]; with `read_times`, a read page
/// also lists each reader with their read time (`readMemberList`).
pub(crate) fn get_group_message_read_member_list_with(
    db: &Db,
    message_id: &str,
    filter: MemberFilter,
    cursor: &str,
    count: u32,
    read_times: bool,
) -> Result<MemberPage> {
    check_id("messageID", message_id)?;
    if !(1..=100).contains(&count) {
        return Err(Error::invalid("count must be 1..100"));
    }
    let after = if cursor.is_empty() {
        String::new()
    } else {
        decode_cursor(filter, message_id, cursor)?
    };
    db.read(|c| {
        // One statement for the message, its receipt columns, its group's
        // type (the type check and `known` below) and its reader rows.
        let head = db
            .page_head(c, message_id, filter == MemberFilter::Read)?
            .ok_or_else(|| Error::MessageNotFound(message_id.into()))?;
        let m = &head.row;
        let group_type = head.group_type;
        if let Some(t) = group_type.filter(|t| !t.supports_receipts()) {
            return Err(Error::UnsupportedGroupType(t.as_str().into()));
        }
        if !(m.is_out && m.need_receipt && m.ctype == ConversationType::Group) {
            return Err(Error::ReceiptInfoNotFound(message_id.into()));
        }
        if m.recalled {
            // Its figures stay as they were while membership moves on: lists
            // of today's members would not tell the same story.
            return Err(Error::MessageRecalled(message_id.into()));
        }
        let limit = count as usize + 1;
        let rec = match head.receipt {
            Some(rec) => rec,
            None => load_receipt(c, m.rid)?,
        };
        let known = group_type.is_some();
        // Counts and lists tell one story: no unread list when none is unread.
        let no_unread = rec.state.unread_count == Some(0);
        let unread_len = if no_unread { 0 } else { rec.local.unwrap_or(0) };
        let is_stale = rec.state.read_count > rec.reader_count
            || rec.state.unread_count.is_some_and(|u| u < unread_len);
        let indexed = rec.indexed;
        // Every reader row but the sender's counts: the plain keyset walk.
        let sender_row = head.sender_row.unwrap_or(true);
        let all_count = head
            .reader_rows
            .is_some_and(|n| n - i64::from(sender_row) == rec.reader_count);
        let mut ids: Vec<String> = match filter {
            MemberFilter::Read if all_count && !sender_row => c
                .prepare_cached(READ_PAGE_PLAIN)?
                .query_map(params![m.rid, after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Read if all_count => c
                .prepare_cached(READ_PAGE_ALL)?
                .query_map(params![m.rid, after, m.sender], |r| r.get(0))?
                .take(limit)
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Read => c
                .prepare_cached(READ_PAGE)?
                .query_map(
                    params![m.rid, after, m.sender, known, m.recipient, m.time],
                    |r| r.get(0),
                )?
                .take(limit)
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Unread if no_unread => Vec::new(),
            MemberFilter::Unread if indexed => c
                .prepare_cached(INDEXED_UNREAD_PAGE)?
                .query_map(params![m.rid, after], |r| r.get(0))?
                .take(limit)
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Unread => unread_page(c, m, &after, limit, READERS_WALK)?,
            MemberFilter::Delivered => c
                .prepare_cached(super::delivery::DELIVERED_PAGE)?
                .query_map(
                    params![m.rid, after, m.sender, known, m.recipient, m.time],
                    |r| r.get(0),
                )?
                .take(limit)
                .collect::<rusqlite::Result<_>>()?,
            MemberFilter::Undelivered => unread_page(c, m, &after, limit, DELIVERED_WALK)?,
        };
        let is_stale = match filter {
            MemberFilter::Read | MemberFilter::Unread => is_stale,
            // The server knows of more who received it than the list can name.
            // (The store's own count as of its last delivery merge, or the
            // readers it counts, whichever is more: no recount a page.)
            MemberFilter::Delivered | MemberFilter::Undelivered => {
                load_delivered(c, m.rid)?.count > super::delivery::local_count(c, m.rid)?
            }
        };
        let is_completed = ids.len() <= count as usize;
        ids.truncate(count as usize);
        let cursor = match (is_completed, ids.last()) {
            (false, Some(last)) => encode_cursor(filter, message_id, last),
            _ => String::new(),
        };
        let read_member_list = match (read_times, filter) {
            (true, MemberFilter::Read) => {
                let mut st = c.prepare_cached(
                    "SELECT read_time FROM readers WHERE rid = ?1 AND user_id = ?2",
                )?;
                let mut v = Vec::with_capacity(ids.len());
                for id in &ids {
                    v.push(ReaderAt {
                        user_id: id.clone(),
                        read_time: st.query_row(params![m.rid, id], |r| r.get(0))?,
                    });
                }
                Some(v)
            }
            _ => None,
        };
        let mut page = MemberPage {
            is_completed,
            cursor,
            message_id: message_id.to_string(),
            is_stale,
            read_member_list,
            read_user_id_list: None,
            unread_user_id_list: None,
            delivered_user_id_list: None,
            undelivered_user_id_list: None,
        };
        *match filter {
            MemberFilter::Read => &mut page.read_user_id_list,
            MemberFilter::Unread => &mut page.unread_user_id_list,
            MemberFilter::Delivered => &mut page.delivered_user_id_list,
            MemberFilter::Undelivered => &mut page.undelivered_user_id_list,
        } = Some(ids);
        Ok(page)
    })
}

/// Fails with `UNSUPPORTED_GROUP_TYPE` for a Community or AVChatRoom group.
fn require_group_receipts(c: &Connection, group_id: &str) -> Result<()> {
    match group_type_of(c, group_id)? {
        Some(t) if !t.supports_receipts() => Err(Error::UnsupportedGroupType(t.as_str().into())),
        _ => Ok(()),
    }
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
            let list = crate::storage::json_list(&ids)?;
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
        let c = encode_cursor(MemberFilter::Read, "m1", "user-ü'; DROP");
        assert_eq!(
            decode_cursor(MemberFilter::Read, "m1", &c).ok().as_deref(),
            Some("user-ü'; DROP")
        );
        assert!(decode_cursor(MemberFilter::Unread, "m1", &c).is_err());
        assert!(decode_cursor(MemberFilter::Read, "m2", &c).is_err());
        assert!(decode_cursor(MemberFilter::Read, "m1", "r:zz").is_err());
        assert!(decode_cursor(MemberFilter::Read, "m1", "r:6d31:a").is_err());
        assert!(decode_cursor(MemberFilter::Read, "m1", "garbage").is_err());
        // The text form is fixed (cursors outlive a release): lowercase hex.
        assert_eq!(
            encode_cursor(MemberFilter::Read, "m1", "\u{ff}z"),
            "r:6d31:c3bf7a"
        );
        // Not hex digits (a sign, a space) and bytes that are not UTF-8.
        assert!(decode_cursor(MemberFilter::Read, "m1", "r:6d31:+a").is_err());
        assert!(decode_cursor(MemberFilter::Read, "m1", "r:6d31: a").is_err());
        assert!(decode_cursor(MemberFilter::Read, "m1", "r:6d31:ff").is_err());
    }
}
