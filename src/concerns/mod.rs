//! The concern modules: the rules of receiptdb on top of the storage layer.
//! Each calls only modules listed above it here and the layers below
//! (storage, lattice, model, events, error); none knows the `Store` type.

pub(crate) mod conversation_list;
pub(crate) mod conversations;
pub(crate) mod deletion;
pub(crate) mod delivery;
pub(crate) mod early;
pub(crate) mod groups;
pub(crate) mod marks;
pub(crate) mod messages;
pub(crate) mod outbox;
pub(crate) mod plans;
pub(crate) mod queries;
pub(crate) mod receipts;
pub(crate) mod sync;
pub(crate) mod tombstones;
pub(crate) mod unread;
pub(crate) mod verify;
