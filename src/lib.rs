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

pub mod error;
pub mod events;
mod groups;
pub mod merge;
mod messages;
pub mod model;
mod outbox;
mod plans;
mod query;
pub mod rpc;
pub mod sim;
mod store;
mod sync;
mod unread_index;

pub use error::{Error, Result};
pub use events::{Event, EventKind, Filter, ReceiptItem, Subscription};
pub use groups::MAX_MEMBERS_PER_CALL;
pub use messages::{Conversation, MessageListPage, MAX_MESSAGES_PER_CALL};
pub use model::{
    ConversationType, Flow, GroupType, IncomingMessage, IncomingReceiptInfo, Member, Message,
    MessageStatus, ReadReceiptInfo, ReceiptConfig, ReceiptSentState,
};
pub use outbox::{Batch, Rejection, MAX_BATCH};
pub use query::{MemberFilter, MemberPage};
pub use store::{check_file, Durability, OpenOptions, StateSubscription, Store, SCHEMA_VERSION};
pub use sync::{ReceiptNotification, Snapshot, SnapshotReceipt};
