//! What the server says: notifications and snapshots, merged by PROTOCOL.md, Merge rules.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::conversations::{apply_positions, check_pushed, read_reports_in, Positions, ReadReport};
use super::delivery::{merge_delivery, pending_deliveries, readers_added, Delivery};
use super::early::{merge_early, merge_early_delivery, merge_early_read_times};
use super::marks::{mark_reports_in, MarkReport};
use super::messages::{clamp, upsert_message, MAX_MESSAGES_PER_CALL};
use super::outbox::{check_limit, hand_out, mark_self_read, Batch, RECEIPTS};
use super::receipts::{
    group_has_receipts, group_of, merge_counts_deferred, merge_loaded, merge_read_times,
    takes_receipts,
};
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::lattice::{Estimate, ReceiptState};
use crate::model::{
    check_id, check_seq, conversation_id, parse_conversation_id, ConversationType, IncomingMessage,
};
use crate::storage::db::{Db, Tx};
use crate::storage::rows::{
    load_for_merge, load_merge_head, load_merge_heads_of_list, load_row, MsgRow,
};

/// Most notifications or receipt states in one call.
pub const MAX_RECEIPTS_PER_CALL: usize = 200_000;
/// Most reader IDs in one call, over all its items.
pub const MAX_READERS_PER_CALL: usize = 2_000_000;

/// A pushed receipt notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptNotification {
    /// The message read.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Checked against the held message when given.
    #[serde(rename = "conversationID", default)]
    pub conversation_id: Option<String>,
    /// Checked against the held message when given.
    #[serde(rename = "groupID", default)]
    pub group_id: Option<String>,
    /// A user who read it (the peer, in C2C).
    #[serde(rename = "userID", default)]
    pub user_id: Option<String>,
    /// Server's read count.
    #[serde(default)]
    pub read_count: Option<u64>,
    /// Server's unread count.
    #[serde(default)]
    pub unread_count: Option<u64>,
    /// Server's C2C peer-read flag.
    #[serde(default)]
    pub is_peer_read: Option<bool>,
    /// Users who read it.
    #[serde(rename = "readerIDs", default)]
    pub reader_ids: Option<Vec<String>>,
    /// When `userID` read it (unix seconds, as the server reports it).
    #[serde(rename = "readTime", default)]
    pub read_time: Option<i64>,
    /// Users who received it (delivered; readers count as delivered too).
    #[serde(rename = "deliveredIDs", default)]
    pub delivered_ids: Option<Vec<String>>,
    /// Server's delivered count.
    #[serde(default)]
    pub delivered_count: Option<u64>,
    /// Server's C2C peer-delivered flag.
    #[serde(default)]
    pub is_peer_delivered: Option<bool>,
}

/// A reader and the time they read a message (unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderTime {
    /// The reader.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// When they read it.
    #[serde(rename = "readTime")]
    pub read_time: i64,
}

/// A receipt state inside a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReceipt {
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Server's read count.
    #[serde(default)]
    pub read_count: Option<u64>,
    /// Server's unread count.
    #[serde(default)]
    pub unread_count: Option<u64>,
    /// Server's C2C peer-read flag.
    #[serde(default)]
    pub is_peer_read: Option<bool>,
    /// Users who read it.
    #[serde(rename = "readerIDs", default)]
    pub reader_ids: Option<Vec<String>>,
    /// Readers with the time each read it (unix seconds).
    #[serde(rename = "readTimes", default)]
    pub read_times: Option<Vec<ReaderTime>>,
    /// Users who received it (delivered; readers count as delivered too).
    #[serde(rename = "deliveredIDs", default)]
    pub delivered_ids: Option<Vec<String>>,
    /// Server's delivered count.
    #[serde(default)]
    pub delivered_count: Option<u64>,
    /// Server's C2C peer-delivered flag.
    #[serde(default)]
    pub is_peer_delivered: Option<bool>,
}

/// A sync snapshot of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The conversation.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// Messages to upsert.
    #[serde(default)]
    pub messages: Vec<IncomingMessage>,
    /// Receipt states to merge.
    #[serde(default)]
    pub receipts: Vec<SnapshotReceipt>,
    /// Messages the server records the owner as having read.
    #[serde(default)]
    pub self_read: Vec<String>,
    /// The owner's read position the server holds (from any device).
    #[serde(default)]
    pub read_sequence: Option<i64>,
    /// The C2C peer's read position.
    #[serde(default)]
    pub peer_read_sequence: Option<i64>,
    /// When the owner last read the conversation to its end (unix ms).
    #[serde(default)]
    pub read_time: Option<i64>,
    /// The owner's newest mark (true) or unmark (false) of it as unread.
    #[serde(default)]
    pub marked: Option<bool>,
    /// The time of `marked` (unix ms); given with it.
    #[serde(default)]
    pub mark_time: Option<i64>,
}

impl Snapshot {
    /// The read state the snapshot reports.
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

/// IDs in first-change order, each once.
#[derive(Default)]
struct Changed {
    ids: Vec<String>,
    /// Rowids of the messages in `ids` (each ID is one held message).
    seen: HashSet<i64, RidHash>,
}

/// Hashes rowids with one multiply: they are not attacker-chosen hash keys
/// (SQLite assigns them), and SipHash cost a tenth of a snapshot's merge.
#[derive(Default, Clone, Copy)]
struct RidHasher(u64);

impl std::hash::Hasher for RidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type RidHash = std::hash::BuildHasherDefault<RidHasher>;

impl Changed {
    fn add(&mut self, rid: i64, id: &str) {
        if self.seen.insert(rid) {
            self.ids.push(id.to_string());
        }
    }
}

fn estimate(rc: Option<u64>, uc: Option<u64>, pr: Option<bool>) -> Estimate {
    Estimate {
        read_count: rc.map(clamp),
        unread_count: uc.map(clamp),
        peer_read: pr.unwrap_or(false),
    }
}

fn check_read_times(r: &SnapshotReceipt) -> Result<()> {
    for t in r.read_times.iter().flatten() {
        check_id("userID", &t.user_id)?;
        check_seq("readTime", t.read_time)?;
    }
    Ok(())
}

fn check_readers(ids: &[String], total: &mut usize) -> Result<()> {
    *total += ids.len();
    if *total > MAX_READERS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_READERS_PER_CALL} reader IDs a call"
        )));
    }
    ids.iter().try_for_each(|r| check_id("readerID", r))
}

/// Applies one receipt estimate: merged into a held message of `conv`
/// (when given), or buffered until the message arrives.
/// What the server says about one message's receipt.
struct Info<'a> {
    est: Estimate,
    readers: &'a [String],
    delivery: Delivery<'a>,
    /// Read times (unix seconds) of readers among `readers`.
    times: Vec<(String, i64)>,
}

fn apply_one(
    tx: &mut Tx<'_>,
    id: &str,
    conv: Option<&str>,
    info: &Info<'_>,
    changed: &mut Changed,
) -> Result<()> {
    let (est, readers, delivery) = (&info.est, info.readers, &info.delivery);
    match load_for_merge(tx.conn, id)? {
        Some((m, rec)) => {
            check_conv(&m, conv)?;
            let group = group_of(tx.conn, &m)?;
            if m.recalled || !takes_receipts(group) {
                // Recalled, or Community / AVChatRoom: ignored, no error, no event.
                return Ok(());
            }
            if !m.need_receipt {
                // Kept: a later save may say the message needs a receipt.
                merge_early(tx, id, Some(&m.conversation_id), est, readers, false)?;
                merge_early_delivery(tx, id, Some(&m.conversation_id), delivery)?;
                merge_early_read_times(tx, id, Some(&m.conversation_id), &info.times)?;
            } else {
                let read = merge_loaded(tx, &m, rec, group, est, readers)?;
                if !readers.is_empty() {
                    // Readers count as delivered: the delivered union may grow.
                    readers_added(tx, &m)?;
                }
                let delivered = merge_delivery(tx, &m, delivery)?;
                if delivered {
                    tx.delivery_changed.insert(m.rid);
                }
                let timed = merge_read_times(tx, &m, &info.times)?;
                if read || delivered || timed {
                    changed.add(m.rid, id);
                }
            }
        }
        None => {
            merge_early(tx, id, conv, est, readers, false)?;
            merge_early_delivery(tx, id, conv, delivery)?;
            merge_early_read_times(tx, id, conv, &info.times)?;
        }
    }
    Ok(())
}

fn check_conv(m: &MsgRow, conv: Option<&str>) -> Result<()> {
    match conv {
        Some(c) if c != m.conversation_id => Err(Error::invalid(format!(
            "message {} belongs to {}, not {c}",
            m.id, m.conversation_id
        ))),
        _ => Ok(()),
    }
}

fn apply_receipt(
    tx: &mut Tx<'_>,
    conv: &str,
    r: &SnapshotReceipt,
    changed: &mut Changed,
) -> Result<()> {
    // A reader named with a time is a reader.
    let mut readers = r.reader_ids.clone().unwrap_or_default();
    let times: Vec<(String, i64)> = r
        .read_times
        .iter()
        .flatten()
        .map(|t| (t.user_id.clone(), t.read_time))
        .collect();
    readers.extend(times.iter().map(|(u, _)| u.clone()));
    let info = Info {
        est: estimate(r.read_count, r.unread_count, r.is_peer_read),
        readers: &readers,
        delivery: delivery_of(
            r.delivered_count,
            r.is_peer_delivered,
            r.delivered_ids.as_deref(),
        ),
        times,
    };
    apply_one(tx, &r.message_id, Some(conv), &info, changed)
}

fn delivery_of<'a>(
    count: Option<u64>,
    peer: Option<bool>,
    users: Option<&'a [String]>,
) -> Delivery<'a> {
    Delivery {
        count: count.map(clamp),
        peer: peer.unwrap_or(false),
        users: users.unwrap_or(&[]),
    }
}

/// Snapshot items merged per set-based round.
const CHUNK: usize = 1000;

/// Applies snapshot receipt states of `conv`, in order, with set-based
/// statements: one lookup of the chunk's messages and one keyed write of its
/// count-only merges. Items with readers, and messages not held, take the
/// one-by-one path (after the writes so far, so they read current rows).
/// The result equals applying each item with [`apply_receipt`].
fn apply_chunk(
    tx: &mut Tx<'_>,
    conv: &str,
    items: &[SnapshotReceipt],
    changed: &mut Changed,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = items.iter().map(|r| r.message_id.as_str()).collect();
    let ids = crate::storage::json_list(&ids)?;
    // Rows by position in the chunk; a repeated ID continues from the state
    // its last occurrence left (`last`), not from the stale loaded copy.
    let mut held = load_merge_heads_of_list(tx.conn, &ids, conv, items.len())?;
    let mut last: HashMap<i64, usize, RidHash> = HashMap::default();
    let mut pending = Vec::new();
    // The deferred path is for messages whose receipt state merges; the rest
    // (no receipt yet: kept for later; Community groups: ignored; another
    // conversation: refused) go through `apply_receipt`, which knows those rules.
    let group_ok = match parse_conversation_id(conv) {
        Ok((ConversationType::Group, g)) => group_has_receipts(tx.conn, g)?,
        _ => true,
    };
    for (i, r) in items.iter().enumerate() {
        let readers = r.reader_ids.as_deref().unwrap_or(&[]);
        let rid = held[i]
            .as_ref()
            .filter(|(m, _)| group_ok && m.is_out && m.need_receipt && m.in_conv && !m.recalled)
            .map(|(m, _)| m.rid);
        let no_delivery = r.delivered_ids.is_none()
            && r.delivered_count.is_none()
            && r.is_peer_delivered.is_none()
            && r.read_times.is_none();
        if let (true, Some(rid)) = (readers.is_empty() && no_delivery, rid) {
            if let Some(j) = last.insert(rid, i) {
                let prev = held[j].as_ref().map(|(_, rec)| *rec);
                if let (Some(prev), Some((_, rec))) = (prev, held[i].as_mut()) {
                    *rec = prev;
                }
            }
            if let Some((m, rec)) = held[i].as_mut() {
                let est = estimate(r.read_count, r.unread_count, r.is_peer_read);
                if let Some(next) = merge_counts_deferred(tx, m, rec, &est)? {
                    pending.push((m.rid, next));
                    changed.add(m.rid, &r.message_id);
                }
            }
            continue;
        }
        flush_states(tx, &mut pending)?;
        apply_receipt(tx, conv, r, changed)?;
        // Merged one by one: later occurrences reload the row it wrote.
        if let Some(rid) = rid {
            for slot in held.iter_mut().skip(i + 1) {
                if slot.as_ref().is_some_and(|(m, _)| m.rid == rid) {
                    *slot = load_merge_head(tx.conn, rid, conv)?;
                }
            }
            last.remove(&rid);
        }
    }
    flush_states(tx, &mut pending)
}

/// Writes deferred merges (the last state of a message wins).
fn flush_states(tx: &Tx<'_>, pending: &mut Vec<(i64, ReceiptState)>) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    super::receipts::write_states(tx.conn, pending)?;
    pending.clear();
    Ok(())
}

/// Merges a stream of snapshot receipt states of one conversation in one
/// transaction, holding one item in memory at a time (for snapshots too
/// big to build as one [`Snapshot`]). Same merge and events as
/// [`Store::apply_snapshot`].
pub(crate) fn apply_snapshot_receipts<I>(
    db: &Db,
    conversation_id: &str,
    receipts: I,
) -> Result<Vec<String>>
where
    I: IntoIterator<Item = SnapshotReceipt>,
{
    parse_conversation_id(conversation_id)?;
    db.write(|tx| {
        let mut changed = Changed::default();
        // The reader cap is per call, over all items of the stream.
        let mut total = 0;
        let mut chunk = Vec::with_capacity(CHUNK);
        for r in receipts {
            check_id("messageID", &r.message_id)?;
            check_readers(r.reader_ids.as_deref().unwrap_or(&[]), &mut total)?;
            check_readers(r.delivered_ids.as_deref().unwrap_or(&[]), &mut total)?;
            check_read_times(&r)?;
            chunk.push(r);
            if chunk.len() == CHUNK {
                apply_chunk(tx, conversation_id, &chunk, &mut changed)?;
                chunk.clear();
            }
        }
        apply_chunk(tx, conversation_id, &chunk, &mut changed)?;
        let changed = changed.ids;
        if !changed.is_empty() {
            tx.events.push(EventKind::SnapshotApplied {
                conversation_id: conversation_id.to_string(),
                changed: changed.clone(),
            });
        }
        Ok(changed)
    })
}

/// Merges pushed receipt notifications; returns the IDs whose state changed.
pub(crate) fn apply_receipt_notifications(
    db: &Db,
    notes: &[ReceiptNotification],
) -> Result<Vec<String>> {
    if notes.len() > MAX_RECEIPTS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_RECEIPTS_PER_CALL} notifications a call"
        )));
    }
    let mut total = 0;
    for n in notes {
        check_id("messageID", &n.message_id)?;
        if let Some(c) = &n.conversation_id {
            parse_conversation_id(c)?;
        }
        if let Some(g) = &n.group_id {
            check_id("groupID", g)?;
        }
        if let Some(u) = &n.user_id {
            check_id("userID", u)?;
        }
        check_readers(n.reader_ids.as_deref().unwrap_or(&[]), &mut total)?;
        check_readers(n.delivered_ids.as_deref().unwrap_or(&[]), &mut total)?;
        if let Some(t) = n.read_time {
            check_seq("readTime", t)?;
        }
    }
    db.write(|tx| {
        let mut changed = Changed::default();
        for n in notes {
            let from_group = n
                .group_id
                .as_deref()
                .map(|g| conversation_id(ConversationType::Group, g));
            if let (Some(a), Some(b)) = (&n.conversation_id, &from_group) {
                if a != b {
                    return Err(Error::invalid("conversationID and groupID disagree"));
                }
            }
            let conv = n.conversation_id.as_deref().or(from_group.as_deref());
            let mut readers = n.reader_ids.clone().unwrap_or_default();
            if let Some(u) = &n.user_id {
                readers.push(u.clone());
            }
            let times = match (&n.user_id, n.read_time) {
                (Some(u), Some(t)) => vec![(u.clone(), t)],
                _ => Vec::new(),
            };
            let info = Info {
                est: estimate(n.read_count, n.unread_count, n.is_peer_read),
                readers: &readers,
                delivery: delivery_of(
                    n.delivered_count,
                    n.is_peer_delivered,
                    n.delivered_ids.as_deref(),
                ),
                times,
            };
            apply_one(tx, &n.message_id, conv, &info, &mut changed)?;
        }
        Ok(changed.ids)
    })
}

/// Merges a sync snapshot of one conversation; returns the IDs whose
/// receipt state (or the owner's sent state) changed.
pub(crate) fn apply_snapshot(db: &Db, snap: &Snapshot) -> Result<Vec<String>> {
    let conv = snap.conversation_id.as_str();
    parse_conversation_id(conv)?;
    if snap.messages.len() > MAX_MESSAGES_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_MESSAGES_PER_CALL} messages a snapshot"
        )));
    }
    if snap.receipts.len() > MAX_RECEIPTS_PER_CALL || snap.self_read.len() > MAX_RECEIPTS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_RECEIPTS_PER_CALL} receipts and selfRead IDs a snapshot"
        )));
    }
    let mut total = 0;
    for r in &snap.receipts {
        check_id("messageID", &r.message_id)?;
        check_readers(r.reader_ids.as_deref().unwrap_or(&[]), &mut total)?;
        check_readers(r.delivered_ids.as_deref().unwrap_or(&[]), &mut total)?;
        check_read_times(r)?;
    }
    for id in &snap.self_read {
        check_id("messageID", id)?;
    }
    check_pushed(conv, &snap.positions())?;
    db.write(|tx| {
        let mut saved = Vec::new();
        for m in &snap.messages {
            if let Some((row, true)) = upsert_message(tx, m, Some(conv))? {
                saved.push((row.conversation_id, row.id));
            }
        }
        let mut changed = Changed::default();
        for chunk in snap.receipts.chunks(CHUNK) {
            apply_chunk(tx, conv, chunk, &mut changed)?;
        }
        for id in &snap.self_read {
            match load_row(tx.conn, id)? {
                Some(m) => {
                    check_conv(&m, Some(conv))?;
                    if !m.need_receipt {
                        merge_early(tx, id, Some(conv), &Estimate::default(), &[], true)?;
                    } else if mark_self_read(tx, &m)? {
                        changed.add(m.rid, id);
                    }
                }
                None => {
                    merge_early(tx, id, Some(conv), &Estimate::default(), &[], true)?;
                }
            }
        }
        apply_positions(tx, conv, &snap.positions())?;
        if !saved.is_empty() {
            tx.events.push(EventKind::MessagesChanged(saved));
        }
        let changed = changed.ids;
        if !changed.is_empty() {
            tx.events.push(EventKind::SnapshotApplied {
                conversation_id: conv.to_string(),
                changed: changed.clone(),
            });
        }
        Ok(changed)
    })
}

/// Everything the transport has to send, taken in one transaction
/// (`getPendingReceipts`): batches of read receipts, batches of delivery
/// acks (never mixed), the read reports and the unread marks not yet
/// acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// Read receipts (`b<n>`), at most `limit` batches.
    pub batches: Vec<Batch>,
    /// The highest unacknowledged read position per conversation.
    pub read_reports: Vec<ReadReport>,
    /// The newest unacknowledged mark or unmark per conversation.
    pub mark_reports: Vec<MarkReport>,
    /// Delivery acks (`d<n>`), at most `limit` batches; left out of the
    /// JSON while there are none, so transports that know only receipts
    /// see the answer they know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery_batches: Vec<Batch>,
}

/// [`Pending`], handing out new batches as `getPendingReceipts` does.
pub(crate) fn get_pending(db: &Db, limit: Option<usize>) -> Result<Pending> {
    let limit = check_limit(limit)?;
    db.write(|tx| {
        Ok(Pending {
            batches: hand_out(tx, &RECEIPTS, limit)?,
            read_reports: read_reports_in(tx.conn)?,
            mark_reports: mark_reports_in(tx.conn)?,
            delivery_batches: pending_deliveries(tx, limit)?,
        })
    })
}
