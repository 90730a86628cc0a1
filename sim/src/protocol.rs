//! What passes between the harness and a server: the same types for a Rust
//! server behind [`SyncServer`](crate::SyncServer) and, as JSON lines, for a
//! server process (`--server-cmd`, docs/SIM-SERVER.md). The payloads a
//! server sends to clients are the store's own transport types, in the JSON
//! of the rpc surface (`saveMessages`, `applyReceiptNotifications`,
//! `applySnapshot`, `ackReceipts`, `ackReadReports`, `applyReadReports`).

use std::collections::BTreeMap;

use receiptdb::{
    GroupType, IncomingMessage, MarkReport, PushedReadReport, ReadReport, ReceiptNotification,
    Rejection, Snapshot,
};
use serde::{Deserialize, Serialize};

/// The protocol version of this harness. Every change to the protocol bumps
/// it; a server that answers another version is refused.
/// Version 2 added deliveries, read times, private read reports and unread
/// marks; version 3 has the server push recalls (`isRevoked`) to devices
/// (docs/SIM-SERVER.md, "Version 2", "Version 3").
pub const PROTOCOL_VERSION: u32 = 3;

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
    /// positions to the user's other devices and (C2C, unless `private`)
    /// the peer's.
    ReadReports {
        /// The device.
        device: usize,
        /// The reports.
        reports: Vec<ReadReport>,
    },
    /// A device sent a batch of delivery acks (`deliveryBatches`): answer
    /// with a `deliveryAck`, tell the senders' devices who received what.
    Deliveries {
        /// The device.
        device: usize,
        /// The batch ID (`d<n>`) to acknowledge.
        #[serde(rename = "batchID")]
        batch_id: String,
        /// The messages received.
        #[serde(rename = "messageIDs")]
        message_ids: Vec<String>,
    },
    /// A device sent its unread marks (`markReports`): answer with a
    /// `markAck`, push changed marks to the user's other devices.
    MarkReports {
        /// The device.
        device: usize,
        /// The marks and unmarks.
        reports: Vec<MarkReport>,
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
    /// A message was recalled: receipts for it are refused from now on,
    /// and every device of its recipients is sent it with `isRevoked`.
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
            Input::Deliveries { .. } => "deliveries",
            Input::MarkReports { .. } => "markReports",
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
    /// (`applyReadReports`), with read times and unread marks.
    ReadPush {
        /// The positions.
        reports: Vec<PushedReadReport>,
    },
    /// The answer to a delivery batch (`ackDeliveryReceipts`).
    DeliveryAck {
        /// The batch.
        #[serde(rename = "batchID")]
        batch_id: String,
    },
    /// The marks the server now holds (`ackMarkReports`).
    MarkAck {
        /// The marks, as the device sent them.
        reports: Vec<MarkReport>,
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
            ToClient::DeliveryAck { .. } => "deliveryAck",
            ToClient::MarkAck { .. } => "markAck",
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
    /// A user's read positions as C2C peers may see them: from reports
    /// that were not `private` (answered as `positions`).
    PeerPositions {
        /// The user.
        #[serde(rename = "userID")]
        user_id: String,
    },
    /// Who received these messages (readers included).
    Delivered {
        /// The messages.
        #[serde(rename = "messageIDs")]
        message_ids: Vec<String>,
    },
    /// When each reader of these messages read them (the earliest receipt).
    ReadTimes {
        /// The messages.
        #[serde(rename = "messageIDs")]
        message_ids: Vec<String>,
    },
    /// A user's unread-mark registers per conversation.
    Marks {
        /// The user.
        #[serde(rename = "userID")]
        user_id: String,
    },
}

/// The registers of a conversation's unread mark on the server
/// (PROTOCOL.md, Unread marks): unix milliseconds, 0 while unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkState {
    /// The newest read to the end.
    #[serde(default)]
    pub read_time: i64,
    /// Whether the newest mark event is a mark.
    #[serde(default)]
    pub marked: bool,
    /// The newest mark or unmark.
    #[serde(default)]
    pub mark_time: i64,
}

impl MarkState {
    /// Whether the conversation shows the mark: the newest event is a
    /// mark, after the newest read to the end (a tie goes to the read).
    pub fn shows(&self) -> bool {
        self.marked && self.mark_time > self.read_time
    }

    /// Joins a mark (`on`) or unmark at `t`: the newer wins, and at one
    /// time the unmark. Whether it changed.
    pub fn join_mark(&mut self, on: bool, t: i64) -> bool {
        if t > self.mark_time || (t == self.mark_time && self.marked && !on) {
            self.marked = on;
            self.mark_time = t;
            return true;
        }
        false
    }
}
