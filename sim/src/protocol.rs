//! What passes between the harness and a server: the same types for a Rust
//! server behind [`SyncServer`](crate::SyncServer) and, as JSON lines, for a
//! server process (`--server-cmd`, docs/SIM-SERVER.md). The payloads a
//! server sends to clients are the store's own transport types, in the JSON
//! of the rpc surface (`saveMessages`, `applyReceiptNotifications`,
//! `applySnapshot`, `ackReceipts`, `ackReadReports`, `applyReadReports`).

use std::collections::BTreeMap;

use receiptdb::{
    GroupType, IncomingMessage, PushedReadReport, ReadReport, ReceiptNotification, Rejection,
    Snapshot,
};
use serde::{Deserialize, Serialize};

/// The protocol version of this harness. Every change to the protocol bumps
/// it; a server that answers another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// When something happens: the step of the run and the server time of that
/// step (unix seconds, `1700000000 + step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The step.
    pub step: u64,
    /// Unix seconds.
    pub time: i64,
}

/// What the server is told before the first step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    /// [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The run's seed (a server may use it for its own choices).
    pub seed: u64,
    /// Every user ID.
    pub users: Vec<String>,
    /// Every client device, numbered from 0: packets are addressed to these.
    pub devices: Vec<Device>,
    /// Every group with its first roster.
    pub groups: Vec<GroupSetup>,
}

/// A client device and its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device number.
    pub device: usize,
    /// Its user.
    #[serde(rename = "userID")]
    pub user_id: String,
}

/// A group at the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSetup {
    /// The group ID.
    #[serde(rename = "groupID")]
    pub group_id: String,
    /// Its type (`Work`, `Public`, `Meeting`).
    pub group_type: GroupType,
    /// Its members.
    pub members: Vec<MemberSetup>,
}

/// A member and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSetup {
    /// The member.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Unix seconds; `null`: since before any message.
    pub join_time: Option<i64>,
}

/// A message a user sent, as the harness hands it to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    /// Its ID.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// The sender.
    pub from: String,
    /// The group, for a group message.
    #[serde(rename = "groupID")]
    pub group_id: Option<String>,
    /// The peer, for a one-to-one message.
    #[serde(rename = "peerID")]
    pub peer_id: Option<String>,
    /// Send time (unix seconds).
    pub time: i64,
    /// Its sequence in its conversation.
    pub sequence: i64,
    /// Whether it asks for read receipts.
    pub need_read_receipt: bool,
    /// Every user it goes to, its sender included.
    pub recipients: Vec<String>,
}

/// Something the server must take in; it answers with packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Input {
    /// A user sent a message: deliver it to every device of every recipient.
    Message {
        /// The message.
        message: NewMessage,
    },
    /// A device sent a batch of receipts (`getPendingReceipts`): answer
    /// with an `ack` to that device, tell the senders' devices.
    Receipts {
        /// The device.
        device: usize,
        /// The batch ID to acknowledge.
        #[serde(rename = "batchID")]
        batch_id: String,
        /// The messages read.
        #[serde(rename = "messageIDs")]
        message_ids: Vec<String>,
    },
    /// A device sent read reports: answer with a `readAck`, push moved
    /// positions to the user's other devices and (C2C) the peer's.
    ReadReports {
        /// The device.
        device: usize,
        /// The reports.
        reports: Vec<ReadReport>,
    },
    /// A device asks for snapshots of all its user's conversations.
    Sync {
        /// The device.
        device: usize,
        /// Per conversation, the `upto` of the last complete answer it
        /// applied (absent: nothing yet); a server may ignore it.
        since: BTreeMap<String, u64>,
    },
    /// A user joined a group.
    Join {
        /// The group.
        #[serde(rename = "groupID")]
        group_id: String,
        /// The user.
        #[serde(rename = "userID")]
        user_id: String,
        /// Join time (unix seconds).
        time: i64,
    },
    /// A user left a group.
    Leave {
        /// The group.
        #[serde(rename = "groupID")]
        group_id: String,
        /// The user.
        #[serde(rename = "userID")]
        user_id: String,
    },
    /// A message was recalled: receipts for it are refused from now on.
    Recall {
        /// The message.
        #[serde(rename = "messageID")]
        message_id: String,
    },
}

impl Input {
    /// The request's kind, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Message { .. } => "message",
            Input::Receipts { .. } => "receipts",
            Input::ReadReports { .. } => "readReports",
            Input::Sync { .. } => "sync",
            Input::Join { .. } => "join",
            Input::Leave { .. } => "leave",
            Input::Recall { .. } => "recall",
        }
    }
}

/// A packet the server sends to one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// The device.
    pub to: usize,
    /// What it carries.
    #[serde(flatten)]
    pub body: ToClient,
}

/// What a packet to a device carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ToClient {
    /// Messages to save (`saveMessages`).
    Messages {
        /// The messages.
        messages: Vec<IncomingMessage>,
    },
    /// Receipt notifications (`applyReceiptNotifications`).
    Notify {
        /// The notifications.
        notifications: Vec<ReceiptNotification>,
    },
    /// One part of the answer to a sync (`applySnapshot`).
    Snapshot {
        /// The snapshot of one conversation.
        snapshot: Snapshot,
        /// The version this conversation is complete up to once every part
        /// is applied (sent back in the next sync's `since`).
        upto: u64,
        /// This part's number, from 0.
        part: usize,
        /// Parts of this conversation's answer.
        parts: usize,
    },
    /// The answer to a receipt batch (`ackReceipts`).
    Ack {
        /// The batch.
        #[serde(rename = "batchID")]
        batch_id: String,
        /// Receipts refused, with codes.
        rejected: Vec<Rejection>,
    },
    /// The positions the server holds for a device's read reports
    /// (`ackReadReports`).
    ReadAck {
        /// The positions.
        reports: Vec<ReadReport>,
    },
    /// Read positions pushed from the user's other devices or the C2C peer
    /// (`applyReadReports`).
    ReadPush {
        /// The positions.
        reports: Vec<PushedReadReport>,
    },
}

impl ToClient {
    /// The packet's kind, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ToClient::Messages { .. } => "messages",
            ToClient::Notify { .. } => "notify",
            ToClient::Snapshot { .. } => "snapshot",
            ToClient::Ack { .. } => "ack",
            ToClient::ReadAck { .. } => "readAck",
            ToClient::ReadPush { .. } => "readPush",
        }
    }
}

/// The authoritative state the checks compare against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Query {
    /// Who read these messages (users whose receipt the server accepted).
    Readers {
        /// The messages.
        #[serde(rename = "messageIDs")]
        message_ids: Vec<String>,
    },
    /// A user's read position in each conversation the server holds one for.
    Positions {
        /// The user.
        #[serde(rename = "userID")]
        user_id: String,
    },
}
