//! Bad input through `receiptdb rpc`: property-based (proptest)
//! and seeded mutation fuzzing of request lines — random bytes, truncated
//! and nested JSON, wrong types, huge and negative numbers, unicode and
//! SQL-looking IDs, 10 MiB lines, deeply nested payloads.
//!
//! For every line: the server neither panics nor exits, it answers with
//! exactly one JSON-RPC response (notifications may precede it, none may
//! follow it), a failed call emits no event and leaves a logical dump of
//! the store unchanged, and the store stays usable and sound at the end.

mod common;

use std::cell::RefCell;
use std::path::Path;

use common::{dump_db, temp_dir, Reply, Rng, Rpc, OWNER};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use receiptdb::rpc::Session;
use receiptdb::{ConversationType, GroupType, IncomingMessage, Member, Store};
use serde_json::{json, Map, Value};

/// Error codes a bad line may get (PROTOCOL.md, Errors and JSON-RPC); never -32603.
const KNOWN_CODES: &[i64] = &[
    -32700, -32600, -32601, -32602, 2001, 2002, 2003, 2004, 2006, 10062,
];

const METHODS: &[&str] = &[
    "setReceiptConfig",
    "getReceiptConfig",
    "setGroup",
    "addGroupMembers",
    "removeGroupMembers",
    "createMessage",
    "markMessageSent",
    "saveMessages",
    "findMessage",
    "getMessageList",
    "getConversation",
    "setMessageRead",
    "sendMessageReadReceipt",
    "getMessageReadReceiptList",
    "getGroupMessageReadMemberList",
    "getPendingReceipts",
    "ackReceipts",
    "applyReceiptNotifications",
    "applySnapshot",
    "subscribe",
    "unsubscribe",
];

const KEYS: &[&str] = &[
    "ID",
    "messageID",
    "messageIDs",
    "conversationID",
    "conversationType",
    "to",
    "from",
    "payload",
    "needReadReceipt",
    "sequence",
    "time",
    "status",
    "messages",
    "groupID",
    "groupType",
    "members",
    "userID",
    "userIDs",
    "joinTime",
    "enabled",
    "groupTypes",
    "filter",
    "cursor",
    "count",
    "limit",
    "batchID",
    "rejected",
    "code",
    "notifications",
    "receipts",
    "selfRead",
    "readerIDs",
    "readCount",
    "unreadCount",
    "isPeerRead",
    "readReceiptInfo",
    "nextReqMessageID",
    "events",
];

/// Strings that tend to break things: SQL, LIKE wildcards, unicode,
/// control characters, IDs the seeded store holds, lengths at the limit.
fn nasty_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "x'); DROP TABLE messages;--",
        "\" OR 1=1 --",
        "'; DELETE FROM outbox; --",
        "%",
        "_",
        "C2C%",
        "GROUP%",
        "GROUP",
        "C2C",
        "🙂",
        "\u{202e}gnp.exe",
        "e\u{301}",
        "a\u{0}b",
        "\u{7f}",
        "\t",
        "ＡＬＩＣＥ",
        "alice",
        "bob",
        "g",
        "m1",
        "m2",
        "gm1",
        "C2Cbob",
        "GROUPg",
        "b1",
        "b0",
        "b-1",
        "b99999999999999999999",
        "Work",
        "Community",
        "AVChatRoom",
        "C2C",
        "GROUP",
        "unSend",
        "success",
        "MESSAGES_CHANGED",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(256));
    v.push("a".repeat(257));
    v.push("é".repeat(129)); // 258 bytes, 129 characters
    v
}

/// Numbers at and past every bound, as JSON text.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "30",
    "31",
    "100",
    "101",
    "1000",
    "1001",
    "200001",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "1.5",
    "-0.0",
    "1e300",
    "-1e300",
];

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop::sample::select(NUMBERS).prop_map(|n| serde_json::from_str(n).unwrap()),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(nasty_strings()).prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => prop::sample::select(nasty_strings()),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// A request object with a random method (mostly real), id and params.
fn request() -> BoxedStrategy<Value> {
    let method = prop_oneof![
        8 => prop::sample::select(METHODS).prop_map(Value::from),
        1 => leaf(),
    ];
    let id = prop_oneof![
        4 => (0u32..1_000_000).prop_map(Value::from),
        1 => leaf(),
        1 => value(),
    ];
    let params = prop_oneof![
        6 => prop::collection::vec((key(), value()), 0..6)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        1 => value(),
    ];
    (
        method,
        prop::option::weighted(0.9, id),
        prop::option::weighted(0.9, params),
        any::<bool>(),
    )
        .prop_map(|(m, id, p, jsonrpc)| {
            let mut o = Map::new();
            if jsonrpc {
                o.insert("jsonrpc".into(), json!("2.0"));
            }
            o.insert("method".into(), m);
            if let Some(id) = id {
                o.insert("id".into(), id);
            }
            if let Some(p) = p {
                o.insert("params".into(), p);
            }
            Value::Object(o)
        })
        .boxed()
}

/// A request line as bytes: whole, truncated, random bytes, random text,
/// or deep nesting.
fn line() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        5 => request().prop_map(|v| v.to_string().into_bytes()),
        2 => (request(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let s = v.to_string().into_bytes();
            let cut = i.index(s.len());
            s[..cut].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 1..300),
        1 => "\\PC{1,200}".prop_map(String::into_bytes),
        1 => (1usize..3_000, prop::sample::select(vec!["[", "{\"a\":", "{\"params\":"]))
            .prop_map(|(n, open)| open.repeat(n).into_bytes()),
    ]
    .prop_map(sanitize)
    .boxed()
}

/// One line: no newline inside, and not blank (blank lines get no answer).
fn sanitize(mut b: Vec<u8>) -> Vec<u8> {
    for c in b.iter_mut() {
        if *c == b'\n' {
            *c = b' ';
        }
    }
    let blank = match std::str::from_utf8(&b) {
        Ok(s) => s.trim_end_matches('\r').trim().is_empty(),
        Err(_) => false,
    };
    if blank {
        b.push(b'x');
    }
    b
}

/// The id the response must carry: the request's id when the line is a
/// JSON object with a number or string id, else null.
fn expected_id(line: &[u8]) -> Value {
    let v: Option<Value> = std::str::from_utf8(line)
        .ok()
        .and_then(|s| serde_json::from_str(s.trim_end_matches('\r')).ok());
    match v {
        Some(Value::Object(o)) => match o.get("id") {
            Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Checks one response object (its shape; the id when `want_id` is given).
fn check_response(resp: &Value, want_id: Option<&Value>, what: &str) {
    assert_eq!(resp["jsonrpc"], "2.0", "{what}: {resp}");
    if let Some(id) = want_id {
        assert_eq!(&resp["id"], id, "{what}: response id: {resp}");
    }
    match (resp.get("result"), resp.get("error")) {
        (Some(_), None) => {}
        (None, Some(e)) => {
            let code = e["code"]
                .as_i64()
                .unwrap_or_else(|| panic!("{what}: {resp}"));
            assert!(
                KNOWN_CODES.contains(&code),
                "{what}: unexpected error code {code} for bad input: {resp}"
            );
            assert!(e["message"].is_string(), "{what}: {resp}");
            assert!(e["data"]["name"].is_string(), "{what}: {resp}");
        }
        _ => panic!("{what}: exactly one of result/error: {resp}"),
    }
}

/// IDs in the seeded store that templates refer to.
struct Seeded {
    /// An `out` group message that was sent (has a member list).
    o1: String,
    /// An `out` C2C message that was sent.
    c1: String,
    /// An `out` group message not sent yet.
    u1: String,
}

/// A small store with a group, `in` and `out` messages, readers, queued
/// receipts and a handed-out batch.
fn seed_store(path: &Path) -> Seeded {
    let s = Store::open(path, OWNER).expect("open");
    let members: Vec<Member> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|u| Member::new(*u))
        .collect();
    s.set_group("g", GroupType::Work, &members).unwrap();
    let mut msgs: Vec<IncomingMessage> = (1..=6)
        .map(|i| IncomingMessage {
            id: format!("m{i}"),
            conversation_type: Some(ConversationType::C2C),
            from: "bob".into(),
            to: OWNER.into(),
            time: i,
            sequence: i,
            need_read_receipt: true,
            ..Default::default()
        })
        .collect();
    msgs.extend((1..=3).map(|i| IncomingMessage {
        id: format!("gm{i}"),
        conversation_type: Some(ConversationType::Group),
        from: "carol".into(),
        to: "g".into(),
        time: i,
        sequence: i,
        need_read_receipt: true,
        ..Default::default()
    }));
    s.save_messages(&msgs).unwrap();
    let o1 = s
        .create_message("g", ConversationType::Group, &json!({"t": 1}), true)
        .unwrap();
    s.mark_message_sent(&o1.id, 10, 10).unwrap();
    let c1 = s
        .create_message("bob", ConversationType::C2C, &json!({"t": 2}), true)
        .unwrap();
    s.mark_message_sent(&c1.id, 11, 11).unwrap();
    let u1 = s
        .create_message("g", ConversationType::Group, &json!({"t": 3}), true)
        .unwrap();
    s.send_message_read_receipt(&["m1".into(), "m2".into()])
        .unwrap();
    s.get_pending_receipts(None).unwrap();
    s.send_message_read_receipt(&["m3".into()]).unwrap();
    s.apply_receipt_notifications(&[receiptdb::ReceiptNotification {
        message_id: o1.id.clone(),
        reader_ids: Some(vec!["bob".into()]),
        ..Default::default()
    }])
    .unwrap();
    Seeded {
        o1: o1.id,
        c1: c1.id,
        u1: u1.id,
    }
}

/// One valid request per method, for mutation.
fn templates(s: &Seeded) -> Vec<Value> {
    let msg = json!({"ID": "n1", "conversationType": "C2C", "from": "bob", "to": OWNER,
                     "time": 5, "sequence": 5, "needReadReceipt": true, "payload": {"k": "v"}});
    let p = [
        (
            "setReceiptConfig",
            json!({"enabled": true, "groupTypes": ["Work", "Public"]}),
        ),
        ("getReceiptConfig", json!({})),
        (
            "setGroup",
            json!({"groupID": "g2", "groupType": "Public",
                            "members": [{"userID": "bob"}, {"userID": "eve", "joinTime": 3}]}),
        ),
        (
            "addGroupMembers",
            json!({"groupID": "g", "members": [{"userID": "frank", "joinTime": 1}]}),
        ),
        (
            "removeGroupMembers",
            json!({"groupID": "g", "userIDs": ["dave"]}),
        ),
        (
            "createMessage",
            json!({"to": "bob", "conversationType": "C2C",
                                 "payload": {"text": "hi"}, "needReadReceipt": true}),
        ),
        (
            "markMessageSent",
            json!({"ID": s.u1, "sequence": 20, "time": 20}),
        ),
        ("saveMessages", json!({"messages": [msg]})),
        ("findMessage", json!({"messageID": "m1"})),
        (
            "getMessageList",
            json!({"conversationID": "C2Cbob", "nextReqMessageID": "m4", "count": 2}),
        ),
        ("getConversation", json!({"conversationID": "C2Cbob"})),
        ("setMessageRead", json!({"conversationID": "GROUPg"})),
        (
            "sendMessageReadReceipt",
            json!({"messageIDs": ["m4", "m5"]}),
        ),
        ("getMessageReadReceiptList", json!({"messageIDs": [s.o1]})),
        (
            "getGroupMessageReadMemberList",
            json!({"messageID": s.o1, "filter": 1, "cursor": "", "count": 2}),
        ),
        ("getPendingReceipts", json!({"limit": 5})),
        (
            "ackReceipts",
            json!({"batchID": "b1", "rejected": [{"messageID": "m1", "code": 1}]}),
        ),
        (
            "applyReceiptNotifications",
            json!({"notifications": [{"messageID": s.o1, "groupID": "g",
                                              "readerIDs": ["carol"], "readCount": 2, "unreadCount": 1}]}),
        ),
        (
            "applySnapshot",
            json!({"conversationID": "C2Cbob", "messages": [msg],
                                 "receipts": [{"messageID": s.c1, "isPeerRead": true}],
                                 "selfRead": ["m6"]}),
        ),
        (
            "subscribe",
            json!({"events": ["OUTBOX_CHANGED", "MESSAGES_CHANGED"]}),
        ),
    ];
    p.iter()
        .enumerate()
        .map(|(i, (m, params))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": params}))
        .collect()
}

/// A random nasty JSON value (depth-bounded).
fn nasty_value(r: &mut Rng, depth: usize) -> Value {
    match r.index(if depth == 0 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(r.index(2) == 0),
        2 => serde_json::from_str(NUMBERS[r.index(NUMBERS.len())]).unwrap(),
        3 | 4 => Value::String(r.pick(&nasty_strings()).clone()),
        5 => Value::Array((0..r.index(4)).map(|_| nasty_value(r, depth - 1)).collect()),
        6 => {
            let n = r.index(4);
            Value::Object(
                (0..n)
                    .map(|_| (r.pick(KEYS).to_string(), nasty_value(r, depth - 1)))
                    .collect(),
            )
        }
        _ => {
            // Deep nesting, sometimes past serde_json's recursion limit.
            let n = [10, 100, 127, 129, 1_000][r.index(5)];
            let s = "[".repeat(n) + &"]".repeat(n);
            serde_json::from_str(&s).unwrap_or(Value::Null)
        }
    }
}

/// Paths to every node of a JSON value.
fn paths(v: &Value, here: Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(here.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let mut p = here.clone();
                p.push(PathStep::Index(i));
                paths(x, p, out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let mut p = here.clone();
                p.push(PathStep::Key(k.clone()));
                paths(x, p, out);
            }
        }
        _ => {}
    }
}

#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(v: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

/// One structural mutation of a request.
fn mutate_value(v: &mut Value, r: &mut Rng) {
    let mut ps = Vec::new();
    paths(v, Vec::new(), &mut ps);
    let path = r.pick(&ps).clone();
    let node = node_mut(v, &path);
    match r.index(7) {
        0 | 1 => *node = nasty_value(r, 2),
        2 => {
            if let Value::Object(o) = node {
                if !o.is_empty() {
                    let k = o.keys().nth(r.index(o.len())).unwrap().clone();
                    o.remove(&k);
                }
            }
        }
        3 => {
            if let Value::Object(o) = node {
                o.insert(r.pick(KEYS).to_string(), nasty_value(r, 2));
            }
        }
        4 => {
            // Grow a list past a limit (31, 101, 1001 items).
            if let Value::Array(a) = node {
                if let Some(x) = a.first().cloned() {
                    let n = [31, 101, 1_001][r.index(3)];
                    a.resize(n, x);
                }
            }
        }
        5 => *node = json!([node.clone()]),
        _ => *node = json!({"value": node.clone()}),
    }
}

/// Raw tokens inserted into a line.
const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\\",
    "null",
    "-1",
    "1e400",
    "-1e400",
    "99999999999999999999999999",
    "NaN",
    "Infinity",
    "\"\\ud800\"",
    "\\u0000",
    "'",
    "--",
    "x'); DROP TABLE messages;--",
    "\u{feff}",
    "\r",
    "\u{0}",
];

/// One byte-level mutation of a line.
fn mutate_bytes(b: &mut Vec<u8>, r: &mut Rng) {
    let len = b.len().max(1);
    match r.index(6) {
        0 => {
            let i = r.index(len);
            if i < b.len() {
                b[i] = r.next() as u8;
            }
        }
        1 => b.truncate(r.index(len)),
        2 => {
            let i = r.index(len).min(b.len());
            let j = (i + r.index(16)).min(b.len());
            b.drain(i..j);
        }
        3 => {
            let i = r.index(len).min(b.len());
            let t = r.pick(TOKENS).as_bytes().to_vec();
            b.splice(i..i, t);
        }
        4 => {
            let i = r.index(len).min(b.len());
            let j = (i + r.index(32)).min(b.len());
            let d = b[i..j].to_vec();
            b.splice(j..j, d);
        }
        _ => {
            let i = r.index(len).min(b.len());
            let junk: Vec<u8> = (0..1 + r.index(8)).map(|_| r.next() as u8).collect();
            b.splice(i..i, junk);
        }
    }
}

/// A server on a seeded store, checking each bad line (see the module doc).
struct Harness {
    _dir: tempfile::TempDir,
    rpc: Rpc,
    seeded: Seeded,
    pings: u64,
    errors: u64,
}

impl Harness {
    fn new() -> Harness {
        let dir = temp_dir();
        let path = dir.path().join("fuzz.db");
        let seeded = seed_store(&path);
        let rpc = Rpc::spawn(&path, OWNER);
        Harness {
            _dir: dir,
            rpc,
            seeded,
            pings: 0,
            errors: 0,
        }
    }

    /// Sends one line and checks the reply; returns it.
    fn send(&mut self, line: &[u8], what: &str) -> Reply {
        let before = dump_db(&self.rpc.path);
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        self.rpc.write_raw(&bytes);
        let reply = self.rpc.read_reply();
        check_response(&reply.response, Some(&expected_id(line)), what);
        if reply.response.get("error").is_some() {
            self.errors += 1;
            assert!(
                reply.events.is_empty(),
                "{what}: a failed call emitted events: {:?}",
                reply.events
            );
            assert_eq!(
                before,
                dump_db(&self.rpc.path),
                "{what}: a failed call changed the store ({})",
                reply.response
            );
        }
        self.ping(what);
        reply
    }

    /// Exactly one response per line: the next line after it answers a ping.
    fn ping(&mut self, what: &str) {
        self.pings += 1;
        let id = format!("ping-{}", self.pings);
        let r = self.rpc.send_line(
            &json!({"jsonrpc": "2.0", "id": id, "method": "getReceiptConfig"}).to_string(),
        );
        assert_eq!(
            r.response["id"], id,
            "{what}: a second response (or a stray line) followed: {}",
            r.response
        );
        assert!(r.events.is_empty(), "{what}: stray events: {:?}", r.events);
    }

    /// The server is still alive, the store sound and usable; then it
    /// exits cleanly when its input closes.
    fn finish(mut self) {
        let r = self.rpc.call(
            "saveMessages",
            json!({"messages": [{"ID": "final-check", "conversationType": "C2C",
                                  "from": "zed", "to": OWNER, "needReadReceipt": true}]}),
        );
        assert!(r.response.get("result").is_some(), "{}", r.response);
        let path = self.rpc.path.clone();
        let status = self.rpc.close();
        assert!(status.success(), "receiptdb rpc exited with {status}");
        let s = Store::open(&path, OWNER).expect("reopen");
        assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
        assert!(s.find_message("final-check").unwrap().is_some());
        assert!(s.find_message("m1").unwrap().is_some(), "seeded data kept");
    }
}

/// Property-based: generated lines (requests with random methods, ids and
/// params; truncations; random bytes and text; deep nesting) through a
/// running `receiptdb rpc` each get exactly one well-formed response, and
/// failed calls change nothing.
#[test]
fn proptest_lines_through_rpc() {
    let h = RefCell::new(Harness::new());
    let mut runner = TestRunner::new(Config {
        cases: 1_500,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&line(), |l| {
            h.borrow_mut().send(&l, &format!("line {:?}", preview(&l)));
            Ok(())
        })
        .unwrap();
    let h = h.into_inner();
    assert!(
        h.errors > 300,
        "only {} of the lines were refused",
        h.errors
    );
    h.finish();
}

/// Seeded mutation fuzzing: valid requests for every method, mutated
/// structurally (values swapped for nasty ones, keys dropped or added,
/// lists grown past their limits, nodes wrapped) and byte-wise (flips,
/// truncations, deletions, inserted tokens, duplicated ranges).
#[test]
fn mutation_fuzz_through_rpc() {
    let mut h = Harness::new();
    let tpl = templates(&h.seeded);
    let mut r = Rng(0x5EED_F022);
    let mut accepted = 0;
    for case in 0..3_000 {
        let mut v = r.pick(&tpl).clone();
        for _ in 0..1 + r.index(3) {
            mutate_value(&mut v, &mut r);
        }
        let mut b = v.to_string().into_bytes();
        if r.index(2) == 0 {
            for _ in 0..1 + r.index(3) {
                mutate_bytes(&mut b, &mut r);
            }
        }
        let b = sanitize(b);
        let reply = h.send(&b, &format!("mutation case {case}: {:?}", preview(&b)));
        if reply.response.get("result").is_some() {
            accepted += 1;
        }
    }
    // The mutations must reach past parsing, and not only be refused.
    assert!(accepted > 150, "only {accepted} mutated calls succeeded");
    assert!(h.errors > 500, "only {} mutated calls failed", h.errors);
    h.finish();
}

/// The valid templates themselves all succeed (so mutations start from
/// calls that reach the store).
#[test]
fn templates_are_valid() {
    let mut h = Harness::new();
    let tpl = templates(&h.seeded);
    for t in &tpl {
        let r = h.send(t.to_string().as_bytes(), &format!("template {t}"));
        assert!(r.response.get("result").is_some(), "{t}: {}", r.response);
    }
    h.finish();
}

fn preview(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.chars().take(300).collect()
}

/// In-process property test of `Session::handle_line` (many more cases
/// than through the pipe): one response last, only notifications before
/// it, failed calls change nothing, no panic.
#[test]
fn proptest_session_handle_line() {
    let dir = temp_dir();
    let path = dir.path().join("session.db");
    seed_store(&path);
    let store = std::sync::Arc::new(Store::open(&path, OWNER).unwrap());
    let session = RefCell::new(Session::new(store.clone()));
    let mut runner = TestRunner::new(Config {
        cases: 5_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&line(), |l| {
            let text = String::from_utf8_lossy(&l).into_owned();
            if text.trim().is_empty() {
                return Ok(());
            }
            let before = dump_db(&path);
            let out = session.borrow_mut().handle_line(&text);
            let (last, events) = out.split_last().expect("one response");
            let resp: Value = serde_json::from_str(last).expect("response is JSON");
            check_response(&resp, Some(&expected_id(text.as_bytes())), &text);
            for e in events {
                let e: Value = serde_json::from_str(e).expect("event is JSON");
                assert!(e.get("id").is_none() && e["method"].is_string(), "{e}");
            }
            if resp.get("error").is_some() {
                assert!(events.is_empty(), "{text}: failed call emitted events");
                assert_eq!(
                    before,
                    dump_db(&path),
                    "{text}: failed call changed the store"
                );
            }
            Ok(())
        })
        .unwrap();
    drop(session);
    assert_eq!(store.integrity_check().unwrap(), vec!["ok".to_string()]);
}

/// Hand-picked bad lines: non-UTF-8, lone surrogates, numbers out of every
/// range, wrong JSON-RPC shapes, batches, requests without id (answered
/// with id null), `\r\n` endings, blank lines (no answer).
#[test]
fn hand_picked_bad_lines() {
    let mut h = Harness::new();
    let o1 = h.seeded.o1.clone();
    let lines: Vec<(String, Option<i64>)> = vec![
        ("\u{feff}{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getReceiptConfig\"}".into(), None),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"findMessage\",\"params\":{\"messageID\":\"\\ud800\"}}".into(), Some(-32700)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"markMessageSent","params":{"ID":"m1","sequence":1e400,"time":1}}"#.into(), Some(-32700)),
        (format!(r#"{{"jsonrpc":"2.0","id":1,"method":"markMessageSent","params":{{"ID":"{o1}","sequence":99999999999999999999,"time":1}}}}"#), Some(-32602)),
        (format!(r#"{{"jsonrpc":"2.0","id":1,"method":"markMessageSent","params":{{"ID":"{o1}","sequence":1.5,"time":1}}}}"#), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"getMessageList","params":{"conversationID":"C2Cbob","count":-5}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"getMessageList","params":{"conversationID":"C2Cbob","count":18446744073709551616}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"getPendingReceipts","params":{"limit":-9223372036854775808}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"getPendingReceipts","params":{"limit":"5"}}"#.into(), Some(-32602)),
        (format!(r#"{{"jsonrpc":"2.0","id":1,"method":"getGroupMessageReadMemberList","params":{{"messageID":"{o1}","filter":-1,"cursor":"","count":5}}}}"#), Some(-32602)),
        (format!(r#"{{"jsonrpc":"2.0","id":1,"method":"getGroupMessageReadMemberList","params":{{"messageID":"{o1}","filter":0,"cursor":"x'); DROP TABLE readers;--","count":5}}}}"#), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"sendMessageReadReceipt","params":{"messageIDs":"m1"}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"sendMessageReadReceipt","params":{"messageIDs":[1,2]}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"sendMessageReadReceipt","params":[["m1"]]}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"ackReceipts","params":{"batchID":{"b":1}}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"saveMessages","params":{"messages":[{"ID":"z","from":"bob","to":"alice","conversationType":"C2C","time":"now"}]}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"setReceiptConfig","params":{"enabled":"yes"}}"#.into(), Some(-32602)),
        (r#"{"jsonrpc":"2.0","id":1,"method":42}"#.into(), Some(-32600)),
        (r#"{"jsonrpc":"2.0","id":1}"#.into(), Some(-32600)),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"getReceiptConfig"},{"jsonrpc":"2.0","id":2,"method":"getReceiptConfig"}]"#.into(), None),
        ("[]".into(), None),
        ("{}".into(), None),
        ("null".into(), None),
        ("\"just a string\"".into(), None),
        ("12345".into(), None),
        (r#"{"jsonrpc":"2.0","method":"sendMessageReadReceipt","params":{"messageIDs":["nope"]}}"#.into(), Some(2001)),
        (r#"{"jsonrpc":"2.0","id":{"x":1},"method":"getReceiptConfig"}"#.into(), None),
        (r#"{"jsonrpc":"2.0","id":[1],"method":"nope"}"#.into(), Some(-32601)),
        (r#"{"jsonrpc":"2.0","id":1,"method":"getReceiptConfig"}  trailing"#.into(), Some(-32700)),
        ("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"getReceiptConfig\"}\r".into(), None),
    ];
    for (l, code) in &lines {
        let r = h.send(l.as_bytes(), l);
        if let Some(c) = code {
            assert_eq!(r.response["error"]["code"], *c, "{l}: {}", r.response);
        }
    }
    // Non-UTF-8 lines.
    for bad in [
        &b"\xff\xfe{}"[..],
        b"{\"id\":1,\"method\":\"x\xc3\"}",
        b"\xc0\xaf",
    ] {
        let r = h.send(bad, "non-UTF-8");
        assert_eq!(r.response["error"]["code"], -32700, "{}", r.response);
    }
    // A request without id is answered with id null.
    let r = h.send(br#"{"jsonrpc":"2.0","method":"getReceiptConfig"}"#, "no id");
    assert_eq!(r.response["id"], Value::Null);
    assert!(r.response.get("result").is_some());
    // Blank lines get no answer: the next response is the next request's.
    h.rpc.write_raw(b"\n   \n\r\n\t\n");
    h.ping("after blank lines");
    h.finish();
}

/// 10 MiB lines are answered, not fatal: garbage (-32700), a 10 MiB
/// payload in a valid request (INVALID_PARAMS: over 64 KiB), 10 MiB of
/// `[` (nesting past the parser's limit: -32700), a payload nested 100,000
/// levels deep (-32700), and one nested just under the limit (accepted or
/// refused cleanly). The server answers the next request normally.
#[test]
fn ten_mib_lines_and_deep_nesting() {
    const TEN_MIB: usize = 10 * 1024 * 1024;
    let mut h = Harness::new();
    // Garbage without a newline.
    let garbage: Vec<u8> = common::random_bytes(TEN_MIB, 7)
        .into_iter()
        .map(|b| if b == b'\n' { b'.' } else { b })
        .collect();
    let r = h.send(&garbage, "10 MiB of random bytes");
    assert_eq!(r.response["error"]["code"], -32700, "{}", r.response);

    for method in ["createMessage", "saveMessages", "applySnapshot"] {
        let big = "x".repeat(TEN_MIB);
        let params = match method {
            "createMessage" => json!({"to": "bob", "conversationType": "C2C",
                                      "payload": {"text": big}}),
            "saveMessages" => json!({"messages": [{"ID": "big", "conversationType": "C2C",
                                      "from": "bob", "to": OWNER, "payload": {"text": big}}]}),
            _ => json!({"conversationID": "C2Cbob", "messages": [{"ID": "big",
                         "conversationType": "C2C", "from": "bob", "to": OWNER,
                         "payload": {"text": big}}]}),
        };
        let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let line = line.to_string();
        assert!(line.len() > TEN_MIB);
        let r = h.send(line.as_bytes(), &format!("{method} with a 10 MiB payload"));
        assert_eq!(
            r.response["error"]["code"], -32602,
            "{method}: {}",
            r.response
        );
        assert_eq!(r.response["error"]["data"]["name"], "INVALID_PARAMS");
    }

    let r = h.send("[".repeat(TEN_MIB).as_bytes(), "10 MiB of [");
    assert_eq!(r.response["error"]["code"], -32700, "{}", r.response);

    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"createMessage","params":{{"to":"bob","conversationType":"C2C","payload":{{"a":{}1{}}}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = h.send(deep.as_bytes(), "payload nested 100,000 deep");
    assert_eq!(r.response["error"]["code"], -32700, "{}", r.response);

    // Just under serde_json's recursion limit (128, counting the request
    // and params objects).
    let n = 120;
    let nested = format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"createMessage","params":{{"to":"bob","conversationType":"C2C","payload":{{"a":{nested}}}}}}}"#
    );
    let r = h.send(line.as_bytes(), "payload nested 120 deep");
    if let Some(res) = r.response.get("result") {
        let id = res["ID"].as_str().unwrap().to_string();
        let f = h.rpc.ok("findMessage", json!({"messageID": id}));
        assert_eq!(
            f["payload"]["a"],
            serde_json::from_str::<Value>(&nested).unwrap()
        );
    }
    h.finish();
}

/// Error messages stay short whatever the input: a 1 MiB method name,
/// enum value, group type or event name is not echoed back in full.
#[test]
fn error_messages_do_not_echo_huge_input() {
    let mut h = Harness::new();
    let big = "x".repeat(1024 * 1024);
    let cases = [
        json!({"jsonrpc": "2.0", "id": 1, "method": big}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "createMessage",
               "params": {"to": "bob", "conversationType": big}}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "setGroup",
               "params": {"groupID": "g9", "groupType": big}}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"events": [big]}}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "createMessage",
               "params": {"to": big, "conversationType": "C2C"}}),
    ];
    for c in &cases {
        let r = h.send(c.to_string().as_bytes(), "huge value");
        let msg = r.response["error"]["message"].as_str().expect("an error");
        assert!(
            msg.len() <= 1024,
            "error message of {} bytes for {}",
            msg.len(),
            &c.to_string()[..80]
        );
    }
    h.finish();
}
