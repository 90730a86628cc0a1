//! The unread side of a group message, in one place: its `local_unread`
//! estimate (|audience| − |readers in audience|), the `unread_count`
//! min-register taking that estimate in, and the index of unread members.
//! Every write to these three goes through here, so the invariants below
//! hold after each call:
//!
//! - `local_unread` is `NULL` while the group's members are unknown, else
//!   exactly |audience| − |readers in audience| (audience: members by the
//!   message's time, not its sender);
//! - once the message is sent, `unread_count` ≤ `local_unread` (a min-register:
//!   it never rises);
//! - when `unread_indexed` is 1, `unread_members` holds exactly the audience
//!   minus the readers.
//!
//! The index:
//! The unread list is audience − readers. Paging it with an anti-join costs a
//! lookup per member skipped, which grows as readers get dense (at 99% read, a
//! page of 100 skips ~10,000 readers). Once a message with a large audience is
//! at most 5% unread, its unread members are written out once and then kept
//! in step with readers and membership, so a page is a plain keyset seek.

use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

use crate::error::Result;
use crate::lattice::min_reg;
use crate::model::{conversation_id, ConversationType, MessageStatus};
use crate::storage::db::Tx;
use crate::storage::rows::{group_type_of, load_receipt_rows_of_conversation, MsgRow};
/// Index once at most 1 / `UNREAD_FRACTION` of the audience is unread.
const UNREAD_FRACTION: i64 = 20;

/// A page of indexed unread members, by keyset.
pub(crate) const INDEXED_UNREAD_PAGE: &str =
    "SELECT user_id FROM unread_members WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT 101";

/// Builds the index for a message once it is big and mostly read; returns
/// whether it did.
pub(crate) fn maybe_build(
    tx: &Tx<'_>,
    m: &MsgRow,
    local: Option<i64>,
    readers: i64,
    indexed: bool,
) -> Result<bool> {
    if !needs_build(tx, local, readers, indexed) {
        return Ok(false);
    }
    if local == Some(0) {
        // Wholly read: the list is empty, and an unindexed message holds no
        // rows (the invariant above), so the anti-join over every member
        // (the most of a batch that reads a big group's message) would add
        // nothing; only the flag changes.
        mark_indexed(tx, m.rid)?;
    } else {
        rebuild(tx, m)?;
    }
    Ok(true)
}

fn mark_indexed(tx: &Tx<'_>, rid: i64) -> Result<()> {
    tx.conn
        .prepare_cached("UPDATE receipts SET unread_indexed = 1 WHERE rid = ?1")?
        .execute(params![rid])?;
    Ok(())
}

/// Whether [`maybe_build`] would build: the message is not indexed yet, its
/// audience is big and at most 1 / `UNREAD_FRACTION` of it is unread.
pub(crate) fn needs_build(tx: &Tx<'_>, local: Option<i64>, readers: i64, indexed: bool) -> bool {
    let Some(unread) = local else {
        return false;
    };
    let audience = unread + readers;
    !(indexed || audience < tx.unread_index_min || unread * UNREAD_FRACTION > audience)
}

/// (Re)writes a message's unread members from its audience and readers.
pub(crate) fn rebuild(tx: &Tx<'_>, m: &MsgRow) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM unread_members WHERE rid = ?1")?
        .execute(params![m.rid])?;
    tx.conn
        .prepare_cached(
            "INSERT INTO unread_members(rid, user_id)
             SELECT ?1, mb.user_id FROM members mb
             WHERE mb.group_id = ?2 AND (mb.join_time IS NULL OR mb.join_time <= ?3)
               AND mb.user_id <> ?4
               AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?1 AND r.user_id = mb.user_id)",
        )?
        .execute(params![m.rid, m.recipient, m.time, m.sender])?;
    mark_indexed(tx, m.rid)
}

/// New readers of an indexed message are no longer unread.
pub(crate) fn readers_added(tx: &Tx<'_>, rid: i64, list: &ReaderList<'_>) -> Result<()> {
    let sql = if list.ids.len() == 1 {
        "DELETE FROM unread_members WHERE rid = ?1 AND user_id = ?2"
    } else {
        "DELETE FROM unread_members WHERE rid = ?1 AND user_id IN (SELECT value FROM json_each(?2))"
    };
    tx.conn
        .prepare_cached(sql)?
        .execute(params![rid, list.arg])?;
    Ok(())
}

/// The shared parts of the [`NEW_READERS`] variants (`?1` rid, `?2` the
/// list, `?3` group, `?4` message time, `?5` sender, `?6` members known);
/// the head names where the list's IDs come from (`j.value`).
macro_rules! new_readers_head {
    ($from:literal) => {
        concat!(
            "SELECT COALESCE(SUM(mb.user_id IS NOT NULL), 0),
            COALESCE(SUM(?6 = 0 OR mb.user_id IS NOT NULL OR fm.user_id IS NOT NULL), 0)
         FROM ",
            $from,
            " j "
        )
    };
}
macro_rules! new_readers_head_no_former {
    () => {
        "SELECT COALESCE(SUM(mb.user_id IS NOT NULL), 0),
            COALESCE(SUM(?6 = 0 OR mb.user_id IS NOT NULL), 0)
         FROM json_each(?2) j "
    };
}
macro_rules! new_readers_members {
    () => {
        "LEFT JOIN members mb ON mb.group_id = ?3 AND mb.user_id = j.value
                             AND (mb.join_time IS NULL OR mb.join_time <= ?4) "
    };
}
macro_rules! new_readers_former {
    () => {
        "LEFT JOIN former_members fm ON fm.group_id = ?3 AND fm.user_id = j.value
                             AND (fm.join_time IS NULL OR fm.join_time <= ?4) "
    };
}

/// Whether a message (`?1`) has no reader rows yet, and whether its group
/// (`?2`) never lost a member: which [`NEW_READERS`] variant fits.
pub(crate) const LEAN_CHECK: &str = "SELECT reader_rows = 0,
        NOT EXISTS (SELECT 1 FROM former_members WHERE group_id = ?2)
     FROM receipts WHERE rid = ?1";

/// Of a JSON list of distinct readers (`?2`), the new ones (not yet readers, not the
/// sender) counted two ways, in one pass: those in the unread audience
/// (current members by the message's time), and those in the read audience
/// (PROTOCOL.md, Audience: members or former members by the message's time, or anyone
/// while the group's members are unknown (`?6` = 0)). Run before inserting them.
pub(crate) const NEW_READERS: &str = concat!(
    new_readers_head!("json_each(?2)"),
    "LEFT JOIN readers r ON r.rid = ?1 AND r.user_id = j.value ",
    new_readers_members!(),
    new_readers_former!(),
    "WHERE r.user_id IS NULL AND j.value <> ?5"
);
/// [`NEW_READERS`] for a message with no reader rows yet: every reader in
/// the list is new, so no lookup among its readers.
pub(crate) const NEW_READERS_FIRST: &str = concat!(
    new_readers_head!("json_each(?2)"),
    new_readers_members!(),
    new_readers_former!(),
    "WHERE j.value <> ?5"
);
/// [`NEW_READERS_FIRST`] for one reader, `?2` the ID itself: no JSON to
/// parse (one reader a notification is the common push). Run after its
/// insert added the reader row (which says it is new: no lookup among the
/// readers, and none among the members when it was not new).
pub(crate) const NEW_READER_ONE: &str = concat!(
    new_readers_head!("(SELECT ?2 AS value)"),
    new_readers_members!(),
    new_readers_former!(),
    "WHERE j.value <> ?5"
);
/// [`NEW_READERS`] for a group that never lost a member: no lookup among
/// former members.
pub(crate) const NEW_READERS_NO_FORMER: &str = concat!(
    new_readers_head_no_former!(),
    "LEFT JOIN readers r ON r.rid = ?1 AND r.user_id = j.value ",
    new_readers_members!(),
    "WHERE r.user_id IS NULL AND j.value <> ?5"
);
/// Both of the above: a first list of readers in a group that never lost a
/// member (a batch of new messages' readers: two lookups a reader fewer).
pub(crate) const NEW_READERS_FIRST_NO_FORMER: &str = concat!(
    new_readers_head_no_former!(),
    new_readers_members!(),
    "WHERE j.value <> ?5"
);

/// Below this many readers in a list, [`NEW_READERS`] as it is: picking a
/// leaner variant costs a lookup of its own.
const LEAN_FROM: usize = 32;

/// The receipt messages of a group with their unread-side columns.
pub(crate) const GROUP_RECEIPT_MESSAGES: &str =
    "SELECT m.rid, m.time, m.sender, m.status, r.local_unread, r.reader_count, r.read_count,
            r.unread_count, r.unread_indexed
     FROM messages m JOIN receipts r ON r.rid = m.rid
     WHERE m.conversation_id = ?1 AND m.is_out = 1 AND m.need_receipt = 1 AND m.recalled = 0";

/// The readers of a group's receipt messages.
const GROUP_READERS: &str =
    "SELECT r.rid, r.user_id FROM messages m JOIN readers r ON r.rid = m.rid
     WHERE m.conversation_id = ?1 AND m.is_out = 1 AND m.need_receipt = 1 AND m.recalled = 0";

/// |readers in the read audience| of a group message: its read list's size.
pub(crate) fn read_audience_count(
    conn: &Connection,
    group_id: &str,
    time: i64,
    sender: &str,
    rid: i64,
) -> Result<i64> {
    let known = group_type_of(conn, group_id)?.is_some();
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM readers r WHERE r.rid = ?1 AND r.user_id <> ?4
               AND (?5 = 0
                    OR EXISTS (SELECT 1 FROM members mb WHERE mb.group_id = ?2 AND mb.user_id = r.user_id
                                 AND (mb.join_time IS NULL OR mb.join_time <= ?3))
                    OR EXISTS (SELECT 1 FROM former_members fm WHERE fm.group_id = ?2 AND fm.user_id = r.user_id
                                 AND (fm.join_time IS NULL OR fm.join_time <= ?3)))",
        )?
        .query_row(params![rid, group_id, time, sender, known], |r| r.get(0))?)
}

/// |audience| − |readers in audience| of a group message, or `None` when the
/// group's members are unknown.
pub(crate) fn local_unread(
    conn: &Connection,
    group_id: &str,
    time: i64,
    sender: &str,
    rid: i64,
) -> Result<Option<i64>> {
    if group_type_of(conn, group_id)?.is_none() {
        return Ok(None);
    }
    let n = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM members m
             WHERE m.group_id = ?1 AND (m.join_time IS NULL OR m.join_time <= ?2)
               AND m.user_id <> ?3
               AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?4 AND r.user_id = m.user_id)",
        )?
        .query_row(params![group_id, time, sender, rid], |r| r.get(0))?;
    Ok(Some(n))
}

/// Recounts a group receipt message's local unread estimate from its
/// audience. Once the message is sent, `unread_count` takes the min with it
/// (it is unknown, the top, until the server's time fixes the audience).
pub(crate) fn init_group_counts(tx: &mut Tx<'_>, m: &MsgRow) -> Result<()> {
    if !(m.is_out && m.need_receipt && m.ctype == ConversationType::Group) || m.recalled {
        return Ok(());
    }
    let local = local_unread(tx.conn, &m.recipient, m.time, &m.sender, m.rid)?;
    let readers = read_audience_count(tx.conn, &m.recipient, m.time, &m.sender, m.rid)?;
    let (old, indexed, old_read, old_readers): (Option<i64>, bool, i64, i64) = tx
        .conn
        .prepare_cached(
            "SELECT unread_count, unread_indexed, read_count, reader_count FROM receipts WHERE rid = ?1",
        )?
        .query_row(params![m.rid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    if indexed {
        rebuild(tx, m)?;
    }
    let new = if !m.status.audience_fixed() {
        old
    } else {
        min_reg(old, local)
    };
    let read = old_read.max(readers);
    tx.conn
        .prepare_cached(
            "UPDATE receipts SET local_unread = ?2, unread_count = ?3, read_count = ?4,
                reader_count = ?5 WHERE rid = ?1",
        )?
        .execute(params![m.rid, local, new, read, readers])?;
    if new != old || read != old_read || readers != old_readers {
        tx.receipt_changed.insert(m.rid);
    }
    Ok(())
}

/// One member's change: their current join time before and after (`None`:
/// not a member; `Some(None)`: member since the beginning), and their
/// former-member join time before the change.
#[derive(Debug, Clone)]
pub(crate) struct MemberChange {
    pub user: String,
    pub before: Option<Option<i64>>,
    pub after: Option<Option<i64>>,
    pub former: Option<Option<i64>>,
}

/// The earliest time from which a join time places a user in an audience
/// (`None`: not at all).
fn threshold(jt: Option<Option<i64>>) -> Option<i64> {
    jt.map(|j| j.unwrap_or(i64::MIN))
}

fn min_threshold(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn within(t: i64, thr: Option<i64>) -> i64 {
    i64::from(thr.is_some_and(|v| v <= t))
}

impl MemberChange {
    /// In the unread audience (a current member) of a message at `t`, before and after.
    fn unread_delta(&self, t: i64) -> i64 {
        within(t, threshold(self.after)) - within(t, threshold(self.before))
    }
    /// In the read audience (a member or former member) of a message at `t`:
    /// leaving keeps a read, so it only grows.
    fn read_delta(&self, t: i64) -> i64 {
        let before = min_threshold(threshold(self.before), threshold(self.former));
        let after = min_threshold(threshold(self.after), before);
        within(t, after) - within(t, before)
    }
}

/// How many of `sorted` are at most `t`.
fn count_le(sorted: &[i64], t: i64) -> i64 {
    sorted.partition_point(|v| *v <= t) as i64
}

/// Keeps every receipt message's counts and lists exact after a membership
/// change of `group_id` (the member rows are already written): set-based,
/// costing the group's receipt messages plus the changed members (and
/// their reader rows), never members × messages. A full recount when the
/// members just became known (`incremental` false). `unread_count` takes the
/// min (it never rises), `read_count` the max.
pub(crate) fn members_changed(
    tx: &mut Tx<'_>,
    group_id: &str,
    changes: &[MemberChange],
    incremental: bool,
) -> Result<()> {
    let conv = conversation_id(ConversationType::Group, group_id);
    if !incremental {
        return recompute_all(tx, &conv, group_id);
    }
    if changes.is_empty() {
        return Ok(());
    }
    type Msg = (
        i64,
        i64,
        String,
        MessageStatus,
        Option<i64>,
        i64,
        i64,
        Option<i64>,
        bool,
    );
    let msgs: Vec<Msg> = tx
        .conn
        .prepare_cached(GROUP_RECEIPT_MESSAGES)?
        .query_map(params![conv], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if msgs.is_empty() {
        return Ok(());
    }
    let by_user: HashMap<&str, &MemberChange> =
        changes.iter().map(|c| (c.user.as_str(), c)).collect();
    let mut plus: Vec<i64> = changes.iter().filter_map(|c| threshold(c.after)).collect();
    let mut minus: Vec<i64> = changes.iter().filter_map(|c| threshold(c.before)).collect();
    plus.sort_unstable();
    minus.sort_unstable();
    // Which changed users read which message: point lookups when few
    // change, one pass over the group's readers when many do.
    let mut read_by: HashMap<i64, Vec<&MemberChange>> = HashMap::new();
    let known_readers: i64 = msgs.iter().map(|m| m.5).sum();
    let lookups = (changes.len() as i64).saturating_mul(msgs.len() as i64);
    if lookups <= known_readers.saturating_add(msgs.len() as i64) {
        let mut st = tx
            .conn
            .prepare_cached("SELECT 1 FROM readers WHERE rid = ?1 AND user_id = ?2")?;
        for m in &msgs {
            for c in changes {
                if st.exists(params![m.0, c.user])? {
                    read_by.entry(m.0).or_default().push(c);
                }
            }
        }
    } else {
        let mut st = tx.conn.prepare_cached(GROUP_READERS)?;
        let mut rows = st.query(params![conv])?;
        while let Some(r) = rows.next()? {
            let rid: i64 = r.get(0)?;
            let user: String = r.get(1)?;
            if let Some(c) = by_user.get(user.as_str()) {
                read_by.entry(rid).or_default().push(c);
            }
        }
    }
    let mut upd = tx.conn.prepare_cached(
        "UPDATE receipts SET local_unread = ?2, reader_count = ?3, read_count = ?4,
            unread_count = ?5 WHERE rid = ?1",
    )?;
    let mut changed = Vec::new();
    let mut reindex = Vec::new();
    for (rid, t, sender, status, local, readers, read, unread, indexed) in &msgs {
        let t = *t;
        let mut du = count_le(&plus, t) - count_le(&minus, t);
        if let Some(c) = by_user.get(sender.as_str()) {
            du -= c.unread_delta(t);
        }
        let mut dr = 0;
        let read_list = read_by.get(rid);
        for c in read_list.into_iter().flatten() {
            if c.user != *sender {
                du -= c.unread_delta(t);
                dr += c.read_delta(t);
            }
        }
        if *indexed {
            reindex.push((*rid, t, sender.clone()));
        }
        if du == 0 && dr == 0 {
            continue;
        }
        let local2 = local.map(|l| l + du);
        let readers2 = readers + dr;
        let read2 = (*read).max(readers2);
        let unread2 = if !status.audience_fixed() {
            *unread
        } else {
            min_reg(*unread, local2)
        };
        upd.execute(params![rid, local2, readers2, read2, unread2])?;
        if read2 != *read || unread2 != *unread || dr != 0 {
            changed.push(*rid);
        }
    }
    drop(upd);
    for (rid, t, sender) in reindex {
        let readers: Vec<&str> = read_by
            .get(&rid)
            .map(|v| v.iter().map(|c| c.user.as_str()).collect())
            .unwrap_or_default();
        let (mut ins, mut del) = (Vec::new(), Vec::new());
        for c in changes {
            if within(t, threshold(c.after)) == 1
                && c.user != sender
                && !readers.contains(&c.user.as_str())
            {
                ins.push(c.user.as_str());
            } else {
                del.push(c.user.as_str());
            }
        }
        index_apply(tx, rid, &ins, &del)?;
    }
    tx.receipt_changed.extend(changed);
    Ok(())
}

/// Adds and removes users in one message's unread index (JSON lists, set-based).
fn index_apply(tx: &Tx<'_>, rid: i64, ins: &[&str], del: &[&str]) -> Result<()> {
    let json = crate::storage::json_list::<[&str]>;
    if !del.is_empty() {
        tx.conn
            .prepare_cached(
                "DELETE FROM unread_members WHERE rid = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
            )?
            .execute(params![rid, json(del)?])?;
    }
    if !ins.is_empty() {
        tx.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO unread_members(rid, user_id) SELECT ?1, value FROM json_each(?2)",
            )?
            .execute(params![rid, json(ins)?])?;
    }
    Ok(())
}

/// The readers given to [`new_readers`]: sorted, distinct, and as bound to
/// SQL (`arg`: the ID itself for one reader, else a JSON array of them).
pub(crate) struct ReaderList<'a> {
    pub ids: &'a [&'a str],
    pub arg: &'a str,
}

/// Of distinct readers, how many are new and in the unread audience of `m`,
/// and how many new and in its read audience ([`NEW_READERS`]); run before
/// inserting them. `known`: whether the group's members are known;
/// `local`: the message's `local_unread` (its audience, while it has no
/// readers).
pub(crate) fn new_readers(
    tx: &Tx<'_>,
    m: &MsgRow,
    known: bool,
    list: &ReaderList<'_>,
    local: Option<i64>,
) -> Result<(i64, i64)> {
    let len = list.ids.len();
    let sql = if len < LEAN_FROM {
        NEW_READERS
    } else {
        let (first, no_former): (bool, bool) = tx
            .conn
            .prepare_cached(LEAN_CHECK)?
            .query_row(params![m.rid, m.recipient], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match (first, no_former) {
            (false, false) => NEW_READERS,
            (true, false) => NEW_READERS_FIRST,
            (false, true) => NEW_READERS_NO_FORMER,
            // `local` is known only while the members are (so is the walk).
            (true, true) if local.is_some_and(|a| len as i64 * WALK_FRACTION >= a) => {
                let n = new_readers_by_walk(tx, m, list.ids)?;
                return Ok((n, n));
            }
            (true, true) => NEW_READERS_FIRST_NO_FORMER,
        }
    };
    Ok(tx.conn.prepare_cached(sql)?.query_row(
        params![m.rid, list.arg, m.recipient, m.time, m.sender, known],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// For one reader `id` whose row was just inserted into the readers of `m`
/// (new): whether it is in the unread audience and whether in the read
/// audience (1 or 0 each), as [`new_readers`] counts a list.
pub(crate) fn one_new_reader(tx: &Tx<'_>, m: &MsgRow, known: bool, id: &str) -> Result<(i64, i64)> {
    Ok(tx.conn.prepare_cached(NEW_READER_ONE)?.query_row(
        params![m.rid, id, m.recipient, m.time, m.sender, known],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// A first list naming at least 1 / `WALK_FRACTION` of the audience is
/// counted by [`new_readers_by_walk`]: near where the two cost the same
/// (callgrind, the peer bench's batch: about 1.2k instructions a member
/// walked, 5.4k a reader looked up).
const WALK_FRACTION: i64 = 4;

/// The group's members in ID order (the walk of [`new_readers_by_walk`]).
pub(crate) const MEMBERS_IN_ORDER: &str =
    "SELECT user_id, join_time FROM members WHERE group_id = ?1 ORDER BY user_id";

/// [`NEW_READERS_FIRST_NO_FORMER`] with the members known (both counts are
/// the readers in the audience) by one walk of the group's members beside
/// the sorted list, instead of a lookup a reader: a member row read in order
/// costs a fraction of a lookup, so a long list on a fresh message (a batch,
/// a snapshot at login) counts in about a fifth of the work. Same counts:
/// IDs compare as bytes, as the members' key does.
fn new_readers_by_walk(tx: &Tx<'_>, m: &MsgRow, ids: &[&str]) -> Result<i64> {
    let sender = m.sender.as_bytes();
    let mut in_audience = 0i64;
    let mut next = 0usize;
    let mut st = tx.conn.prepare_cached(MEMBERS_IN_ORDER)?;
    let mut rows = st.query(params![m.recipient])?;
    while next < ids.len() {
        let Some(row) = rows.next()? else {
            break;
        };
        let ValueRef::Text(user) = row.get_ref(0)? else {
            continue;
        };
        while next < ids.len() && ids[next].as_bytes() < user {
            next += 1;
        }
        if next < ids.len() && ids[next].as_bytes() == user {
            next += 1;
            let joined: Option<i64> = row.get(1)?;
            if user != sender && joined.is_none_or(|t| t <= m.time) {
                in_audience += 1;
            }
        }
    }
    Ok(in_audience)
}

/// Full recount for every receipt message of a group whose members just became known.
fn recompute_all(tx: &mut Tx<'_>, conv: &str, group_id: &str) -> Result<()> {
    let rows = load_receipt_rows_of_conversation(tx.conn, conv)?;
    debug_assert!(rows.iter().all(|m| m.recipient == group_id));
    for m in rows {
        init_group_counts(tx, &m)?;
    }
    Ok(())
}

/// Forgets the unread members of deleted messages (rowids, a JSON array).
pub(crate) fn forget(tx: &Tx<'_>, rids_json: &str) -> Result<()> {
    tx.conn
        .prepare_cached(
            "DELETE FROM unread_members WHERE rid IN (SELECT value FROM json_each(?1))",
        )?
        .execute(params![rids_json])?;
    Ok(())
}
