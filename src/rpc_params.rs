//! The params of each `receiptdb rpc` method, as serde reads them from a
//! request's `params` (PROTOCOL.md, Methods); `rpc.rs` runs the methods.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    ConversationType, IncomingMessage, MarkReport, Member, PushedReadReport, ReadReport,
    ReceiptNotification, Rejection,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigP {
    pub(crate) enabled: Option<bool>,
    pub(crate) group_types: Option<Vec<String>>,
    pub(crate) delivery_receipts: Option<bool>,
    pub(crate) private_reading: Option<bool>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupP {
    #[serde(rename = "groupID")]
    pub(crate) group_id: String,
    pub(crate) group_type: Option<String>,
    #[serde(default)]
    pub(crate) members: Vec<Member>,
    #[serde(rename = "userIDs", default)]
    pub(crate) user_ids: Vec<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateP {
    pub(crate) to: String,
    pub(crate) conversation_type: ConversationType,
    #[serde(default, deserialize_with = "crate::payload::bounded")]
    pub(crate) payload: Option<Value>,
    #[serde(default)]
    pub(crate) need_read_receipt: bool,
}
#[derive(Deserialize)]
pub(crate) struct SentP {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    pub(crate) sequence: i64,
    pub(crate) time: i64,
}
#[derive(Deserialize)]
pub(crate) struct SaveP {
    pub(crate) messages: Vec<IncomingMessage>,
}
#[derive(Deserialize)]
pub(crate) struct IdP {
    #[serde(rename = "messageID")]
    pub(crate) message_id: String,
}
#[derive(Deserialize)]
pub(crate) struct ConvIdP {
    #[serde(rename = "conversationID")]
    pub(crate) conversation_id: String,
}
#[derive(Deserialize)]
pub(crate) struct ConvP {
    #[serde(rename = "conversationID")]
    pub(crate) conversation_id: String,
    #[serde(rename = "nextReqMessageID", default)]
    pub(crate) next_req_message_id: Option<String>,
    #[serde(default)]
    pub(crate) count: Option<i64>,
}
#[derive(Deserialize)]
pub(crate) struct IdsP {
    #[serde(rename = "messageIDs")]
    pub(crate) message_ids: Vec<String>,
}
#[derive(Deserialize)]
pub(crate) struct ReceiptListP {
    #[serde(rename = "messageIDs")]
    pub(crate) message_ids: Vec<String>,
    #[serde(rename = "withDelivery", default)]
    pub(crate) with_delivery: bool,
    #[serde(rename = "withReadTime", default)]
    pub(crate) with_read_time: bool,
}
#[derive(Deserialize)]
pub(crate) struct GroupIdP {
    #[serde(rename = "groupID")]
    pub(crate) group_id: String,
}
#[derive(Deserialize)]
pub(crate) struct GroupMembersP {
    #[serde(rename = "groupID")]
    pub(crate) group_id: String,
    #[serde(default)]
    pub(crate) cursor: Option<String>,
    #[serde(default)]
    pub(crate) count: Option<i64>,
}
#[derive(Deserialize)]
pub(crate) struct MemberListP {
    #[serde(rename = "messageID")]
    pub(crate) message_id: String,
    pub(crate) filter: i64,
    #[serde(default)]
    pub(crate) cursor: Option<String>,
    pub(crate) count: i64,
    #[serde(rename = "withReadTime", default)]
    pub(crate) with_read_time: bool,
}
#[derive(Deserialize)]
pub(crate) struct PendingP {
    #[serde(default)]
    pub(crate) limit: Option<i64>,
}
#[derive(Deserialize)]
pub(crate) struct AckP {
    #[serde(rename = "batchID")]
    pub(crate) batch_id: Value,
    #[serde(default)]
    pub(crate) rejected: Vec<Rejection>,
}
#[derive(Deserialize)]
pub(crate) struct NotesP {
    pub(crate) notifications: Vec<ReceiptNotification>,
}
#[derive(Deserialize)]
pub(crate) struct EmptyP {}
#[derive(Deserialize)]
pub(crate) struct PathP {
    pub(crate) path: String,
}
#[derive(Deserialize)]
pub(crate) struct KeyP {
    pub(crate) key: String,
}
#[derive(Deserialize)]
pub(crate) struct DeleteP {
    pub(crate) path: String,
    #[serde(rename = "userID", default)]
    pub(crate) user_id: Option<String>,
}
#[derive(Deserialize)]
pub(crate) struct ReadP {
    #[serde(rename = "conversationID")]
    pub(crate) conversation_id: String,
    #[serde(default)]
    pub(crate) sequence: Option<i64>,
}
#[derive(Deserialize)]
pub(crate) struct ConvListP {
    #[serde(default)]
    pub(crate) cursor: Option<String>,
    #[serde(default)]
    pub(crate) count: Option<i64>,
}
#[derive(Deserialize)]
pub(crate) struct AckReadP {
    pub(crate) reports: Vec<ReadReport>,
}
#[derive(Deserialize)]
pub(crate) struct PrivateP {
    #[serde(rename = "conversationID")]
    pub(crate) conversation_id: String,
    #[serde(default)]
    pub(crate) enable: Option<bool>,
}
#[derive(Deserialize)]
pub(crate) struct AckMarkP {
    pub(crate) reports: Vec<MarkReport>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MarkP {
    #[serde(rename = "conversationIDList")]
    pub(crate) conversation_id_list: Vec<String>,
    pub(crate) enable_mark: bool,
}
#[derive(Deserialize)]
pub(crate) struct ApplyReadP {
    pub(crate) reports: Vec<PushedReadReport>,
}
#[derive(Deserialize)]
pub(crate) struct EventsP {
    #[serde(default)]
    pub(crate) events: Option<Vec<String>>,
}
