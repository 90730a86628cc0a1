//! # receiptdb
//!
//! An embedded, local-first storage engine for chat message read receipts,
//! on SQLite. One [`Store`] per logged-in user keeps messages, groups, the
//! receipt state of the user's own messages and the receipts the user sends,
//! answers every receipt query offline, keeps sent receipts in a durable
//! outbox, and merges what the server says as a lattice.
//!
//! ```
//! use receiptdb::{ConversationType, GroupType, Member, MemberFilter, ReceiptNotification, Store};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), receiptdb::Error> {
//! let store = Store::open_in_memory("alice")?;
//! store.set_group("g1", GroupType::Work, &[Member::new("alice"), Member::new("bob"), Member::new("carol")])?;
//! let msg = store.create_message("g1", ConversationType::Group, &json!({"text": "hi"}), true)?;
//! store.mark_message_sent(&msg.id, 1, 1_700_000_000)?;
//!
//! // The server says bob read it.
//! let changed = store.apply_receipt_notifications(&[ReceiptNotification {
//!     message_id: msg.id.clone(),
//!     reader_ids: Some(vec!["bob".into()]),
//!     ..Default::default()
//! }])?;
//! assert_eq!(changed, vec![msg.id.clone()]);
//!
//! let info = store.get_message_read_receipt_list(&[msg.id.clone()])?[0].read_receipt_info.unwrap();
//! assert_eq!((info.read_count, info.unread_count), (1, Some(1)));
//! let page = store.get_group_message_read_member_list(&msg.id, MemberFilter::Unread, "", 100)?;
//! assert_eq!(page.unread_user_id_list, Some(vec!["carol".to_string()]));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

// Layers, bottom up (docs/DESIGN.md has the rule of what may import what):
// error, model, events, lattice → storage → concerns → store → rpc. The
// simulator (crate receiptdb-sim, sim/) and the `receiptdb` command (crate
// receiptdb-cli, cli/) sit above, in crates of their own, on the public API.
mod concerns;
mod error;
mod events;
mod lattice;
mod model;
mod payload;
pub mod rpc;
mod rpc_params;
mod storage;
mod store;
mod wire;

pub use concerns::conversations::{
    Conversation, ConversationPage, PushedReadReport, ReadReport, MAX_READ_REPORTS_PER_CALL,
};
pub use concerns::deletion::{ClearReport, MAX_DELETE};
pub use concerns::early::{MAX_EARLY_MESSAGES, MAX_EARLY_READERS};
pub use concerns::groups::MAX_MEMBERS_PER_CALL;
pub use concerns::marks::{MarkReport, MAX_MARKS_PER_CALL, MAX_MARK_REPORTS_PER_CALL};
pub use concerns::messages::{MessageListPage, MAX_MESSAGES_PER_CALL};
pub use concerns::outbox::{Batch, Rejection, SendReport, SkipReason, Skipped, MAX_BATCH};
pub use concerns::queries::{GroupInfo, GroupMemberPage, MemberFilter, MemberPage, ReaderAt};
pub use concerns::sync::{
    Pending, ReaderTime, ReceiptNotification, Snapshot, SnapshotReceipt, MAX_READERS_PER_CALL,
    MAX_RECEIPTS_PER_CALL,
};
pub use concerns::verify::{Mismatch, VerifyReport};
pub use error::{Error, Result};
pub use events::{Event, EventKind, Filter, ReceiptItem, Subscription, DEFAULT_CAPACITY};
pub use lattice::{min_reg, Estimate, ReceiptState};
pub use model::{
    conversation_id, parse_conversation_id, ConversationType, Flow, GroupType, IncomingMessage,
    IncomingReceiptInfo, Member, Message, MessageStatus, ReadReceiptInfo, ReceiptConfig,
    ReceiptConfigPatch, ReceiptSentState, MAX_CONVERSATION_ID_LEN, MAX_ID_LEN, MAX_PAYLOAD_BYTES,
    MAX_SEQUENCE,
};
#[cfg(not(target_arch = "wasm32"))]
pub use storage::copies::{
    change_key, delete_store, delete_store_with_key, BackupReport, CompactReport,
};
pub use storage::file::{check_file, check_file_with_key, APPLICATION_ID, SCHEMA_VERSION};
pub use storage::options::{Durability, OpenOptions};
#[cfg(not(target_arch = "wasm32"))]
pub use store::RestoreReport;
pub use store::{verify_file, verify_file_with_key, StateSubscription, Store};

/// The Rust snippets of the README and docs/EMBEDDING.md, compiled and run
/// as doctests so they keep working as pasted.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/EMBEDDING.md")]
pub struct DocSnippets;
