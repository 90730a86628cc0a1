//! [`Store`]: every public method of the store, in one place. Each one
//! checks nothing itself and delegates to the concern module named in its
//! section; see docs/DESIGN.md for the layers.

use std::path::Path;

#[cfg(not(target_arch = "wasm32"))]
mod lifecycle;
#[cfg(not(target_arch = "wasm32"))]
pub use lifecycle::RestoreReport;

use serde_json::Value;

use crate::concerns::conversations::{
    Conversation, ConversationPage, PushedReadReport, ReadReport,
};
use crate::concerns::deletion::ClearReport;
use crate::concerns::marks::MarkReport;
use crate::concerns::messages::MessageListPage;
use crate::concerns::outbox::{Batch, Rejection, SendReport};
use crate::concerns::queries::{GroupInfo, GroupMemberPage, MemberFilter, MemberPage};
use crate::concerns::sync::{Pending, ReceiptNotification, Snapshot, SnapshotReceipt};
use crate::concerns::verify::VerifyReport;
use crate::concerns::{
    conversation_list, conversations, deletion, delivery, groups, marks, messages, outbox, plans,
    queries, sync, verify,
};
use crate::error::Result;
use crate::events::{Filter, Subscription, DEFAULT_CAPACITY};
use crate::model::{
    check_id, ConversationType, GroupType, IncomingMessage, Member, Message, ReceiptConfig,
    ReceiptConfigPatch,
};
#[cfg(target_arch = "wasm32")]
use crate::storage::browser::open_connection;
use crate::storage::db::Db;
#[cfg(not(target_arch = "wasm32"))]
use crate::storage::file::open_connection;
use crate::storage::file::{open_checked_read_only, open_memory_connection};
use crate::storage::meta;
use crate::storage::options::OpenOptions;

/// One user's receipt store on one SQLite file. Cheap to share behind an
/// `Arc`: calls are serialized on one connection.
pub struct Store {
    db: Db,
}

/// What [`Store::subscribe_with_snapshot`] returns.
pub struct StateSubscription {
    /// The last commit included in `messages`; every later event has a larger one.
    pub commit_seq: u64,
    /// The selected messages as of `commit_seq`.
    pub messages: Vec<Message>,
    /// Receipts queued and not yet acked, as of `commit_seq`.
    pub pending_receipts: u64,
    /// Changes after `commit_seq`.
    pub subscription: Subscription,
}

impl Store {
    // ----- Opening (storage::file) -----

    /// Opens (or creates) the store at `path` for `user_id`.
    pub fn open(path: impl AsRef<Path>, user_id: &str) -> Result<Store> {
        Store::open_with(path, user_id, OpenOptions::default())
    }

    /// Opens with explicit options.
    pub fn open_with(path: impl AsRef<Path>, user_id: &str, opts: OpenOptions) -> Result<Store> {
        check_id("userID", user_id)?;
        let conn = open_connection(path.as_ref(), user_id, &opts)?;
        Ok(Store {
            db: Db::new(conn, user_id, &opts)?,
        })
    }

    /// A store in memory, for tests and tools.
    pub fn open_in_memory(user_id: &str) -> Result<Store> {
        Store::open_in_memory_with(user_id, OpenOptions::default())
    }

    /// A store in memory with options (durability and busy timeout do not apply).
    pub fn open_in_memory_with(user_id: &str, opts: OpenOptions) -> Result<Store> {
        check_id("userID", user_id)?;
        let conn = open_memory_connection(user_id)?;
        Ok(Store {
            db: Db::new(conn, user_id, &opts)?,
        })
    }

    /// The user this store belongs to.
    pub fn owner(&self) -> &str {
        self.db.owner()
    }

    /// Changes the page cap of [`OpenOptions::max_page_count`] on the open
    /// store (tests raise it after filling the store); returns the cap in
    /// force, never below the current size.
    #[doc(hidden)]
    pub fn set_max_page_count(&self, pages: u64) -> Result<u64> {
        self.db.set_max_page_count(pages)
    }

    /// Runs `PRAGMA integrity_check` and returns its report lines ("ok" when sound).
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.db.read(|c| {
            let mut st = c.prepare("PRAGMA integrity_check")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?);
            }
            Ok(out)
        })
    }

    /// The deep check: recounts every stored counter and derived value
    /// (reader and unread counts per message, the unread-member index,
    /// conversation unread counts and the total, the outbox and
    /// early-receipt counters) from its definition and lists each mismatch
    /// by name. A healthy store has none. Reads only.
    pub fn verify(&self) -> Result<VerifyReport> {
        verify::verify(&self.db)
    }

    // ----- Events (events, storage::db) -----

    /// Subscribes to events passing `filter`; dropping the subscription ends it.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        self.db.subscribe(filter, DEFAULT_CAPACITY)
    }

    /// Like [`Store::subscribe`] with a chosen channel capacity.
    pub fn subscribe_with_capacity(&self, filter: Filter, capacity: usize) -> Subscription {
        self.db.subscribe(filter, capacity)
    }

    /// The current state of the messages `filter` selects and a subscription
    /// to later changes, taken together: no commit falls between them.
    pub fn subscribe_with_snapshot(&self, filter: Filter) -> Result<StateSubscription> {
        let (commit_seq, (messages, pending_receipts), subscription) =
            self.db
                .read_and_subscribe(filter, DEFAULT_CAPACITY, |c, f| {
                    Ok((queries::messages_for_filter(c, f)?, meta::outbox_count(c)?))
                })?;
        Ok(StateSubscription {
            commit_seq,
            messages,
            pending_receipts,
            subscription,
        })
    }

    // ----- Receipt config, groups and members (concerns::groups) -----

    /// Sets the receipt switch and the group types with group receipts.
    /// Enabling `Community` or `AVChatRoom` fails with `UNSUPPORTED_GROUP_TYPE`.
    pub fn set_receipt_config(&self, config: &ReceiptConfig) -> Result<()> {
        groups::set_receipt_config(&self.db, config)
    }

    /// Changes the given fields of the receipt config and keeps the others,
    /// reading and writing in one write transaction (so two processes
    /// changing different fields lose neither change). Returns the new config.
    pub fn update_receipt_config(
        &self,
        enabled: Option<bool>,
        group_types: Option<&[GroupType]>,
    ) -> Result<ReceiptConfig> {
        self.patch_receipt_config(&ReceiptConfigPatch {
            enabled,
            group_types: group_types.map(<[GroupType]>::to_vec),
            delivery_receipts: None,
            private_reading: None,
        })
    }

    /// [`Store::update_receipt_config`] for any fields, delivery acks included.
    pub fn patch_receipt_config(&self, patch: &ReceiptConfigPatch) -> Result<ReceiptConfig> {
        groups::update_receipt_config(&self.db, patch)
    }

    /// The current receipt config (default: enabled; Work, Public, Meeting).
    pub fn get_receipt_config(&self) -> Result<ReceiptConfig> {
        groups::get_receipt_config(&self.db)
    }

    /// Creates or replaces a group and its whole member list.
    pub fn set_group(
        &self,
        group_id: &str,
        group_type: GroupType,
        members: &[Member],
    ) -> Result<()> {
        groups::set_group(&self.db, group_id, group_type, members)
    }

    /// Adds members (or updates their join time) to a known group.
    pub fn add_group_members(&self, group_id: &str, members: &[Member]) -> Result<()> {
        groups::add_group_members(&self.db, group_id, members)
    }

    /// Removes members from a known group; unknown user IDs are ignored.
    pub fn remove_group_members(&self, group_id: &str, user_ids: &[String]) -> Result<()> {
        groups::remove_group_members(&self.db, group_id, user_ids)
    }

    // ----- Messages and conversations (concerns::messages) -----

    /// Creates an `out` message (`status: unSend`) with a fresh unique ID.
    pub fn create_message(
        &self,
        to: &str,
        conversation_type: ConversationType,
        payload: &Value,
        need_read_receipt: bool,
    ) -> Result<Message> {
        messages::create_message(&self.db, to, conversation_type, payload, need_read_receipt)
    }

    /// Records that the server accepted an `out` message: its sequence and time.
    pub fn mark_message_sent(&self, id: &str, sequence: i64, time: i64) -> Result<Message> {
        messages::mark_message_sent(&self.db, id, sequence, time)
    }

    /// Saves messages from the transport (upsert by `ID`); returns how many were saved.
    pub fn save_messages(&self, messages: &[IncomingMessage]) -> Result<usize> {
        messages::save_messages(&self.db, messages)
    }

    /// The message with this ID, if held.
    pub fn find_message(&self, id: &str) -> Result<Option<Message>> {
        messages::find_message(&self.db, id)
    }

    /// A page of a conversation's messages, walking back from the newest.
    pub fn get_message_list(
        &self,
        conversation_id: &str,
        next_req_message_id: Option<&str>,
        count: Option<u32>,
    ) -> Result<MessageListPage> {
        messages::get_message_list(&self.db, conversation_id, next_req_message_id, count)
    }

    /// Deletes up to 30 held messages of one conversation for good: their
    /// receipt state, queued receipts and delivery acks go with them, the
    /// unread counts drop, and no later save, snapshot or notification
    /// brings them back. IDs already deleted are skipped; one never held
    /// fails the call. Returns the IDs deleted now (`MESSAGES_DELETED`).
    pub fn delete_messages(&self, message_ids: &[String]) -> Result<Vec<String>> {
        deletion::delete_messages(&self.db, message_ids)
    }

    /// Deletes every message held in a conversation; a sent message at or
    /// below the highest deleted sequence is not saved again. Read
    /// positions stay (PROTOCOL.md, Deleting messages).
    pub fn clear_history(&self, conversation_id: &str) -> Result<ClearReport> {
        deletion::clear_history(&self.db, conversation_id)
    }

    // ----- Conversation read state (concerns::conversations) -----

    /// A conversation's unread count, read positions and last message
    /// (zeros and `None` for one never seen).
    pub fn get_conversation(&self, conversation_id: &str) -> Result<Conversation> {
        conversations::get_conversation(&self.db, conversation_id)
    }

    /// A page of the conversations holding messages, newest last message
    /// first; `cursor` `None` or `""` for the first page.
    pub fn get_conversation_list(
        &self,
        cursor: Option<&str>,
        count: Option<u32>,
    ) -> Result<ConversationPage> {
        conversation_list::get_conversation_list(&self.db, cursor, count)
    }

    /// Moves the read position up to `sequence` (without it, to the highest
    /// sequence of a sent message held), never down; queues a read report
    /// when it moves. Returns the read position. Sends no receipts.
    pub fn set_message_read(&self, conversation_id: &str, sequence: Option<i64>) -> Result<i64> {
        conversations::set_message_read(&self.db, conversation_id, sequence)
    }

    /// [`Store::set_message_read`] on every conversation with unread
    /// messages; returns how many moved.
    pub fn set_all_message_read(&self) -> Result<u64> {
        conversations::set_all_message_read(&self.db)
    }

    /// The sum of every conversation's unread count (one lookup).
    pub fn get_total_unread_message_count(&self) -> Result<u64> {
        conversations::total_unread(&self.db)
    }

    /// The read reports the server has not acknowledged: the highest
    /// position per conversation.
    pub fn get_pending_read_reports(&self) -> Result<Vec<ReadReport>> {
        conversations::pending_read_reports(&self.db)
    }

    /// The server holds these read positions: clears the pending reports
    /// at or below them (a report for a higher position stays). Returns
    /// how many conversations' reports it cleared.
    pub fn ack_read_reports(&self, reports: &[ReadReport]) -> Result<u64> {
        conversations::ack_read_reports(&self.db, reports)
    }

    /// Marks (`enable`) or unmarks conversations as unread on this device,
    /// now, apart from their counts, and queues each change for the server;
    /// 1..100 IDs. Returns the conversations whose mark showed or hid.
    pub fn mark_conversation_unread(
        &self,
        conversation_ids: &[String],
        enable: bool,
    ) -> Result<Vec<String>> {
        conversations::mark_conversation_unread(&self.db, conversation_ids, enable)
    }

    /// The marks and unmarks the server has not acknowledged, the newest
    /// per conversation.
    pub fn get_pending_mark_reports(&self) -> Result<Vec<MarkReport>> {
        marks::pending_mark_reports(&self.db)
    }

    /// The server holds these marks: clears the pending ones they cover.
    /// Returns how many it cleared.
    pub fn ack_mark_reports(&self, reports: &[MarkReport]) -> Result<u64> {
        marks::ack_mark_reports(&self.db, reports)
    }

    /// Merges pushed read positions (the owner's other devices, the C2C
    /// peer), read times and unread marks; returns the conversations whose
    /// positions moved or whose mark showed or hid.
    pub fn apply_read_reports(&self, reports: &[PushedReadReport]) -> Result<Vec<String>> {
        conversations::apply_read_reports(&self.db, reports)
    }

    // ----- Receipts the owner sends: the outbox (concerns::outbox) -----

    /// Queues read receipts for up to 30 messages of one conversation.
    /// `out` messages, messages that need no receipt, and ones already sent
    /// are skipped. Returns the IDs newly queued; they are durable on return.
    pub fn send_message_read_receipt(&self, message_ids: &[String]) -> Result<Vec<String>> {
        Ok(outbox::send_message_read_receipt(&self.db, message_ids)?.queued)
    }

    /// [`Store::send_message_read_receipt`], also telling which receipts
    /// were not queued and why (private reading).
    pub fn send_message_read_receipt_report(&self, message_ids: &[String]) -> Result<SendReport> {
        outbox::send_message_read_receipt(&self.db, message_ids)
    }

    /// Private reading of one conversation: `Some(true)` on, `Some(false)`
    /// off, `None` follows the store's switch (the receipt config's
    /// `private_reading`). Returns whether reading it is now private.
    pub fn set_conversation_private_reading(
        &self,
        conversation_id: &str,
        enable: Option<bool>,
    ) -> Result<bool> {
        conversations::set_private_reading(&self.db, conversation_id, enable)
    }

    /// Hands out batches of queued receipts: first those already handed out
    /// (same IDs, same contents), then new ones. `limit` caps the number of batches.
    pub fn get_pending_receipts(&self, limit: Option<usize>) -> Result<Vec<Batch>> {
        outbox::get_pending_receipts(&self.db, limit)
    }

    /// Records the server's answer to a batch: acked messages become
    /// `acked`, rejected ones go back to `none`. An unknown or repeated
    /// batch ID returns `false` and changes nothing.
    pub fn ack_receipts(&self, batch_id: &str, rejected: &[Rejection]) -> Result<bool> {
        outbox::ack_receipts(&self.db, batch_id, rejected)
    }

    /// Everything the transport has to send, in one transaction: batches
    /// of read receipts and of delivery acks (handed out as
    /// [`Store::get_pending_receipts`] does, `limit` batches of each), the
    /// pending read reports and unread marks.
    pub fn get_pending(&self, limit: Option<usize>) -> Result<Pending> {
        sync::get_pending(&self.db, limit)
    }

    /// The server holds a batch of delivery acks (`d<n>`): its messages
    /// are done. An unknown or repeated batch ID returns `false`.
    pub fn ack_delivery_receipts(&self, batch_id: &str) -> Result<bool> {
        delivery::ack_deliveries(&self.db, batch_id)
    }

    /// How many receipts are queued and not yet acked.
    pub fn pending_receipt_count(&self) -> Result<u64> {
        outbox::pending_receipt_count(&self.db)
    }

    // ----- What the server says: notifications and snapshots (concerns::sync) -----

    /// Merges a stream of snapshot receipt states of one conversation in one
    /// transaction, holding one item in memory at a time (for snapshots too
    /// big to build as one [`Snapshot`]). Same merge and events as
    /// [`Store::apply_snapshot`].
    pub fn apply_snapshot_receipts<I>(
        &self,
        conversation_id: &str,
        receipts: I,
    ) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = SnapshotReceipt>,
    {
        sync::apply_snapshot_receipts(&self.db, conversation_id, receipts)
    }

    /// Merges pushed receipt notifications; returns the IDs whose state changed.
    pub fn apply_receipt_notifications(
        &self,
        notes: &[ReceiptNotification],
    ) -> Result<Vec<String>> {
        sync::apply_receipt_notifications(&self.db, notes)
    }

    /// Merges a sync snapshot of one conversation; returns the IDs whose
    /// receipt state (or the owner's sent state) changed.
    pub fn apply_snapshot(&self, snap: &Snapshot) -> Result<Vec<String>> {
        sync::apply_snapshot(&self.db, snap)
    }

    // ----- Offline receipt queries (concerns::queries) -----

    /// Current receipt information of up to 100 messages of one conversation.
    pub fn get_message_read_receipt_list(&self, message_ids: &[String]) -> Result<Vec<Message>> {
        queries::get_message_read_receipt_list(&self.db, message_ids, false, false)
    }

    /// [`Store::get_message_read_receipt_list`], each `readReceiptInfo`
    /// also saying who received the message (`with_delivery`) and, for a
    /// C2C message, when the peer read it (`with_read_time`).
    pub fn get_message_read_receipt_list_with(
        &self,
        message_ids: &[String],
        with_delivery: bool,
        with_read_time: bool,
    ) -> Result<Vec<Message>> {
        queries::get_message_read_receipt_list(&self.db, message_ids, with_delivery, with_read_time)
    }

    /// A page of the read or unread members of an `out` group message,
    /// sorted by user ID, with a keyset cursor.
    pub fn get_group_message_read_member_list(
        &self,
        message_id: &str,
        filter: MemberFilter,
        cursor: &str,
        count: u32,
    ) -> Result<MemberPage> {
        queries::get_group_message_read_member_list(&self.db, message_id, filter, cursor, count)
    }

    /// [`Store::get_group_message_read_member_list`]; a read page (filter 0)
    /// also lists each reader with the time they read it, when known.
    pub fn get_group_message_read_member_list_with_read_times(
        &self,
        message_id: &str,
        filter: MemberFilter,
        cursor: &str,
        count: u32,
    ) -> Result<MemberPage> {
        queries::get_group_message_read_member_list_with(
            &self.db, message_id, filter, cursor, count, true,
        )
    }

    /// The group as the store holds it, offline; `None` when the store was
    /// never told of it.
    pub fn get_group(&self, group_id: &str) -> Result<Option<GroupInfo>> {
        queries::get_group(&self.db, group_id)
    }

    /// A page of a known group's members with their join times, sorted by
    /// user ID, with a keyset cursor (`count` 1..100).
    pub fn get_group_member_list(
        &self,
        group_id: &str,
        cursor: &str,
        count: u32,
    ) -> Result<GroupMemberPage> {
        queries::get_group_member_list(&self.db, group_id, cursor, count)
    }

    // ----- Query plans (for tests) (concerns::plans) -----

    /// `EXPLAIN QUERY PLAN` of each hot query: (name, plan lines).
    #[doc(hidden)]
    pub fn hot_query_plans(&self) -> Result<Vec<(&'static str, Vec<String>)>> {
        plans::hot_query_plans(&self.db)
    }
}

/// The deep check ([`Store::verify`]) of a store file, opened read-only
/// after the open checks (header, version, owner when given); never writes.
/// A file at an older schema is refused with `INVALID_PARAMS`: the store
/// upgrades it at its next open, and the check is of the current schema.
pub fn verify_file(path: impl AsRef<Path>, user_id: Option<&str>) -> Result<VerifyReport> {
    verify_file_with_key(path, user_id, None)
}

/// [`verify_file`] of an encrypted store, with its passphrase.
pub fn verify_file_with_key(
    path: impl AsRef<Path>,
    user_id: Option<&str>,
    key: Option<&str>,
) -> Result<VerifyReport> {
    let conn = open_checked_read_only(path.as_ref(), user_id, key)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < crate::storage::file::SCHEMA_VERSION {
        return Err(crate::error::Error::invalid(format!(
            "the deep check needs schema version {}; this file is at {version} (opening it as a store upgrades it)",
            crate::storage::file::SCHEMA_VERSION
        )));
    }
    conn.execute_batch("BEGIN")?;
    let report = verify::verify_conn(&conn);
    let _ = conn.execute_batch("COMMIT");
    report
}
