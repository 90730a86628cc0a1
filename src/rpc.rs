//! `receiptdb rpc`: JSON-RPC 2.0 over lines of standard input and output (PROTOCOL.md, Methods).
//!
//! Every line gets one response (requests without an `id` are answered with
//! `id: null`). Events a call causes are written as notifications before
//! its response. `MESSAGE_READ_RECEIPT_RECEIVED` is always on; the other
//! event kinds are opt-in with `subscribe`.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::rpc_params::{
    AckMarkP, AckP, AckReadP, ApplyReadP, ConfigP, ConvIdP, ConvListP, ConvP, CreateP, DeleteP,
    EmptyP, EventsP, GroupIdP, GroupMembersP, GroupP, IdP, IdsP, KeyP, MarkP, MemberListP, NotesP,
    PathP, PendingP, PrivateP, ReadP, ReceiptListP, SaveP, SentP,
};
use crate::wire::{Check, Envelope, Node};
use crate::{
    Error, EventKind, Filter, GroupType, MemberFilter, ReceiptConfigPatch, Result, Snapshot, Store,
    Subscription,
};

/// Longest request line accepted, in bytes. A request is never parsed into
/// a tree: its peak memory is the line plus a small multiple of the params
/// its method reads (see `tests/request_memory.rs`).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Every method the handler serves, in the order of docs/PROTOCOL.md: the
/// one list. `tests/protocol_doc.rs` checks it against the handler's match
/// and the doc's headings; the Node package checks its method table against
/// it (the addon reports it at load).
pub const METHODS: &[&str] = &[
    "setReceiptConfig",
    "getReceiptConfig",
    "setGroup",
    "addGroupMembers",
    "removeGroupMembers",
    "getGroup",
    "getGroupMemberList",
    "createMessage",
    "markMessageSent",
    "saveMessages",
    "findMessage",
    "deleteMessages",
    "clearHistory",
    "getMessageList",
    "getConversation",
    "getConversationList",
    "setMessageRead",
    "setAllMessageRead",
    "getTotalUnreadMessageCount",
    "markConversationUnread",
    "setConversationPrivateReading",
    "sendMessageReadReceipt",
    "getMessageReadReceiptList",
    "getGroupMessageReadMemberList",
    "getPendingReceipts",
    "ackReadReports",
    "ackMarkReports",
    "ackReceipts",
    "ackDeliveryReceipts",
    "applyReceiptNotifications",
    "applySnapshot",
    "applyReadReports",
    "subscribe",
    "unsubscribe",
    "verify",
    "backup",
    "restore",
    "compact",
    "deleteStore",
    "rekey",
];

/// Names of the event kinds forwarded without `subscribe` (PROTOCOL.md, Events).
pub const DEFAULT_EVENTS: &[&str] = &[
    "MESSAGE_READ_RECEIPT_RECEIVED",
    "MESSAGE_READ_BY_PEER",
    "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
    "STORE_RESTORED",
];

/// Names of the opt-in event kinds.
pub const OPTIONAL_EVENTS: &[&str] = &[
    "MESSAGE_DELIVERY_RECEIPT_RECEIVED",
    "MESSAGES_CHANGED",
    "MESSAGES_DELETED",
    "CONVERSATION_CHANGED",
    "OUTBOX_CHANGED",
    "SNAPSHOT_APPLIED",
];

/// A JSON-RPC session over one shared store: the one in-process request
/// handler behind `receiptdb rpc` and every binding (Node, C). It owns its
/// event subscription, so each call returns the events it caused.
pub struct Session {
    store: Arc<Store>,
    /// `None` while forwarding is off ([`Session::set_forwarding`]).
    sub: Option<Subscription>,
    enabled: HashSet<&'static str>,
}

fn params<T: DeserializeOwned>(p: Node<'_>) -> Result<T> {
    T::deserialize(p).map_err(|e| Error::invalid(e.to_string()))
}

/// A result as JSON text, serialized straight from its type: no `Value`
/// tree on the way (a page of 100 IDs cost 13 µs as a tree, 2 µs as text).
fn to_value<T: serde::Serialize + ?Sized>(v: &T) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(v).map_err(|e| Error::internal(e.to_string()))
}

/// `{"key": value}` as JSON text, straight from `value`'s type.
fn one<T: serde::Serialize>(key: &str, value: T) -> Result<Box<RawValue>> {
    to_value(&std::collections::BTreeMap::from([(key, value)]))
}

/// Longest error message, so bad input is never echoed back in full.
const MAX_MESSAGE_CHARS: usize = 200;

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `error.data` of a failed call: the symbolic name of PROTOCOL.md, Errors.
fn error_data(e: &Error) -> Value {
    json!({ "name": e.name() })
}

/// The error object of a failed call.
pub fn error_object(e: &Error) -> Value {
    json!({"code": e.code(), "message": clip(&e.to_string()), "data": error_data(e)})
}

fn response(id: &Value, body: std::result::Result<Value, Value>) -> Value {
    match body {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e}),
    }
}

/// A success line, the result's text as it is: the same keys, in the same
/// order, as [`response`] writes.
fn result_line(id: &Value, result: &RawValue) -> String {
    format!(r#"{{"id":{id},"jsonrpc":"2.0","result":{}}}"#, result.get())
}

fn plain_error(code: i64, name: &str, message: &str) -> Value {
    json!({"code": code, "message": clip(message), "data": {"name": name}})
}

/// The name of an event kind's notification (PROTOCOL.md, Events).
fn event_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::ReceiptsChanged(_) => "MESSAGE_READ_RECEIPT_RECEIVED",
        EventKind::DeliveriesChanged(_) => "MESSAGE_DELIVERY_RECEIPT_RECEIVED",
        EventKind::MessagesChanged(_) => "MESSAGES_CHANGED",
        EventKind::MessagesDeleted(_) => "MESSAGES_DELETED",
        EventKind::ConversationChanged { .. } => "CONVERSATION_CHANGED",
        EventKind::MessagesReadByPeer(_) => "MESSAGE_READ_BY_PEER",
        EventKind::TotalUnreadChanged(_) => "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
        EventKind::OutboxChanged { .. } => "OUTBOX_CHANGED",
        EventKind::SnapshotApplied { .. } => "SNAPSHOT_APPLIED",
        EventKind::Lagged { .. } => "LAGGED",
        EventKind::StoreRestored => "STORE_RESTORED",
    }
}

/// A notification line: `params` (an object's JSON text) with `commitSeq`
/// put first. Params that could not be written (no event's can fail) leave
/// `commitSeq` alone.
fn event_line(name: &str, seq: u64, params: Result<Box<RawValue>>) -> String {
    let text = params.as_deref().map_or("{}", RawValue::get);
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or("");
    let sep = if inner.is_empty() { "" } else { "," };
    format!(r#"{{"jsonrpc":"2.0","method":"{name}","params":{{"commitSeq":{seq}{sep}{inner}}}}}"#)
}

/// `{data: [{conversationID, messageID}]}` of an event about messages.
fn pairs_json(items: &[(String, String)]) -> Value {
    json!({"data": items.iter().map(|(c, m)| json!({"conversationID": c, "messageID": m})).collect::<Vec<_>>()})
}

fn group_type(s: &str) -> Result<GroupType> {
    GroupType::parse(s)
}

fn count_in(v: i64, what: &str) -> Result<u32> {
    if (1..=100).contains(&v) {
        Ok(v as u32)
    } else {
        Err(Error::invalid(format!("{what} must be 1..100")))
    }
}

impl Session {
    /// Starts a session; receipt events are forwarded from now on.
    pub fn new(store: Arc<Store>) -> Session {
        let sub = Some(store.subscribe_with_capacity(Filter::All, 1 << 16));
        Session {
            store,
            sub,
            enabled: HashSet::new(),
        }
    }

    /// Whether calls return the events of their commits (on from the
    /// start). A binding with no listener turns it off: with nobody
    /// subscribed, a write skips reading what its events would carry, and
    /// no event line is written. Turned on again, it forwards the events of
    /// later commits; those committed while it was off are not replayed.
    /// Opt-in choices (`subscribe`) are kept either way.
    pub fn set_forwarding(&mut self, on: bool) {
        match (on, self.sub.is_some()) {
            (true, false) => {
                self.sub = Some(self.store.subscribe_with_capacity(Filter::All, 1 << 16));
            }
            (false, true) => self.sub = None,
            _ => {}
        }
    }

    /// Opens the store at `path` for `user_id` and starts a session on it.
    /// On failure the error is what [`open_error_line`] writes.
    pub fn open(path: impl AsRef<std::path::Path>, user_id: &str) -> Result<Session> {
        Ok(Session::new(Arc::new(Store::open(path, user_id)?)))
    }

    /// The store this session serves.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Handles one request given as raw bytes (no trailing newline), as a
    /// binding receives it: not UTF-8 or blank is `-32700`, over
    /// [`MAX_LINE_BYTES`] is `INVALID_PARAMS`; otherwise [`Session::handle_line`].
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Vec<String> {
        if bytes.len() > MAX_LINE_BYTES {
            return vec![too_long_line(bytes.len())];
        }
        match std::str::from_utf8(bytes) {
            Err(_) => vec![not_utf8_line()],
            Ok(text) if text.trim().is_empty() => {
                let err = plain_error(-32700, "PARSE_ERROR", "parse error: empty request");
                vec![response(&Value::Null, Err(err)).to_string()]
            }
            Ok(text) => self.handle_line(text.trim_end_matches(['\r', '\n'])),
        }
    }

    /// Handles one request line; returns the lines to write (events first,
    /// then exactly one response).
    pub fn handle_line(&mut self, line: &str) -> Vec<String> {
        // The whole line is checked exactly as a `Value` parse would check
        // it (same errors, same positions), without building the tree.
        if let Err(e) = serde_json::from_str::<Check>(line) {
            let err = plain_error(-32700, "PARSE_ERROR", &format!("parse error: {e}"));
            return vec![response(&Value::Null, Err(err)).to_string()];
        }
        let env = match line.trim_start().as_bytes().first() {
            Some(b'{') => serde_json::from_str::<Envelope>(line).ok(),
            _ => None,
        };
        let Some(env) = env else {
            return vec![invalid_request(&Value::Null)];
        };
        // Only a string, a number or null is an id; anything else is `null`.
        let id = match env.id.map(|r| r.get()) {
            Some(t)
                if t.starts_with(['"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) =>
            {
                serde_json::from_str::<Value>(t).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        let method = match env.method.map(|r| r.get()) {
            Some(t) if t.starts_with('"') => match serde_json::from_str::<String>(t) {
                Ok(m) => m,
                Err(_) => return vec![invalid_request(&id)],
            },
            _ => return vec![invalid_request(&id)],
        };
        let p = match env.params.map(|r| r.get()) {
            None | Some("null") => Node("{}"),
            Some(t) if t.starts_with('{') => Node(t),
            Some(_) => {
                let e = Error::invalid("params must be an object");
                return vec![response(&id, Err(error_object(&e))).to_string()];
            }
        };
        let result = self.call(&method, p);
        let mut out = self.drain_events();
        out.push(match result {
            Ok(Some(v)) => result_line(&id, &v),
            Ok(None) => {
                let e = plain_error(
                    -32601,
                    "METHOD_NOT_FOUND",
                    &format!("unknown method {method:?}"),
                );
                response(&id, Err(e)).to_string()
            }
            Err(e) => response(&id, Err(error_object(&e))).to_string(),
        });
        out
    }

    fn drain_events(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(sub) = &self.sub else {
            return out;
        };
        while let Ok(ev) = sub.receiver().try_recv() {
            let name = event_name(&ev.kind);
            // Decided before the params are built: most sessions leave the opt-in events off.
            if !DEFAULT_EVENTS.contains(&name) && name != "LAGGED" && !self.enabled.contains(name) {
                continue;
            }
            let params = match ev.kind {
                EventKind::ReceiptsChanged(items) => one("data", items),
                EventKind::DeliveriesChanged(items) => one("data", items),
                EventKind::MessagesChanged(items) | EventKind::MessagesDeleted(items) => {
                    to_value(&pairs_json(&items))
                }
                EventKind::ConversationChanged {
                    conversation_id,
                    unread_count,
                    read_sequence,
                    peer_read_sequence,
                    marked_unread,
                } => {
                    let mut p = json!({
                        "conversationID": conversation_id,
                        "unreadCount": unread_count,
                        "readSequence": read_sequence,
                        "peerReadSequence": peer_read_sequence,
                    });
                    // Left out while unmarked, as in getConversation.
                    if let (true, Value::Object(o)) = (marked_unread, &mut p) {
                        o.insert("markedUnread".into(), Value::Bool(true));
                    }
                    to_value(&p)
                }
                EventKind::MessagesReadByPeer(items) => one("data", items),
                EventKind::TotalUnreadChanged(n) => one("data", n),
                EventKind::OutboxChanged { pending } => one("pending", pending),
                EventKind::SnapshotApplied {
                    conversation_id,
                    changed,
                } => to_value(&json!({"conversationID": conversation_id, "changed": changed})),
                EventKind::Lagged { missed } => one("missed", missed),
                EventKind::StoreRestored => to_value(&json!({})),
            };
            out.push(event_line(name, ev.commit_seq, params));
        }
        out
    }

    /// Runs one method; `Ok(None)` when the method is unknown.
    fn call(&mut self, method: &str, p: Node<'_>) -> Result<Option<Box<RawValue>>> {
        let s = Arc::clone(&self.store);
        let v = match method {
            "setReceiptConfig" => {
                let c: ConfigP = params(p)?;
                let group_types = match c.group_types {
                    Some(v) => Some(
                        v.iter()
                            .map(|t| group_type(t))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    None => None,
                };
                // One write transaction: a concurrent change to the other field survives.
                s.patch_receipt_config(&ReceiptConfigPatch {
                    enabled: c.enabled,
                    group_types,
                    delivery_receipts: c.delivery_receipts,
                    private_reading: c.private_reading,
                })?;
                to_value(&json!({}))?
            }
            "getReceiptConfig" => to_value(&s.get_receipt_config()?)?,
            "setGroup" => {
                let g: GroupP = params(p)?;
                let t = g
                    .group_type
                    .as_deref()
                    .ok_or_else(|| Error::invalid("groupType is required"))?;
                s.set_group(&g.group_id, group_type(t)?, &g.members)?;
                to_value(&json!({}))?
            }
            "addGroupMembers" => {
                let g: GroupP = params(p)?;
                s.add_group_members(&g.group_id, &g.members)?;
                to_value(&json!({}))?
            }
            "removeGroupMembers" => {
                let g: GroupP = params(p)?;
                s.remove_group_members(&g.group_id, &g.user_ids)?;
                to_value(&json!({}))?
            }
            "getGroup" => {
                let g: GroupIdP = params(p)?;
                to_value(&s.get_group(&g.group_id)?)?
            }
            "getGroupMemberList" => {
                let g: GroupMembersP = params(p)?;
                let count = match g.count {
                    None => 100,
                    Some(n) => count_in(n, "count")?,
                };
                to_value(&s.get_group_member_list(
                    &g.group_id,
                    g.cursor.as_deref().unwrap_or(""),
                    count,
                )?)?
            }
            "createMessage" => {
                let c: CreateP = params(p)?;
                let payload = c.payload.unwrap_or_else(|| json!({}));
                to_value(&s.create_message(
                    &c.to,
                    c.conversation_type,
                    &payload,
                    c.need_read_receipt,
                )?)?
            }
            "markMessageSent" => {
                let m: SentP = params(p)?;
                to_value(&s.mark_message_sent(&m.id, m.sequence, m.time)?)?
            }
            "saveMessages" => {
                let m: SaveP = params(p)?;
                one("saved", s.save_messages(&m.messages)?)?
            }
            "findMessage" => {
                let m: IdP = params(p)?;
                to_value(&s.find_message(&m.message_id)?)?
            }
            "deleteMessages" => {
                let m: IdsP = params(p)?;
                one("deleted", s.delete_messages(&m.message_ids)?)?
            }
            "clearHistory" => {
                let c: ConvIdP = params(p)?;
                to_value(&s.clear_history(&c.conversation_id)?)?
            }
            "getMessageList" => {
                let c: ConvP = params(p)?;
                let count = c.count.map(|n| count_in(n, "count")).transpose()?;
                to_value(&s.get_message_list(
                    &c.conversation_id,
                    c.next_req_message_id.as_deref(),
                    count,
                )?)?
            }
            "getConversation" => {
                let c: ConvP = params(p)?;
                to_value(&s.get_conversation(&c.conversation_id)?)?
            }
            "setMessageRead" => {
                let c: ReadP = params(p)?;
                one(
                    "readSequence",
                    s.set_message_read(&c.conversation_id, c.sequence)?,
                )?
            }
            "setAllMessageRead" => {
                let _: EmptyP = params(p)?;
                one("conversations", s.set_all_message_read()?)?
            }
            "verify" => {
                let _: EmptyP = params(p)?;
                to_value(&s.verify()?)?
            }
            #[cfg(not(target_arch = "wasm32"))]
            "backup" => {
                let a: PathP = params(p)?;
                to_value(&s.backup(&a.path)?)?
            }
            #[cfg(not(target_arch = "wasm32"))]
            "restore" => {
                let a: PathP = params(p)?;
                to_value(&s.restore(&a.path)?)?
            }
            #[cfg(not(target_arch = "wasm32"))]
            "compact" => {
                let _: EmptyP = params(p)?;
                to_value(&s.compact()?)?
            }
            #[cfg(not(target_arch = "wasm32"))]
            "rekey" => {
                let a: KeyP = params(p)?;
                s.rekey(&a.key)?;
                to_value(&json!({}))?
            }
            #[cfg(not(target_arch = "wasm32"))]
            "deleteStore" => {
                let a: DeleteP = params(p)?;
                let owner = a.user_id.as_deref().unwrap_or(s.owner());
                let path = crate::storage::copies::resolve(s.path(), &a.path)?;
                one(
                    "deleted",
                    crate::storage::copies::delete_store_with_key(
                        &path,
                        owner,
                        s.key().as_deref(),
                    )?,
                )?
            }
            // Not in the browser build yet (docs/DESIGN.md, The browser).
            #[cfg(target_arch = "wasm32")]
            "backup" | "restore" | "compact" | "deleteStore" | "rekey" => {
                return Err(Error::Io(
                    format!("{method} is not available in the browser build"),
                    None,
                ))
            }
            "getTotalUnreadMessageCount" => {
                let _: EmptyP = params(p)?;
                one("totalUnreadCount", s.get_total_unread_message_count()?)?
            }
            "getConversationList" => {
                let c: ConvListP = params(p)?;
                let count = c.count.map(|n| count_in(n, "count")).transpose()?;
                to_value(&s.get_conversation_list(c.cursor.as_deref(), count)?)?
            }
            "setConversationPrivateReading" => {
                let m: PrivateP = params(p)?;
                one(
                    "privateReading",
                    s.set_conversation_private_reading(&m.conversation_id, m.enable)?,
                )?
            }
            "markConversationUnread" => {
                let m: MarkP = params(p)?;
                one(
                    "changed",
                    s.mark_conversation_unread(&m.conversation_id_list, m.enable_mark)?,
                )?
            }
            "ackMarkReports" => {
                let a: AckMarkP = params(p)?;
                one("acked", s.ack_mark_reports(&a.reports)?)?
            }
            "ackReadReports" => {
                let a: AckReadP = params(p)?;
                one("acked", s.ack_read_reports(&a.reports)?)?
            }
            "applyReadReports" => {
                let a: ApplyReadP = params(p)?;
                one("changed", s.apply_read_reports(&a.reports)?)?
            }
            "sendMessageReadReceipt" => {
                let m: IdsP = params(p)?;
                to_value(&s.send_message_read_receipt_report(&m.message_ids)?)?
            }
            "getMessageReadReceiptList" => {
                let m: ReceiptListP = params(p)?;
                let list = s.get_message_read_receipt_list_with(
                    &m.message_ids,
                    m.with_delivery,
                    m.with_read_time,
                )?;
                one("messageList", list)?
            }
            "getGroupMessageReadMemberList" => {
                let m: MemberListP = params(p)?;
                let f = MemberFilter::from_code(m.filter)?;
                let count = count_in(m.count, "count")?;
                let cursor = m.cursor.as_deref().unwrap_or("");
                let page = if m.with_read_time {
                    s.get_group_message_read_member_list_with_read_times(
                        &m.message_id,
                        f,
                        cursor,
                        count,
                    )?
                } else {
                    s.get_group_message_read_member_list(&m.message_id, f, cursor, count)?
                };
                to_value(&page)?
            }
            "getPendingReceipts" => {
                let m: PendingP = params(p)?;
                let limit = match m.limit {
                    None => None,
                    Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    Some(_) => return Err(Error::invalid("limit must be positive")),
                };
                to_value(&s.get_pending(limit)?)?
            }
            "ackDeliveryReceipts" => {
                let a: AckP = params(p)?;
                let id = match &a.batch_id {
                    Value::String(s) => s.clone(),
                    _ => return Err(Error::invalid("batchID must be a string")),
                };
                one("acked", s.ack_delivery_receipts(&id)?)?
            }
            "ackReceipts" => {
                let a: AckP = params(p)?;
                let id = match &a.batch_id {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(Error::invalid("batchID must be a string")),
                };
                one("acked", s.ack_receipts(&id, &a.rejected)?)?
            }
            "applyReceiptNotifications" => {
                let n: NotesP = params(p)?;
                one("changed", s.apply_receipt_notifications(&n.notifications)?)?
            }
            "applySnapshot" => {
                let snap: Snapshot = params(p)?;
                one("changed", s.apply_snapshot(&snap)?)?
            }
            "subscribe" | "unsubscribe" => {
                let e: EventsP = params(p)?;
                let names: Vec<&'static str> = match e.events {
                    None => OPTIONAL_EVENTS.to_vec(),
                    Some(v) => v
                        .iter()
                        .map(|n| {
                            OPTIONAL_EVENTS
                                .iter()
                                .find(|k| **k == n.as_str())
                                .copied()
                                .ok_or_else(|| Error::invalid(format!("unknown event {n:?}")))
                        })
                        .collect::<Result<_>>()?,
                };
                for n in names {
                    if method == "subscribe" {
                        self.enabled.insert(n);
                    } else {
                        self.enabled.remove(n);
                    }
                }
                let mut on: Vec<&str> = self.enabled.iter().copied().collect();
                on.sort();
                one("events", on)?
            }
            _ => return Ok(None),
        };
        Ok(Some(v))
    }
}

/// Reads one line of at most `max` bytes. `Ok(None)` at end of input;
/// `Ok(Some(Err(len)))` for an over-long line (consumed and dropped).
fn read_line<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<std::result::Result<(), usize>>> {
    buf.clear();
    let mut too_long = 0usize;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if too_long == 0 && buf.len() + part.len() <= max {
            buf.extend_from_slice(part);
        } else {
            too_long = too_long.max(buf.len()) + part.len();
            buf.clear();
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(if too_long > 0 { Err(too_long) } else { Ok(()) }))
}

fn too_long_line(len: usize) -> String {
    let e = Error::invalid(format!(
        "request line of {len} bytes is over the {MAX_LINE_BYTES}-byte limit"
    ));
    response(&Value::Null, Err(error_object(&e))).to_string()
}

fn not_utf8_line() -> String {
    let err = plain_error(-32700, "PARSE_ERROR", "parse error: the line is not UTF-8");
    response(&Value::Null, Err(err)).to_string()
}

/// The line buffer kept between requests; a bigger one is released.
const RETAINED_LINE_BYTES: usize = 1 << 20;

/// Serves requests from `input` until it closes, writing to `output`.
pub fn serve<R: BufRead, W: Write>(
    session: &mut Session,
    mut input: R,
    mut output: W,
) -> io::Result<()> {
    let mut buf = Vec::new();
    while let Some(line) = read_line(&mut input, &mut buf, MAX_LINE_BYTES)? {
        let lines = match line {
            Err(len) => vec![too_long_line(len)],
            Ok(()) => match std::str::from_utf8(&buf) {
                Err(_) => vec![not_utf8_line()],
                Ok(text) => {
                    let text = text.trim_end_matches('\r');
                    if text.trim().is_empty() {
                        continue;
                    }
                    session.handle_line(text)
                }
            },
        };
        for l in lines {
            output.write_all(l.as_bytes())?;
            output.write_all(b"\n")?;
        }
        output.flush()?;
        if buf.capacity() > RETAINED_LINE_BYTES {
            // Give a big line's buffer back instead of holding it while idle.
            buf = Vec::new();
        }
    }
    Ok(())
}

/// The `durability` open option of the bindings (`"normal"`, the default, or
/// `"full"`), read one way for all of them.
pub fn durability_option(given: Option<&str>) -> Result<crate::Durability> {
    match given {
        None | Some("normal") => Ok(crate::Durability::Normal),
        Some("full") => Ok(crate::Durability::Full),
        Some(_) => Err(Error::InvalidParams(
            "durability is \"normal\" or \"full\"".into(),
        )),
    }
}

/// The line written when the store cannot be opened.
pub fn open_error_line(e: &Error) -> String {
    response(&Value::Null, Err(error_object(e))).to_string()
}

fn invalid_request(id: &Value) -> String {
    let err = plain_error(
        -32600,
        "INVALID_REQUEST",
        "a request is an object with a method",
    );
    response(id, Err(err)).to_string()
}
