//! `receiptdb rpc`: JSON-RPC 2.0 over lines of standard input and output (SPEC §3).
//!
//! Every line gets one response (requests without an `id` are answered with
//! `id: null`). Events a call causes are written as notifications before
//! its response. `MESSAGE_READ_RECEIPT_RECEIVED` is always on; the other
//! event kinds are opt-in with `subscribe`.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use std::borrow::Cow;

use serde::de::{self, DeserializeOwned, IgnoredAny, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::{
    ConversationType, Error, EventKind, Filter, GroupType, IncomingMessage, Member, MemberFilter,
    PushedReadReport, ReadReport, ReceiptNotification, Rejection, Result, Snapshot, Store,
    Subscription,
};

/// Longest request line accepted, in bytes. A request is never parsed into
/// a tree: its peak memory is the line plus a small multiple of the params
/// its method reads (see `tests/request_memory.rs`).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Names of the event kinds forwarded without `subscribe` (SPEC §3.5).
pub const DEFAULT_EVENTS: &[&str] = &[
    "MESSAGE_READ_RECEIPT_RECEIVED",
    "MESSAGE_READ_BY_PEER",
    "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
];

/// Names of the opt-in event kinds.
pub const OPTIONAL_EVENTS: &[&str] = &[
    "MESSAGES_CHANGED",
    "CONVERSATION_CHANGED",
    "OUTBOX_CHANGED",
    "SNAPSHOT_APPLIED",
];

/// A JSON-RPC session over one shared store: the one in-process request
/// handler behind `receiptdb rpc` and every binding (Node, C). It owns its
/// event subscription, so each call returns the events it caused.
pub struct Session {
    store: Arc<Store>,
    sub: Subscription,
    enabled: HashSet<&'static str>,
}

fn params<T: DeserializeOwned>(p: Node<'_>) -> Result<T> {
    T::deserialize(p).map_err(|e| Error::invalid(e.to_string()))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Sqlite(e.to_string(), None))
}

/// Longest error message, so bad input is never echoed back in full.
const MAX_MESSAGE_CHARS: usize = 200;

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `error.data` of a failed call: the symbolic name of SPEC §4.
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

fn plain_error(code: i64, name: &str, message: &str) -> Value {
    json!({"code": code, "message": clip(message), "data": {"name": name}})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigP {
    enabled: Option<bool>,
    group_types: Option<Vec<String>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupP {
    #[serde(rename = "groupID")]
    group_id: String,
    group_type: Option<String>,
    #[serde(default)]
    members: Vec<Member>,
    #[serde(rename = "userIDs", default)]
    user_ids: Vec<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateP {
    to: String,
    conversation_type: ConversationType,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    need_read_receipt: bool,
}
#[derive(Deserialize)]
struct SentP {
    #[serde(rename = "ID")]
    id: String,
    sequence: i64,
    time: i64,
}
#[derive(Deserialize)]
struct SaveP {
    messages: Vec<IncomingMessage>,
}
#[derive(Deserialize)]
struct IdP {
    #[serde(rename = "messageID")]
    message_id: String,
}
#[derive(Deserialize)]
struct ConvP {
    #[serde(rename = "conversationID")]
    conversation_id: String,
    #[serde(rename = "nextReqMessageID", default)]
    next_req_message_id: Option<String>,
    #[serde(default)]
    count: Option<i64>,
}
#[derive(Deserialize)]
struct IdsP {
    #[serde(rename = "messageIDs")]
    message_ids: Vec<String>,
}
#[derive(Deserialize)]
struct MemberListP {
    #[serde(rename = "messageID")]
    message_id: String,
    filter: i64,
    #[serde(default)]
    cursor: Option<String>,
    count: i64,
}
#[derive(Deserialize)]
struct PendingP {
    #[serde(default)]
    limit: Option<i64>,
}
#[derive(Deserialize)]
struct AckP {
    #[serde(rename = "batchID")]
    batch_id: Value,
    #[serde(default)]
    rejected: Vec<Rejection>,
}
#[derive(Deserialize)]
struct NotesP {
    notifications: Vec<ReceiptNotification>,
}
#[derive(Deserialize)]
struct EmptyP {}
#[derive(Deserialize)]
struct ReadP {
    #[serde(rename = "conversationID")]
    conversation_id: String,
    #[serde(default)]
    sequence: Option<i64>,
}
#[derive(Deserialize)]
struct ConvListP {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    count: Option<i64>,
}
#[derive(Deserialize)]
struct AckReadP {
    reports: Vec<ReadReport>,
}
#[derive(Deserialize)]
struct ApplyReadP {
    reports: Vec<PushedReadReport>,
}
#[derive(Deserialize)]
struct EventsP {
    #[serde(default)]
    events: Option<Vec<String>>,
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
        let sub = store.subscribe_with_capacity(Filter::All, 1 << 16);
        Session {
            store,
            sub,
            enabled: HashSet::new(),
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
        let body = match result {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(plain_error(
                -32601,
                "METHOD_NOT_FOUND",
                &format!("unknown method {method:?}"),
            )),
            Err(e) => Err(error_object(&e)),
        };
        out.push(response(&id, body).to_string());
        out
    }

    fn drain_events(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(ev) = self.sub.receiver().try_recv() {
            let (name, params) = match ev.kind {
                EventKind::ReceiptsChanged(items) => {
                    ("MESSAGE_READ_RECEIPT_RECEIVED", json!({"data": items}))
                }
                EventKind::MessagesChanged(items) => (
                    "MESSAGES_CHANGED",
                    json!({"data": items.iter().map(|(c, m)| json!({"conversationID": c, "messageID": m})).collect::<Vec<_>>()}),
                ),
                EventKind::ConversationChanged {
                    conversation_id,
                    unread_count,
                    read_sequence,
                    peer_read_sequence,
                } => (
                    "CONVERSATION_CHANGED",
                    json!({
                        "conversationID": conversation_id,
                        "unreadCount": unread_count,
                        "readSequence": read_sequence,
                        "peerReadSequence": peer_read_sequence,
                    }),
                ),
                EventKind::MessagesReadByPeer(items) => {
                    ("MESSAGE_READ_BY_PEER", json!({"data": items}))
                }
                EventKind::TotalUnreadChanged(n) => {
                    ("TOTAL_UNREAD_MESSAGE_COUNT_UPDATED", json!({"data": n}))
                }
                EventKind::OutboxChanged { pending } => {
                    ("OUTBOX_CHANGED", json!({"pending": pending}))
                }
                EventKind::SnapshotApplied {
                    conversation_id,
                    changed,
                } => (
                    "SNAPSHOT_APPLIED",
                    json!({"conversationID": conversation_id, "changed": changed}),
                ),
                EventKind::Lagged { missed } => ("LAGGED", json!({"missed": missed})),
            };
            if !DEFAULT_EVENTS.contains(&name) && name != "LAGGED" && !self.enabled.contains(name) {
                continue;
            }
            let mut params = params;
            if let Value::Object(o) = &mut params {
                o.insert("commitSeq".into(), json!(ev.commit_seq));
            }
            out.push(json!({"jsonrpc": "2.0", "method": name, "params": params}).to_string());
        }
        out
    }

    /// Runs one method; `Ok(None)` when the method is unknown.
    fn call(&mut self, method: &str, p: Node<'_>) -> Result<Option<Value>> {
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
                s.update_receipt_config(c.enabled, group_types.as_deref())?;
                json!({})
            }
            "getReceiptConfig" => to_value(&s.get_receipt_config()?)?,
            "setGroup" => {
                let g: GroupP = params(p)?;
                let t = g
                    .group_type
                    .as_deref()
                    .ok_or_else(|| Error::invalid("groupType is required"))?;
                s.set_group(&g.group_id, group_type(t)?, &g.members)?;
                json!({})
            }
            "addGroupMembers" => {
                let g: GroupP = params(p)?;
                s.add_group_members(&g.group_id, &g.members)?;
                json!({})
            }
            "removeGroupMembers" => {
                let g: GroupP = params(p)?;
                s.remove_group_members(&g.group_id, &g.user_ids)?;
                json!({})
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
                json!({"saved": s.save_messages(&m.messages)?})
            }
            "findMessage" => {
                let m: IdP = params(p)?;
                to_value(&s.find_message(&m.message_id)?)?
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
                json!({"readSequence": s.set_message_read(&c.conversation_id, c.sequence)?})
            }
            "setAllMessageRead" => {
                let _: EmptyP = params(p)?;
                json!({"conversations": s.set_all_message_read()?})
            }
            "getTotalUnreadMessageCount" => {
                let _: EmptyP = params(p)?;
                json!({"totalUnreadCount": s.get_total_unread_message_count()?})
            }
            "getConversationList" => {
                let c: ConvListP = params(p)?;
                let count = c.count.map(|n| count_in(n, "count")).transpose()?;
                to_value(&s.get_conversation_list(c.cursor.as_deref(), count)?)?
            }
            "ackReadReports" => {
                let a: AckReadP = params(p)?;
                json!({"acked": s.ack_read_reports(&a.reports)?})
            }
            "applyReadReports" => {
                let a: ApplyReadP = params(p)?;
                json!({"changed": s.apply_read_reports(&a.reports)?})
            }
            "sendMessageReadReceipt" => {
                let m: IdsP = params(p)?;
                json!({"queued": s.send_message_read_receipt(&m.message_ids)?})
            }
            "getMessageReadReceiptList" => {
                let m: IdsP = params(p)?;
                json!({"messageList": s.get_message_read_receipt_list(&m.message_ids)?})
            }
            "getGroupMessageReadMemberList" => {
                let m: MemberListP = params(p)?;
                let f = MemberFilter::from_code(m.filter)?;
                let count = count_in(m.count, "count")?;
                to_value(&s.get_group_message_read_member_list(
                    &m.message_id,
                    f,
                    m.cursor.as_deref().unwrap_or(""),
                    count,
                )?)?
            }
            "getPendingReceipts" => {
                let m: PendingP = params(p)?;
                let limit = match m.limit {
                    None => None,
                    Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    Some(_) => return Err(Error::invalid("limit must be positive")),
                };
                json!({
                    "batches": s.get_pending_receipts(limit)?,
                    "readReports": s.get_pending_read_reports()?,
                })
            }
            "ackReceipts" => {
                let a: AckP = params(p)?;
                let id = match &a.batch_id {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(Error::invalid("batchID must be a string")),
                };
                json!({"acked": s.ack_receipts(&id, &a.rejected)?})
            }
            "applyReceiptNotifications" => {
                let n: NotesP = params(p)?;
                json!({"changed": s.apply_receipt_notifications(&n.notifications)?})
            }
            "applySnapshot" => {
                let snap: Snapshot = params(p)?;
                json!({"changed": s.apply_snapshot(&snap)?})
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
                json!({"events": on})
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

// Parsing a request without a tree.
//
// A request line used to be parsed into a `serde_json::Value` and its params
// cloned: ~33x the line in memory. Now the line is read three times, never
// copied: `Check` validates it as a `Value` parse would (same errors, same
// positions); `Envelope` takes `id`, `method` and `params` as borrowed
// `RawValue`s (the last of duplicate keys wins, as in a `Value` map); and
// `Node` deserializes each method's params straight from the raw text with
// the exact behaviour of `Value`'s deserializer: object members in key order
// (a `Value` map is sorted), the last of duplicate keys kept, the same
// errors. Members a method does not read are skipped without being parsed.

/// Validates any JSON value, keeping nothing.
struct Check;

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Check, D::Error> {
        d.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Check;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_unit<E>(self) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Check, A::Error> {
        while a.next_element::<Check>()?.is_some() {}
        Ok(Check)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> std::result::Result<Check, A::Error> {
        while a.next_key::<Check>()?.is_some() {
            a.next_value::<Check>()?;
        }
        Ok(Check)
    }
}

/// The members of a request object that the server reads.
#[derive(Default)]
struct Envelope<'a> {
    id: Option<&'a RawValue>,
    method: Option<&'a RawValue>,
    params: Option<&'a RawValue>,
}

enum EnvelopeKey {
    Id,
    Method,
    Params,
    Other,
}

impl<'de> Deserialize<'de> for EnvelopeKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnvelopeKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, k: &str) -> std::result::Result<EnvelopeKey, E> {
                Ok(match k {
                    "id" => EnvelopeKey::Id,
                    "method" => EnvelopeKey::Method,
                    "params" => EnvelopeKey::Params,
                    _ => EnvelopeKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a request object")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Envelope<'de>, A::Error> {
                let mut env = Envelope::default();
                while let Some(k) = a.next_key::<EnvelopeKey>()? {
                    match k {
                        EnvelopeKey::Id => env.id = Some(a.next_value()?),
                        EnvelopeKey::Method => env.method = Some(a.next_value()?),
                        EnvelopeKey::Params => env.params = Some(a.next_value()?),
                        EnvelopeKey::Other => {
                            a.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V)
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of the (validated) JSON value starting at `i`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

/// The elements of a validated array or the members of a validated object
/// (`(raw key, value)`), in text order.
struct Items<'a> {
    text: &'a str,
    pos: usize,
    object: bool,
}

impl<'a> Items<'a> {
    fn new(text: &'a str, object: bool) -> Items<'a> {
        Items {
            text,
            pos: 1,
            object,
        }
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.pos);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        let mut key = "";
        if self.object {
            if b.get(i) != Some(&b'"') {
                self.pos = b.len();
                return None;
            }
            let end = string_end(b, i);
            key = self.text.get(i..end)?;
            i = skip_ws(b, end);
            i = skip_ws(b, i + 1); // the colon
        } else if matches!(b.get(i), None | Some(b']')) {
            self.pos = b.len();
            return None;
        }
        let end = value_end(b, i);
        self.pos = end;
        Some((key, self.text.get(i..end)?))
    }
}

type JsonError = serde_json::Error;
type JsonResult<T> = std::result::Result<T, JsonError>;

/// A raw object key, decoded.
fn key_text(raw: &str) -> JsonResult<Cow<'_, str>> {
    match raw.get(1..raw.len().saturating_sub(1)) {
        Some(k) if !raw.contains('\\') => Ok(Cow::Borrowed(k)),
        _ => serde_json::from_str::<String>(raw).map(Cow::Owned),
    }
}

/// An object's members as a `Value` map has them: sorted by key, the last
/// of duplicate keys kept.
fn members(text: &str) -> JsonResult<Vec<(Cow<'_, str>, &str)>> {
    let mut v = Vec::new();
    for (k, val) in Items::new(text, true) {
        v.push((key_text(k)?, val));
    }
    v.reverse();
    v.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the last in the text comes first
    v.dedup_by(|later, first| later.0 == first.0);
    Ok(v)
}

/// One validated JSON value as raw text (no surrounding whitespace),
/// deserialized exactly as `serde_json::Value`'s deserializer would, without
/// building the value. Scalars go through a `Value` (they are small).
#[derive(Clone, Copy)]
pub(crate) struct Node<'a>(&'a str);

enum Kind {
    Object,
    Array,
    Scalar,
}

impl<'a> Node<'a> {
    fn kind(&self) -> Kind {
        match self.0.as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            _ => Kind::Scalar,
        }
    }
    fn scalar(self) -> JsonResult<Value> {
        serde_json::from_str(self.0)
    }
    fn visit_object<'de, V: Visitor<'de>>(self, visitor: V) -> JsonResult<V::Value> {
        let entries = members(self.0)?;
        let len = entries.len();
        let mut m = MapNode {
            iter: entries.into_iter(),
            value: None,
        };
        let out = visitor.visit_map(&mut m)?;
        if m.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(len, &"fewer elements in map"))
        }
    }
    fn visit_array<'de, V: Visitor<'de>>(self, visitor: V) -> JsonResult<V::Value> {
        let len = Items::new(self.0, false).count();
        let mut s = SeqNode {
            iter: Items::new(self.0, false),
            left: len,
        };
        let out = visitor.visit_seq(&mut s)?;
        if s.left == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(len, &"fewer elements in array"))
        }
    }
}

/// What `Value::unexpected` says of a scalar.
fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct MapNode<'a> {
    iter: std::vec::IntoIter<(Cow<'a, str>, &'a str)>,
    value: Option<&'a str>,
}

impl<'de> de::MapAccess<'de> for MapNode<'_> {
    type Error = JsonError;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> JsonResult<Option<K::Value>> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let k: String = k.into_owned();
                seed.deserialize(de::value::StringDeserializer::<JsonError>::new(k))
                    .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> JsonResult<V::Value> {
        match self.value.take() {
            Some(v) => seed.deserialize(Node(v)),
            None => Err(de::Error::custom("value is missing")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct SeqNode<'a> {
    iter: Items<'a>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for SeqNode<'_> {
    type Error = JsonError;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> JsonResult<Option<T::Value>> {
        match self.iter.next() {
            Some((_, v)) => {
                self.left = self.left.saturating_sub(1);
                seed.deserialize(Node(v)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum given as a map with one key (`Value`'s `EnumDeserializer`).
struct EnumNode<'a> {
    variant: String,
    value: Node<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumNode<'a> {
    type Error = JsonError;
    type Variant = Node<'a>;
    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> JsonResult<(V::Value, Node<'a>)> {
        let v = seed.deserialize(de::value::StringDeserializer::<JsonError>::new(
            self.variant,
        ))?;
        Ok((v, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Node<'_> {
    type Error = JsonError;
    fn unit_variant(self) -> JsonResult<()> {
        <()>::deserialize(self)
    }
    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> JsonResult<T::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array if Items::new(self.0, false).next().is_none() => visitor.visit_unit(),
            Kind::Array => self.visit_array(visitor),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &"tuple variant")),
            Kind::Scalar => Err(de::Error::invalid_type(
                unexpected(&self.scalar()?),
                &"tuple variant",
            )),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(visitor),
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &"struct variant")),
            Kind::Scalar => Err(de::Error::invalid_type(
                unexpected(&self.scalar()?),
                &"struct variant",
            )),
        }
    }
}

/// Methods where an object or an array is always the wrong type.
macro_rules! scalar_only {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
            match self.kind() {
                Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
                Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &v)),
                Kind::Scalar => de::Deserializer::$method(self.scalar()?, v),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Node<'_> {
    type Error = JsonError;

    scalar_only!(deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_unit deserialize_identifier);

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(v),
            Kind::Array => self.visit_array(v),
            Kind::Scalar => de::Deserializer::deserialize_any(self.scalar()?, v),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object | Kind::Array => v.visit_some(self),
            Kind::Scalar => de::Deserializer::deserialize_option(self.scalar()?, v),
        }
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &v)),
            Kind::Scalar => de::Deserializer::deserialize_unit_struct(self.scalar()?, name, v),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object | Kind::Array => v.visit_newtype_struct(self),
            Kind::Scalar => de::Deserializer::deserialize_newtype_struct(self.scalar()?, name, v),
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array => self.visit_array(v),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Scalar => de::Deserializer::deserialize_seq(self.scalar()?, v),
        }
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array => self.visit_array(v),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Scalar => de::Deserializer::deserialize_bytes(self.scalar()?, v),
        }
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array => self.visit_array(v),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Scalar => de::Deserializer::deserialize_byte_buf(self.scalar()?, v),
        }
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> JsonResult<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> JsonResult<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(v),
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &v)),
            Kind::Scalar => de::Deserializer::deserialize_map(self.scalar()?, v),
        }
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(v),
            Kind::Array => self.visit_array(v),
            Kind::Scalar => de::Deserializer::deserialize_struct(self.scalar()?, name, fields, v),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => {
                let mut entries = members(self.0)?;
                if entries.len() != 1 {
                    return Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    ));
                }
                match entries.pop() {
                    Some((k, val)) => v.visit_enum(EnumNode {
                        variant: k.into_owned(),
                        value: Node(val),
                    }),
                    None => Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &"string or map")),
            Kind::Scalar => de::Deserializer::deserialize_enum(self.scalar()?, name, variants, v),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        v.visit_unit()
    }
}
