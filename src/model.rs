//! Plain data types of the public API, with the JSON names of Tencent's Web SDK.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Longest accepted ID (message, user, group, conversation), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest conversation ID: `GROUP` and a group ID of [`MAX_ID_LEN`] bytes.
pub const MAX_CONVERSATION_ID_LEN: usize = MAX_ID_LEN + 5;
pub use crate::payload::MAX_PAYLOAD_BYTES;

/// `C2C` or `GROUP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConversationType {
    /// One-to-one.
    #[serde(rename = "C2C")]
    C2C,
    /// Group.
    #[serde(rename = "GROUP")]
    Group,
}

impl ConversationType {
    /// The prefix of conversation IDs of this type.
    pub fn prefix(self) -> &'static str {
        match self {
            ConversationType::C2C => "C2C",
            ConversationType::Group => "GROUP",
        }
    }
}

/// Splits `C2C<peer>` / `GROUP<groupID>` into its type and target.
pub fn parse_conversation_id(id: &str) -> Result<(ConversationType, &str)> {
    if id.len() > MAX_CONVERSATION_ID_LEN {
        return Err(Error::invalid(format!(
            "conversationID is longer than {MAX_CONVERSATION_ID_LEN} bytes"
        )));
    }
    let (t, rest) = if let Some(r) = id.strip_prefix("GROUP") {
        (ConversationType::Group, r)
    } else if let Some(r) = id.strip_prefix("C2C") {
        (ConversationType::C2C, r)
    } else {
        return Err(Error::invalid(
            "conversationID must start with C2C or GROUP",
        ));
    };
    if rest.is_empty() {
        return Err(Error::invalid("conversationID has no target"));
    }
    // The target is a user or group ID: every accepted one can be addressed.
    check_id("conversationID target", rest)?;
    Ok((t, rest))
}

/// Builds a conversation ID.
pub fn conversation_id(t: ConversationType, target: &str) -> String {
    format!("{}{}", t.prefix(), target)
}

/// Checks a `messageIDs` list: 1..=`max` IDs, each a valid ID.
pub(crate) fn check_message_ids(ids: &[String], max: usize) -> Result<()> {
    if ids.is_empty() || ids.len() > max {
        return Err(Error::invalid(format!("messageIDs must hold 1..{max} IDs")));
    }
    for id in ids {
        check_id("messageID", id)?;
    }
    Ok(())
}

/// Checks an ID is non-empty, not too long and free of control characters.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!(
            "{what} is longer than {MAX_ID_LEN} bytes"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

/// The five group types of Tencent Cloud Chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupType {
    /// Work group.
    Work,
    /// Public group.
    Public,
    /// Meeting group.
    Meeting,
    /// Community: never supports receipts.
    Community,
    /// Audio-video chat room: never supports receipts.
    AVChatRoom,
}

impl GroupType {
    /// Whether this type can ever have read receipts.
    pub fn supports_receipts(self) -> bool {
        !matches!(self, GroupType::Community | GroupType::AVChatRoom)
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GroupType::Work => "Work",
            GroupType::Public => "Public",
            GroupType::Meeting => "Meeting",
            GroupType::Community => "Community",
            GroupType::AVChatRoom => "AVChatRoom",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<GroupType> {
        Ok(match s {
            "Work" => GroupType::Work,
            "Public" => GroupType::Public,
            "Meeting" => GroupType::Meeting,
            "Community" => GroupType::Community,
            "AVChatRoom" => GroupType::AVChatRoom,
            _ => return Err(Error::invalid(format!("unknown group type {s:?}"))),
        })
    }
}

/// The receipt switch and the group types with group receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptConfig {
    /// Whether read receipts are enabled at all.
    pub enabled: bool,
    /// Group types that support group receipts.
    pub group_types: Vec<GroupType>,
    /// Whether the owner acknowledges delivery of `in` messages that need a
    /// receipt (default off: a transport must know delivery batches).
    #[serde(default)]
    pub delivery_receipts: bool,
    /// Private reading for every conversation without a switch of its own:
    /// reading clears unread counts everywhere but sends no read receipt.
    #[serde(default)]
    pub private_reading: bool,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        ReceiptConfig {
            enabled: true,
            group_types: vec![GroupType::Work, GroupType::Public, GroupType::Meeting],
            delivery_receipts: false,
            private_reading: false,
        }
    }
}

/// A change to some fields of the [`ReceiptConfig`]; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptConfigPatch {
    /// Whether read receipts are enabled at all.
    pub enabled: Option<bool>,
    /// Group types that support group receipts.
    pub group_types: Option<Vec<GroupType>>,
    /// Whether delivery acks are queued.
    pub delivery_receipts: Option<bool>,
    /// The store-wide private-reading switch.
    pub private_reading: Option<bool>,
}

/// A group member; `join_time` `None` means a member since the beginning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member's user ID.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Unix seconds of joining, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_time: Option<i64>,
}

impl Member {
    /// A member since the beginning.
    pub fn new(user_id: impl Into<String>) -> Member {
        Member {
            user_id: user_id.into(),
            join_time: None,
        }
    }
}

/// `unSend`, `success`, `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageStatus {
    /// Created locally, not sent yet.
    #[serde(rename = "unSend")]
    UnSend,
    /// Accepted by the server.
    #[serde(rename = "success")]
    Success,
    /// Sending failed.
    #[serde(rename = "fail")]
    Fail,
}

impl MessageStatus {
    /// Whether the server accepted the message, which fixes a group
    /// message's audience (members at its server time). Until then (unsent,
    /// or a send that failed) receipt figures may arrive but cannot fix
    /// `unreadCount`, a min-register that could never come back up.
    pub(crate) fn audience_fixed(self) -> bool {
        self == MessageStatus::Success
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MessageStatus::UnSend => "unSend",
            MessageStatus::Success => "success",
            MessageStatus::Fail => "fail",
        }
    }
}

/// `in` or `out` relative to the store's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// Sent by someone else.
    #[serde(rename = "in")]
    In,
    /// Sent by the owner.
    #[serde(rename = "out")]
    Out,
}

/// Where the owner's receipt for an `in` message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReceiptSentState {
    /// Not sent.
    #[serde(rename = "none")]
    None,
    /// Queued in the outbox.
    #[serde(rename = "pending")]
    Pending,
    /// The server has it.
    #[serde(rename = "acked")]
    Acked,
}

/// Receipt state of an `out` message that needs a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceiptInfo {
    /// How many have read it (C2C: 1 once the peer read it).
    pub read_count: u64,
    /// How many have not; `None` while the group's members are unknown and
    /// the server has given no figure.
    pub unread_count: Option<u64>,
    /// C2C: the peer has read it.
    pub is_peer_read: bool,
    /// With `withDelivery` only: how many of its audience received it
    /// (readers included; C2C 1 or 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_count: Option<u64>,
    /// With `withDelivery` only: C2C, the peer received (or read) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_peer_delivered: Option<bool>,
    /// With `withReadTime` only, C2C: when the peer read it (unix seconds,
    /// as the server reported it); left out while unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_time: Option<i64>,
}

/// A message as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique message ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `C2C<peer>` or `GROUP<groupID>`.
    #[serde(rename = "conversationID")]
    pub conversation_id: String,
    /// `C2C` or `GROUP`.
    pub conversation_type: ConversationType,
    /// Sender user ID.
    pub from: String,
    /// Receiver user ID (C2C) or group ID (GROUP).
    pub to: String,
    /// Unix seconds.
    pub time: i64,
    /// Server sequence.
    pub sequence: i64,
    /// `out` when sent by the owner.
    pub flow: Flow,
    /// Send status.
    pub status: MessageStatus,
    /// Whether the sender asked for read receipts.
    pub need_read_receipt: bool,
    /// Free JSON object.
    pub payload: Value,
    /// C2C conversation read report (never touched by receipts).
    pub is_peer_read: bool,
    /// On `out` messages that need a receipt; else `null`.
    pub read_receipt_info: Option<ReadReceiptInfo>,
    /// On `in` messages that need a receipt; else `null`.
    pub receipt_sent_state: Option<ReceiptSentState>,
    /// The message was recalled (Tencent's `isRevoked`); its receipt figures
    /// stay as they were. Left out of answers while false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_revoked: bool,
}

/// A message handed to the store by the transport (`saveMessages`,
/// snapshot `messages`). `flow` is derived from `from` and ignored here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingMessage {
    /// Unique message ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Optional; checked against `from`/`to` when present.
    #[serde(rename = "conversationID", default)]
    pub conversation_id: Option<String>,
    /// Optional when `conversationID` is given.
    #[serde(default)]
    pub conversation_type: Option<ConversationType>,
    /// Sender.
    pub from: String,
    /// Receiver or group ID.
    pub to: String,
    /// Unix seconds (default 0).
    #[serde(default)]
    pub time: i64,
    /// Server sequence (default 0).
    #[serde(default)]
    pub sequence: i64,
    /// Default `success`.
    #[serde(default)]
    pub status: Option<MessageStatus>,
    /// Default false.
    #[serde(default)]
    pub need_read_receipt: bool,
    /// Default `{}`. Read within [`MAX_PAYLOAD_BYTES`] (a bigger one is
    /// refused before it is built).
    #[serde(default, deserialize_with = "crate::payload::bounded")]
    pub payload: Option<Value>,
    /// C2C conversation read report, or-merged.
    #[serde(default)]
    pub is_peer_read: bool,
    /// Receipt figures the transport carries; merged as a lattice.
    #[serde(default)]
    pub read_receipt_info: Option<IncomingReceiptInfo>,
    /// The server says the message was recalled (an or-register).
    #[serde(default)]
    pub is_revoked: bool,
}

/// Receipt figures carried on an incoming message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingReceiptInfo {
    /// Server's read count.
    #[serde(default)]
    pub read_count: Option<u64>,
    /// Server's unread count.
    #[serde(default)]
    pub unread_count: Option<u64>,
    /// Server's peer-read flag.
    #[serde(default)]
    pub is_peer_read: Option<bool>,
    /// Server's delivered count.
    #[serde(default)]
    pub delivered_count: Option<u64>,
    /// Server's peer-delivered flag (C2C).
    #[serde(default)]
    pub is_peer_delivered: Option<bool>,
}

/// Checks a payload is a JSON object of bounded size.
pub(crate) fn check_payload(p: &Value) -> Result<String> {
    if !p.is_object() {
        return Err(Error::invalid("payload must be a JSON object"));
    }
    let s = serde_json::to_string(p).map_err(|e| Error::invalid(e.to_string()))?;
    if s.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::invalid(format!(
            "payload is larger than {MAX_PAYLOAD_BYTES} bytes"
        )));
    }
    Ok(s)
}

/// Largest sequence or time the store accepts: one can always be added to it.
pub const MAX_SEQUENCE: i64 = i64::MAX - 1;

/// Checks a sequence or time given as input.
pub(crate) fn check_seq(what: &str, v: i64) -> Result<()> {
    if v > MAX_SEQUENCE {
        return Err(Error::invalid(format!("{what} must be below {}", i64::MAX)));
    }
    Ok(())
}

/// Checks a read position or a time that may not be negative.
pub(crate) fn check_position(what: &str, v: i64) -> Result<()> {
    if v < 0 {
        return Err(Error::invalid(format!("{what} must not be negative")));
    }
    check_seq(what, v)
}
