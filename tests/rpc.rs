//! Integration tests of `receiptdb rpc` (SPEC §3): every method of
//! §3.1–§3.3 over JSON lines, every error of §4 (with `error.code`,
//! `error.data.name`, and a check that a failed call changes nothing), the
//! protocol errors, events before responses, and opening files.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// A new store file in a temp dir, served by `receiptdb rpc`.
fn start() -> (tempfile::TempDir, Rpc) {
    let dir = temp_dir();
    let rpc = Rpc::spawn(&path_in(&dir, "store.db"), OWNER);
    (dir, rpc)
}

fn in_c2c(id: &str, from: &str, seq: i64, time: i64, need: bool) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": from, "to": OWNER,
           "time": time, "sequence": seq, "needReadReceipt": need,
           "payload": {"text": id}})
}

fn in_group(id: &str, group: &str, from: &str, seq: i64, time: i64, need: bool) -> Value {
    json!({"ID": id, "conversationID": format!("GROUP{group}"), "from": from, "to": group,
           "time": time, "sequence": seq, "needReadReceipt": need, "payload": {}})
}

fn save(rpc: &mut Rpc, msgs: Value) {
    let n = msgs.as_array().unwrap().len();
    let r = rpc.ok("saveMessages", json!({ "messages": msgs }));
    assert_eq!(r, json!({ "saved": n }));
}

fn set_group(rpc: &mut Rpc, id: &str, t: &str, users: &[&str]) {
    let members: Vec<Value> = users.iter().map(|u| json!({ "userID": u })).collect();
    let r = rpc.ok(
        "setGroup",
        json!({"groupID": id, "groupType": t, "members": members}),
    );
    assert_eq!(r, json!({}));
}

fn create(rpc: &mut Rpc, to: &str, ctype: &str, need: bool) -> Value {
    rpc.ok(
        "createMessage",
        json!({"to": to, "conversationType": ctype, "payload": {"text": "hi"}, "needReadReceipt": need}),
    )
}

/// Creates an `out` message needing a receipt and marks it sent; returns its ID.
fn sent(rpc: &mut Rpc, to: &str, ctype: &str, seq: i64, time: i64) -> String {
    let id = create(rpc, to, ctype, true)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let m = rpc.ok(
        "markMessageSent",
        json!({"ID": id, "sequence": seq, "time": time}),
    );
    assert_eq!(m["status"], "success");
    id
}

fn find(rpc: &mut Rpc, id: &str) -> Value {
    rpc.ok("findMessage", json!({ "messageID": id }))
}

fn info(rpc: &mut Rpc, id: &str) -> Value {
    find(rpc, id)["readReceiptInfo"].clone()
}

fn readers_arrive(rpc: &mut Rpc, id: &str, users: &[String]) -> Reply {
    let r = rpc.call(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": id, "readerIDs": users}]}),
    );
    assert!(r.response.get("error").is_none(), "{}", r.response);
    r
}

fn unread(rpc: &mut Rpc, conv: &str) -> Value {
    rpc.ok("getConversation", json!({ "conversationID": conv }))["unreadCount"].clone()
}

fn member_page(rpc: &mut Rpc, id: &str, filter: i64, cursor: &str, count: i64) -> Value {
    rpc.ok(
        "getGroupMessageReadMemberList",
        json!({"messageID": id, "filter": filter, "cursor": cursor, "count": count}),
    )
}

fn all_members(rpc: &mut Rpc, id: &str, filter: i64) -> Vec<String> {
    let key = if filter == 0 {
        "readUserIDList"
    } else {
        "unreadUserIDList"
    };
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = member_page(rpc, id, filter, &cursor, 100);
        out.extend(strings(&p[key]));
        if p["isCompleted"] == true {
            return out;
        }
        cursor = p["cursor"].as_str().unwrap().to_string();
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sent_state(rpc: &mut Rpc, id: &str) -> Value {
    find(rpc, id)["receiptSentState"].clone()
}

// ---------------------------------------------------------------------------
// protocol
// ---------------------------------------------------------------------------

/// Requests written back to back (without waiting) are answered one
/// response per line, in order; an unparseable or non-UTF-8 line in between
/// gets -32700 with id null and the lines after it are still served.
#[test]
fn pipelined_lines_with_garbage_in_between() {
    let (_d, mut rpc) = start();
    let mut input = Vec::new();
    input.extend_from_slice(br#"{"jsonrpc":"2.0","id":1,"method":"getReceiptConfig"}"#);
    input.extend_from_slice(b"\n}}garbage{{\n");
    input.extend_from_slice(b"\xff\xfe not utf-8\n");
    input.extend_from_slice(
        br#"{"jsonrpc":"2.0","id":2,"method":"saveMessages","params":{"messages":[{"ID":"i1","conversationType":"C2C","from":"bob","to":"alice"}]}}"#,
    );
    input.extend_from_slice(b"\n");
    input.extend_from_slice(
        br#"{"jsonrpc":"2.0","id":3,"method":"findMessage","params":{"messageID":"i1"}}"#,
    );
    input.extend_from_slice(b"\n");
    rpc.write_raw(&input);
    let r1 = rpc.read_reply();
    assert_eq!(r1.response["id"], 1);
    assert_eq!(r1.response["result"]["enabled"], true);
    for _ in 0..2 {
        let r = rpc.read_reply();
        assert_eq!(r.response["id"], Value::Null, "{}", r.response);
        assert_eq!(r.response["error"]["code"], -32700, "{}", r.response);
    }
    let r2 = rpc.read_reply();
    assert_eq!(r2.response["id"], 2);
    assert_eq!(r2.response["result"], json!({"saved": 1}));
    let r3 = rpc.read_reply();
    assert_eq!(r3.response["id"], 3);
    assert_eq!(r3.response["result"]["ID"], "i1");
    assert!(rpc.close().success());
}

/// Malformed params are INVALID_PARAMS (-32602) and change nothing: missing
/// required fields, wrong types, params that are not an object.
#[test]
fn malformed_params_are_invalid_params() {
    let (_d, mut rpc) = start();
    save(&mut rpc, json!([in_c2c("i1", "bob", 1, 1, true)]));
    let cases = [
        ("findMessage", json!({})),
        ("findMessage", json!({"messageID": 5})),
        ("findMessage", json!({"messageID": ""})),
        ("createMessage", json!({"to": "bob"})),
        (
            "createMessage",
            json!({"to": "bob", "conversationType": "FOO"}),
        ),
        (
            "createMessage",
            json!({"to": "bob", "conversationType": "C2C", "payload": "text"}),
        ),
        ("markMessageSent", json!({"ID": "i1"})),
        ("saveMessages", json!({"messages": {"ID": "x"}})),
        (
            "saveMessages",
            json!({"messages": [{"ID": "x", "from": "bob"}]}),
        ),
        ("getConversation", json!({"conversationID": "nope"})),
        ("setMessageRead", json!({})),
        ("sendMessageReadReceipt", json!({"messageIDs": "i1"})),
        ("getMessageReadReceiptList", json!({})),
        ("setGroup", json!({"groupID": "g", "members": []})),
        ("setReceiptConfig", json!({"enabled": "yes"})),
        ("setReceiptConfig", json!({"groupTypes": ["Work", "Nope"]})),
    ];
    // Bad lengths and characters.
    let long = "x".repeat(300);
    let big = "y".repeat(70 * 1024);
    let cases = cases.into_iter().chain([
        ("findMessage", json!({ "messageID": long })),
        ("findMessage", json!({"messageID": "a\nb"})),
        (
            "createMessage",
            json!({"to": "bob", "conversationType": "C2C", "payload": {"text": big}}),
        ),
        (
            "createMessage",
            json!({"to": long, "conversationType": "C2C", "payload": {}}),
        ),
        (
            "setGroup",
            json!({"groupID": "g", "groupType": "Work", "members": [{"userID": long}]}),
        ),
        (
            "saveMessages",
            json!({"messages": [in_c2c("ok", "bob", 2, 2, false), in_c2c(&long, "bob", 3, 3, false)]}),
        ),
    ]);
    for (m, p) in cases {
        rpc.err_unchanged(m, p, -32602, "INVALID_PARAMS");
    }
    let r = rpc.send_line(r#"{"jsonrpc":"2.0","id":9,"method":"findMessage","params":[1]}"#);
    assert_error(&r, -32602, "INVALID_PARAMS", "array params");
}

// ---------------------------------------------------------------------------
// §3.1 setup
// ---------------------------------------------------------------------------

/// getReceiptConfig starts at the default; setReceiptConfig stores the switch
/// and group types; enabling Community or AVChatRoom is UNSUPPORTED_GROUP_TYPE
/// (2004) and changes nothing.
#[test]
fn receipt_config_methods() {
    let (_d, mut rpc) = start();
    let c = rpc.ok("getReceiptConfig", json!({}));
    assert_eq!(c["enabled"], true);
    let types: BTreeSet<String> = strings(&c["groupTypes"]).into_iter().collect();
    assert_eq!(
        types,
        ["Meeting", "Public", "Work"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let r = rpc.ok(
        "setReceiptConfig",
        json!({"enabled": false, "groupTypes": ["Public"]}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        rpc.ok("getReceiptConfig", json!({})),
        json!({"enabled": false, "groupTypes": ["Public"]})
    );
    for t in ["Community", "AVChatRoom"] {
        rpc.err_unchanged(
            "setReceiptConfig",
            json!({"enabled": true, "groupTypes": ["Work", t]}),
            2004,
            "UNSUPPORTED_GROUP_TYPE",
        );
    }
    assert_eq!(
        rpc.ok("getReceiptConfig", json!({})),
        json!({"enabled": false, "groupTypes": ["Public"]})
    );
}

/// setGroup replaces the member list, addGroupMembers adds, removeGroupMembers
/// removes (lowering unreadCount, with a receipt event); unknown groups and
/// unknown group types are INVALID_PARAMS and change nothing.
#[test]
fn group_methods() {
    let (_d, mut rpc) = start();
    set_group(&mut rpc, "g", "Work", &[OWNER, "bob", "carol"]);
    set_group(&mut rpc, "g", "Work", &[OWNER, "carol", "dave"]);
    let r = rpc.ok(
        "addGroupMembers",
        json!({"groupID": "g", "members": [{"userID": "erin"}, {"userID": "frank", "joinTime": 50}]}),
    );
    assert_eq!(r, json!({}));
    let id = sent(&mut rpc, "g", "GROUP", 1, 100);
    assert_eq!(
        all_members(&mut rpc, &id, 1),
        sv(&["carol", "dave", "erin", "frank"])
    );
    assert_eq!(info(&mut rpc, &id)["unreadCount"], 4);

    let r = rpc.call(
        "removeGroupMembers",
        json!({"groupID": "g", "userIDs": ["dave", "nobody"]}),
    );
    assert_eq!(r.response["result"], json!({}));
    let items = r.receipt_items();
    assert_eq!(items.len(), 1, "{:?}", r.events);
    assert_eq!(items[0]["messageID"], id.as_str());
    assert_eq!(items[0]["unreadCount"], 3);
    assert_eq!(
        all_members(&mut rpc, &id, 1),
        sv(&["carol", "erin", "frank"])
    );

    rpc.err_unchanged(
        "addGroupMembers",
        json!({"groupID": "nope", "members": [{"userID": "x"}]}),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.err_unchanged(
        "removeGroupMembers",
        json!({"groupID": "nope", "userIDs": ["x"]}),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.err_unchanged(
        "setGroup",
        json!({"groupID": "g", "groupType": "Club", "members": []}),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.err_unchanged(
        "setGroup",
        json!({"groupID": "", "groupType": "Work", "members": []}),
        -32602,
        "INVALID_PARAMS",
    );
}

/// Group types are switched by the config: with Meeting off, createMessage
/// with a receipt and sendMessageReadReceipt in a Meeting group are
/// RECEIPTS_DISABLED (2003) and change nothing; back on, both work.
/// The switch off disables C2C receipts too.
#[test]
fn receipts_disabled_by_config() {
    let (_d, mut rpc) = start();
    set_group(&mut rpc, "m", "Meeting", &[OWNER, "bob"]);
    save(
        &mut rpc,
        json!([
            in_group("gi", "m", "bob", 1, 1, true),
            in_c2c("ci", "bob", 1, 1, true)
        ]),
    );
    rpc.ok(
        "setReceiptConfig",
        json!({"enabled": true, "groupTypes": ["Work"]}),
    );
    rpc.err_unchanged(
        "createMessage",
        json!({"to": "m", "conversationType": "GROUP", "payload": {}, "needReadReceipt": true}),
        2003,
        "RECEIPTS_DISABLED",
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["gi"]}),
        2003,
        "RECEIPTS_DISABLED",
    );
    // Without a receipt it works; C2C receipts depend only on the switch.
    create(&mut rpc, "m", "GROUP", false);
    create(&mut rpc, "bob", "C2C", true);

    rpc.ok(
        "setReceiptConfig",
        json!({"enabled": false, "groupTypes": ["Work", "Meeting"]}),
    );
    rpc.err_unchanged(
        "createMessage",
        json!({"to": "bob", "conversationType": "C2C", "payload": {}, "needReadReceipt": true}),
        2003,
        "RECEIPTS_DISABLED",
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["ci"]}),
        2003,
        "RECEIPTS_DISABLED",
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["gi"]}),
        2003,
        "RECEIPTS_DISABLED",
    );

    rpc.ok("setReceiptConfig", json!({"enabled": true}));
    assert_eq!(
        rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["gi"]})),
        json!({"queued": ["gi"]})
    );
    create(&mut rpc, "m", "GROUP", true);
}

// ---------------------------------------------------------------------------
// §3.2 messages
// ---------------------------------------------------------------------------

/// createMessage returns the new `out` message (`unSend`, fresh unique ID, the
/// JSON names of SPEC §1); findMessage returns the same object.
#[test]
fn create_and_find_message() {
    let (_d, mut rpc) = start();
    let m = create(&mut rpc, "bob", "C2C", true);
    let keys: BTreeSet<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "ID",
        "conversationID",
        "conversationType",
        "from",
        "to",
        "time",
        "sequence",
        "flow",
        "status",
        "needReadReceipt",
        "payload",
        "isPeerRead",
        "readReceiptInfo",
        "receiptSentState",
    ] {
        assert!(keys.contains(k), "message lacks {k}: {m}");
    }
    assert_eq!(m["conversationID"], "C2Cbob");
    assert_eq!(m["conversationType"], "C2C");
    assert_eq!(m["from"], OWNER);
    assert_eq!(m["to"], "bob");
    assert_eq!(m["flow"], "out");
    assert_eq!(m["status"], "unSend");
    assert_eq!(m["needReadReceipt"], true);
    assert_eq!(m["payload"], json!({"text": "hi"}));
    assert_eq!(m["isPeerRead"], false);
    assert_eq!(m["readReceiptInfo"]["readCount"], 0);
    assert_eq!(m["readReceiptInfo"]["isPeerRead"], false);
    assert_eq!(m["receiptSentState"], Value::Null);
    let id = m["ID"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert_eq!(find(&mut rpc, &id), m);

    let mut seen = BTreeSet::new();
    seen.insert(id);
    for _ in 0..20 {
        let id = create(&mut rpc, "bob", "C2C", false)["ID"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(seen.insert(id.clone()), "reused ID {id}");
    }
    assert_eq!(find(&mut rpc, "nobody"), Value::Null);
    rpc.err_unchanged("findMessage", json!({}), -32602, "INVALID_PARAMS");
}

/// markMessageSent returns the message with `status: success`, the sequence
/// and time; an unknown ID is MESSAGE_NOT_FOUND (2001); an `in` message is
/// INVALID_PARAMS; failures change nothing.
#[test]
fn mark_message_sent() {
    let (_d, mut rpc) = start();
    let id = create(&mut rpc, "bob", "C2C", false)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let m = rpc.ok(
        "markMessageSent",
        json!({"ID": id, "sequence": 42, "time": 1700}),
    );
    assert_eq!(
        (
            m["status"].clone(),
            m["sequence"].clone(),
            m["time"].clone()
        ),
        (json!("success"), json!(42), json!(1700))
    );
    assert_eq!(find(&mut rpc, &id), m);
    rpc.err_unchanged(
        "markMessageSent",
        json!({"ID": "ghost", "sequence": 1, "time": 1}),
        2001,
        "MESSAGE_NOT_FOUND",
    );
    save(&mut rpc, json!([in_c2c("i1", "bob", 1, 1, false)]));
    rpc.err_unchanged(
        "markMessageSent",
        json!({"ID": "i1", "sequence": 9, "time": 9}),
        -32602,
        "INVALID_PARAMS",
    );
}

/// saveMessages upserts by ID and returns `{saved}`; a message whose
/// conversation disagrees with the owner's view, or an existing ID with
/// another sender/conversation, is INVALID_PARAMS and the call saves nothing.
#[test]
fn save_messages() {
    let (_d, mut rpc) = start();
    save(
        &mut rpc,
        json!([in_c2c("i1", "bob", 1, 10, true),
               {"ID": "o1", "conversationID": "C2Cbob", "from": OWNER, "to": "bob", "time": 20, "sequence": 2}]),
    );
    let i1 = find(&mut rpc, "i1");
    assert_eq!(
        (i1["flow"].clone(), i1["conversationID"].clone()),
        (json!("in"), json!("C2Cbob"))
    );
    assert_eq!(i1["receiptSentState"], "none");
    assert_eq!(find(&mut rpc, "o1")["flow"], "out");
    let mut edited = in_c2c("i1", "bob", 1, 10, true);
    edited["payload"] = json!({"text": "edited"});
    save(&mut rpc, json!([edited]));
    assert_eq!(find(&mut rpc, "i1")["payload"], json!({"text": "edited"}));
    let list = rpc.ok("getMessageList", json!({"conversationID": "C2Cbob"}));
    assert_eq!(list["messageList"].as_array().unwrap().len(), 2);

    let good = in_c2c("good", "bob", 3, 30, false);
    let bads = [
        json!({"ID": "n1", "conversationType": "C2C", "from": "bob", "to": "carol"}),
        json!({"ID": "n2", "conversationID": "C2Ccarol", "from": "bob", "to": OWNER}),
        json!({"ID": "n3", "conversationID": "GROUPg2", "from": "bob", "to": "g1"}),
        json!({"ID": "n4", "from": "bob", "to": OWNER}),
        in_c2c("i1", "carol", 1, 10, true),
        in_group("i1", "g1", "bob", 1, 10, true),
    ];
    for bad in bads {
        rpc.err_unchanged(
            "saveMessages",
            json!({"messages": [good.clone(), bad]}),
            -32602,
            "INVALID_PARAMS",
        );
    }
    assert_eq!(find(&mut rpc, "good"), Value::Null);
}

/// getMessageList pages back from the newest message; each page is ordered
/// oldest to newest; nextReqMessageID is the page's oldest; isCompleted marks
/// the last page; count must be 1..100 (default 15); an unknown
/// nextReqMessageID is MESSAGE_NOT_FOUND.
#[test]
fn get_message_list() {
    let (_d, mut rpc) = start();
    let msgs: Vec<Value> = (1..=32)
        .map(|i| in_c2c(&format!("m{i:02}"), "bob", i, 100 + i, false))
        .collect();
    save(&mut rpc, Value::Array(msgs));
    let seqs = |p: &Value| -> Vec<i64> {
        p["messageList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sequence"].as_i64().unwrap())
            .collect()
    };
    let p1 = rpc.ok("getMessageList", json!({"conversationID": "C2Cbob"}));
    assert_eq!(seqs(&p1), (18..=32).collect::<Vec<_>>());
    assert_eq!(p1["nextReqMessageID"], "m18");
    assert_eq!(p1["isCompleted"], false);
    let p2 = rpc.ok(
        "getMessageList",
        json!({"conversationID": "C2Cbob", "nextReqMessageID": "m18", "count": 15}),
    );
    assert_eq!(seqs(&p2), (3..=17).collect::<Vec<_>>());
    assert_eq!(p2["isCompleted"], false);
    let p3 = rpc.ok(
        "getMessageList",
        json!({"conversationID": "C2Cbob", "nextReqMessageID": p2["nextReqMessageID"], "count": 15}),
    );
    assert_eq!(seqs(&p3), vec![1, 2]);
    assert_eq!(p3["isCompleted"], true);
    let all = rpc.ok(
        "getMessageList",
        json!({"conversationID": "C2Cbob", "count": 100}),
    );
    assert_eq!(seqs(&all), (1..=32).collect::<Vec<_>>());
    assert_eq!(all["isCompleted"], true);

    for c in [0, 101, -1] {
        rpc.err_unchanged(
            "getMessageList",
            json!({"conversationID": "C2Cbob", "count": c}),
            -32602,
            "INVALID_PARAMS",
        );
    }
    rpc.err_unchanged(
        "getMessageList",
        json!({"conversationID": "C2Cbob", "nextReqMessageID": "ghost"}),
        2001,
        "MESSAGE_NOT_FOUND",
    );
    rpc.err_unchanged(
        "getMessageList",
        json!({"conversationID": "X"}),
        -32602,
        "INVALID_PARAMS",
    );
}

// ---------------------------------------------------------------------------
// §3.3 read receipts
// ---------------------------------------------------------------------------

/// sendMessageReadReceipt returns `{queued}` with the IDs newly queued,
/// skipping `out` messages, messages needing no receipt and ones already
/// queued; it takes 1..30 IDs (else INVALID_PARAMS); it is atomic (an unknown
/// ID is MESSAGE_NOT_FOUND, two conversations MIXED_CONVERSATIONS, and
/// nothing is queued); queued receipts survive a restart of the server.
#[test]
fn send_message_read_receipt() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let mut rpc = Rpc::spawn(&path, OWNER);
    let mut msgs: Vec<Value> = (0..31)
        .map(|i| in_c2c(&format!("m{i:02}"), "bob", i, i, true))
        .collect();
    msgs.push(in_c2c("plain", "bob", 40, 40, false));
    msgs.push(in_c2c("x", "carol", 1, 1, true));
    save(&mut rpc, Value::Array(msgs));
    let out = sent(&mut rpc, "bob", "C2C", 50, 50);

    let ids31: Vec<String> = (0..31).map(|i| format!("m{i:02}")).collect();
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": []}),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({ "messageIDs": ids31 }),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["m00", "ghost"]}),
        2001,
        "MESSAGE_NOT_FOUND",
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["m00", "m01", "x"]}),
        2002,
        "MIXED_CONVERSATIONS",
    );
    assert_eq!(sent_state(&mut rpc, "m00"), "none");

    let r = rpc.ok(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["m00", "plain", out, "m01", "m00"]}),
    );
    assert_eq!(r, json!({"queued": ["m00", "m01"]}));
    assert_eq!(sent_state(&mut rpc, "m00"), "pending");
    assert_eq!(sent_state(&mut rpc, "plain"), Value::Null);
    let r = rpc.ok(
        "sendMessageReadReceipt",
        json!({ "messageIDs": &ids31[..30] }),
    );
    assert_eq!(
        strings(&r["queued"]),
        ids31[2..30].to_vec(),
        "already queued ones are skipped"
    );
    assert!(rpc.close().success());

    // Durable: a new server on the same file still has them queued.
    let mut rpc = Rpc::spawn(&path, OWNER);
    assert_eq!(sent_state(&mut rpc, "m29"), "pending");
    let b = rpc.ok("getPendingReceipts", json!({}));
    let batches = b["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(strings(&batches[0]["messageIDs"]), ids31[..30].to_vec());
    assert_eq!(batches[0]["conversationID"], "C2Cbob");
    let acked = rpc.ok("ackReceipts", json!({"batchID": batches[0]["batchID"]}));
    assert_eq!(acked, json!({"acked": true}));
    assert_eq!(sent_state(&mut rpc, "m00"), "acked");
    let r = rpc.ok(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["m00", "m30"]}),
    );
    assert_eq!(r, json!({"queued": ["m30"]}), "acked ones are skipped");
}

/// Queued receipts are durable when the response is written: killing the
/// server with SIGKILL right after it answers loses nothing.
#[test]
fn queued_receipts_survive_kill_9() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let mut rpc = Rpc::spawn(&path, OWNER);
    save(
        &mut rpc,
        json!([
            in_c2c("i1", "bob", 1, 1, true),
            in_c2c("i2", "bob", 2, 2, true)
        ]),
    );
    let r = rpc.ok(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["i1", "i2"]}),
    );
    assert_eq!(r, json!({"queued": ["i1", "i2"]}));
    rpc.kill();
    let mut rpc = Rpc::spawn(&path, OWNER);
    assert_eq!(sent_state(&mut rpc, "i1"), "pending");
    assert_eq!(sent_state(&mut rpc, "i2"), "pending");
    let b = rpc.ok("getPendingReceipts", json!({}));
    assert_eq!(b["batches"][0]["messageIDs"], json!(["i1", "i2"]));
    assert_eq!(unread(&mut rpc, "C2Cbob"), 2);
}

/// getMessageReadReceiptList returns `{messageList}` with current
/// readReceiptInfo; 1..100 IDs of one conversation, else INVALID_PARAMS /
/// MIXED_CONVERSATIONS; unknown IDs MESSAGE_NOT_FOUND.
#[test]
fn get_message_read_receipt_list() {
    let (_d, mut rpc) = start();
    set_group(&mut rpc, "g", "Work", &[OWNER, "bob", "carol", "dave"]);
    let m1 = sent(&mut rpc, "g", "GROUP", 1, 100);
    let m2 = sent(&mut rpc, "g", "GROUP", 2, 200);
    readers_arrive(&mut rpc, &m1, &sv(&["bob", "carol"]));
    save(&mut rpc, json!([in_group("gi", "g", "bob", 3, 300, true)]));
    let r = rpc.ok(
        "getMessageReadReceiptList",
        json!({"messageIDs": [m1, m2, "gi"]}),
    );
    let list = r["messageList"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["ID"], m1.as_str());
    assert_eq!(list[0]["readReceiptInfo"]["readCount"], 2);
    assert_eq!(list[0]["readReceiptInfo"]["unreadCount"], 1);
    assert_eq!(list[1]["readReceiptInfo"]["readCount"], 0);
    assert_eq!(list[1]["readReceiptInfo"]["unreadCount"], 3);
    assert_eq!(list[2]["readReceiptInfo"], Value::Null);

    let c = sent(&mut rpc, "bob", "C2C", 1, 1);
    rpc.err_unchanged(
        "getMessageReadReceiptList",
        json!({"messageIDs": []}),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.err_unchanged(
        "getMessageReadReceiptList",
        json!({"messageIDs": [m1, "ghost"]}),
        2001,
        "MESSAGE_NOT_FOUND",
    );
    rpc.err_unchanged(
        "getMessageReadReceiptList",
        json!({"messageIDs": [m1, c]}),
        2002,
        "MIXED_CONVERSATIONS",
    );
    let many: Vec<Value> = (0..101)
        .map(|i| in_c2c(&format!("n{i:03}"), "zoe", i, i, false))
        .collect();
    save(&mut rpc, Value::Array(many));
    let ids: Vec<String> = (0..101).map(|i| format!("n{i:03}")).collect();
    let r = rpc.ok(
        "getMessageReadReceiptList",
        json!({ "messageIDs": &ids[..100] }),
    );
    assert_eq!(r["messageList"].as_array().unwrap().len(), 100);
    rpc.err_unchanged(
        "getMessageReadReceiptList",
        json!({ "messageIDs": ids }),
        -32602,
        "INVALID_PARAMS",
    );
}

/// getGroupMessageReadMemberList: filter 0 → readUserIDList, filter 1 →
/// unreadUserIDList (audience − readers), sorted, paged by cursor; bad filter,
/// count or cursor is INVALID_PARAMS; messages without a member list are
/// RECEIPT_INFO_NOT_FOUND (10062); unknown IDs MESSAGE_NOT_FOUND.
#[test]
fn get_group_message_read_member_list() {
    let (_d, mut rpc) = start();
    set_group(
        &mut rpc,
        "g",
        "Work",
        &[OWNER, "erin", "bob", "dave", "carol"],
    );
    let m = sent(&mut rpc, "g", "GROUP", 1, 100);
    readers_arrive(&mut rpc, &m, &sv(&["dave", "bob"]));
    let r = member_page(&mut rpc, &m, 0, "", 100);
    assert_eq!(r["readUserIDList"], json!(["bob", "dave"]));
    assert!(r.get("unreadUserIDList").is_none(), "{r}");
    assert_eq!(r["messageID"], m.as_str());
    assert_eq!(r["isCompleted"], true);
    let u = member_page(&mut rpc, &m, 1, "", 1);
    assert_eq!(u["unreadUserIDList"], json!(["carol"]));
    assert!(u.get("readUserIDList").is_none(), "{u}");
    assert_eq!(u["isCompleted"], false);
    let cursor = u["cursor"].as_str().unwrap().to_string();
    let u2 = member_page(&mut rpc, &m, 1, &cursor, 1);
    assert_eq!(u2["unreadUserIDList"], json!(["erin"]));
    assert_eq!(u2["isCompleted"], true);

    let p = |f: Value, c: Value, cur: &str| json!({"messageID": m, "filter": f, "cursor": cur, "count": c});
    for (f, c, cur) in [
        (json!(2), json!(10), ""),
        (json!(-1), json!(10), ""),
        (json!(0), json!(0), ""),
        (json!(1), json!(101), ""),
        (json!(0), json!(10), "garbage"),
        (json!("0"), json!(10), ""),
    ] {
        rpc.err_unchanged(
            "getGroupMessageReadMemberList",
            p(f, c, cur),
            -32602,
            "INVALID_PARAMS",
        );
    }
    // A cursor of the unread list is not one of the read list.
    rpc.err_unchanged(
        "getGroupMessageReadMemberList",
        p(json!(0), json!(10), &cursor),
        -32602,
        "INVALID_PARAMS",
    );

    save(&mut rpc, json!([in_group("gi", "g", "bob", 2, 200, true)]));
    let plain = create(&mut rpc, "g", "GROUP", false)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let c2c = sent(&mut rpc, "bob", "C2C", 1, 1);
    for id in ["gi", plain.as_str(), c2c.as_str()] {
        for f in [0, 1] {
            rpc.err_unchanged(
                "getGroupMessageReadMemberList",
                json!({"messageID": id, "filter": f, "cursor": "", "count": 10}),
                10062,
                "RECEIPT_INFO_NOT_FOUND",
            );
        }
    }
    rpc.err_unchanged(
        "getGroupMessageReadMemberList",
        json!({"messageID": "ghost", "filter": 0, "cursor": "", "count": 10}),
        2001,
        "MESSAGE_NOT_FOUND",
    );
}

struct RpcDriver<'a> {
    rpc: &'a mut Rpc,
    id: String,
    /// Last (readCount, unreadCount) seen in an event.
    last: Option<(u64, u64)>,
}

impl MemberListDriver for RpcDriver<'_> {
    fn page(&mut self, read: bool, cursor: &str) -> (Vec<String>, String, bool) {
        let (f, key, other) = if read {
            (0, "readUserIDList", "unreadUserIDList")
        } else {
            (1, "unreadUserIDList", "readUserIDList")
        };
        let p = member_page(self.rpc, &self.id, f, cursor, 100);
        assert!(p.get(other).is_none(), "{p}");
        assert_eq!(p["messageID"], self.id.as_str());
        (
            strings(&p[key]),
            p["cursor"]
                .as_str()
                .expect("cursor is a string")
                .to_string(),
            p["isCompleted"].as_bool().expect("isCompleted is a bool"),
        )
    }
    fn read_by(&mut self, users: &[String]) {
        let r = readers_arrive(self.rpc, &self.id, users);
        // New readers change the message: the event comes before the
        // response, and its counts never go backwards.
        if users.len() > 1 {
            let items = r.receipt_items();
            assert_eq!(items.len(), 1, "{:?}", r.events);
            let rc = items[0]["readCount"].as_u64().unwrap();
            let uc = items[0]["unreadCount"].as_u64().unwrap();
            if let Some((prc, puc)) = self.last {
                assert!(
                    rc > prc && uc < puc,
                    "counts went ({prc},{puc}) -> ({rc},{uc})"
                );
            }
            self.last = Some((rc, uc));
        }
    }
}

/// A 250-member group paged 100 at a time through rpc (filter 0 and 1) while
/// readers arrive between pages via applyReceiptNotifications with readerIDs:
/// no one twice, sorted ascending, no one listed for the whole paging skipped.
#[test]
fn member_list_paging_while_readers_arrive() {
    let (_d, mut rpc) = start();
    let users = user_ids(250);
    let mut members = vec![json!({ "userID": OWNER })];
    members.extend(users.iter().map(|u| json!({ "userID": u })));
    rpc.ok(
        "setGroup",
        json!({"groupID": "big", "groupType": "Work", "members": members}),
    );
    let audience: BTreeSet<String> = users.iter().cloned().collect();

    let m1 = sent(&mut rpc, "big", "GROUP", 1, 1000);
    let start: BTreeSet<String> = users
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 != 0)
        .map(|(_, u)| u.clone())
        .collect();
    readers_arrive(&mut rpc, &m1, &start.iter().cloned().collect::<Vec<_>>());
    let end = page_while_readers_arrive(
        &mut RpcDriver {
            rpc: &mut rpc,
            id: m1.clone(),
            last: None,
        },
        true,
        &start,
        &audience,
    );
    let i = info(&mut rpc, &m1);
    assert_eq!(i["readCount"], end.len());
    assert_eq!(i["unreadCount"], 250 - end.len());

    let m2 = sent(&mut rpc, "big", "GROUP", 2, 1001);
    let start: BTreeSet<String> = users.iter().step_by(10).cloned().collect();
    readers_arrive(&mut rpc, &m2, &start.iter().cloned().collect::<Vec<_>>());
    let end = page_while_readers_arrive(
        &mut RpcDriver {
            rpc: &mut rpc,
            id: m2.clone(),
            last: None,
        },
        false,
        &start,
        &audience,
    );
    let i = info(&mut rpc, &m2);
    assert_eq!(i["readCount"], end.len());
    assert_eq!(i["unreadCount"], 250 - end.len());
}

// ---------------------------------------------------------------------------
// §3.5 events
// ---------------------------------------------------------------------------

/// Each event a call causes is written before that call's response as a
/// MESSAGE_READ_RECEIPT_RECEIVED notification, params {data: [...]}, one item
/// per changed `out` message with the merged values (C2C: userID = peer,
/// groupID ""; group: groupID, userID ""); a call that changes nothing
/// (repeat, stale figures, getters, failed calls) emits nothing.
#[test]
fn receipt_events_before_response() {
    let (_d, mut rpc) = start();
    set_group(&mut rpc, "g", "Work", &[OWNER, "bob", "carol", "dave"]);
    let g = sent(&mut rpc, "g", "GROUP", 1, 100);
    let c = sent(&mut rpc, "bob", "C2C", 1, 100);

    let r = rpc.call(
        "applyReceiptNotifications",
        json!({"notifications": [
            {"messageID": g, "groupID": "g", "readerIDs": ["bob"], "readCount": 1, "unreadCount": 9},
            {"messageID": c, "userID": "bob"}]}),
    );
    assert!(r.response.get("result").is_some(), "{}", r.response);
    let changed: BTreeSet<String> = strings(&r.response["result"]["changed"])
        .into_iter()
        .collect();
    assert_eq!(changed, [g.clone(), c.clone()].into_iter().collect());
    for e in r.receipt_events() {
        assert!(e.get("id").is_none(), "events are notifications: {e}");
        assert!(e["params"]["data"].is_array(), "{e}");
    }
    let items = r.receipt_items();
    assert_eq!(items.len(), 2, "{:?}", r.events);
    let gi = items.iter().find(|i| i["messageID"] == g.as_str()).unwrap();
    assert_eq!(gi["groupID"], "g");
    assert_eq!(gi["userID"], "");
    assert_eq!(gi["readCount"], 1);
    assert_eq!(gi["unreadCount"], 2, "merged, not the incoming 9");
    assert_eq!(gi["isPeerRead"], false);
    let ci = items.iter().find(|i| i["messageID"] == c.as_str()).unwrap();
    assert_eq!(ci["groupID"], "");
    assert_eq!(ci["userID"], "bob");
    assert_eq!(ci["isPeerRead"], true);

    // Nothing changes: no event, `changed` empty.
    let r = rpc.call(
        "applyReceiptNotifications",
        json!({"notifications": [
            {"messageID": g, "readerIDs": ["bob"], "readCount": 0, "unreadCount": 3},
            {"messageID": c, "isPeerRead": false}]}),
    );
    assert_eq!(r.response["result"], json!({"changed": []}));
    assert!(r.events.is_empty(), "{:?}", r.events);
    for (m, p) in [
        ("findMessage", json!({ "messageID": g })),
        ("getMessageReadReceiptList", json!({ "messageIDs": [g] })),
        (
            "getGroupMessageReadMemberList",
            json!({"messageID": g, "filter": 1, "cursor": "", "count": 5}),
        ),
        ("getConversation", json!({"conversationID": "GROUPg"})),
        ("getMessageList", json!({"conversationID": "GROUPg"})),
        ("getReceiptConfig", json!({})),
    ] {
        let r = rpc.call(m, p);
        assert!(r.events.is_empty(), "{m} emitted {:?}", r.events);
    }
    // A failed call emits nothing either (checked by err()).
    rpc.err(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": g, "readerIDs": ["carol"]},
                                  {"messageID": g, "conversationID": "GROUPother"}]}),
        -32602,
        "INVALID_PARAMS",
    );
    assert_eq!(
        info(&mut rpc, &g)["readCount"],
        1,
        "the failed call changed nothing"
    );

    // Saving receipt figures on an out message: event before the response.
    let r = rpc.call(
        "saveMessages",
        json!({"messages": [{"ID": g, "conversationID": "GROUPg", "from": OWNER, "to": "g",
                             "time": 100, "sequence": 1, "needReadReceipt": true,
                             "readReceiptInfo": {"readCount": 2}}]}),
    );
    let items = r.receipt_items();
    assert_eq!(items.len(), 1, "{:?}", r.events);
    assert_eq!(items[0]["readCount"], 2);
    assert_eq!(items[0]["unreadCount"], 2);
    // A reader arriving later moves the count only forward.
    let r = readers_arrive(&mut rpc, &g, &sv(&["carol"]));
    let items = r.receipt_items();
    assert_eq!(items.len(), 1, "{:?}", r.events);
    assert_eq!(
        (
            items[0]["readCount"].clone(),
            items[0]["unreadCount"].clone()
        ),
        (json!(2), json!(1))
    );
    // Membership calls that change no receipt state emit nothing: the same
    // setGroup, a new member (unreadCount never rises), removing a non-member.
    for (m, p) in [
        (
            "setGroup",
            json!({"groupID": "g", "groupType": "Work", "members": [
            {"userID": OWNER}, {"userID": "bob"}, {"userID": "carol"}, {"userID": "dave"}]}),
        ),
        (
            "addGroupMembers",
            json!({"groupID": "g", "members": [{"userID": "erin"}]}),
        ),
        (
            "removeGroupMembers",
            json!({"groupID": "g", "userIDs": ["zed"]}),
        ),
    ] {
        let r = rpc.call(m, p);
        assert!(r.response.get("result").is_some(), "{}", r.response);
        assert!(r.events.is_empty(), "{m} emitted {:?}", r.events);
    }
    assert_eq!(
        info(&mut rpc, &g)["unreadCount"],
        1,
        "unreadCount never rises"
    );
    assert!(rpc.close().success());
}

/// With every optional event subscribed, calls that change nothing still
/// emit nothing (SPEC §3: "A call that changes nothing emits nothing"):
/// re-saving an identical message, repeating markMessageSent, setMessageRead
/// on a read conversation, repeating a snapshot.
#[test]
fn unchanged_calls_emit_nothing_with_all_events_subscribed() {
    let (_d, mut rpc) = start();
    let r = rpc.ok("subscribe", json!({}));
    assert!(r["events"].is_array());
    let msg = in_c2c("i1", "bob", 1, 1, true);
    save(&mut rpc, json!([msg.clone()]));
    let out = sent(&mut rpc, "bob", "C2C", 2, 2);
    rpc.ok("setMessageRead", json!({"conversationID": "C2Cbob"}));
    let snap = json!({"conversationID": "C2Cbob", "messages": [msg.clone()]});
    rpc.ok("applySnapshot", snap.clone());

    let mut noisy = Vec::new();
    for (m, p) in [
        ("saveMessages", json!({ "messages": [msg] })),
        (
            "markMessageSent",
            json!({"ID": out, "sequence": 2, "time": 2}),
        ),
        ("setMessageRead", json!({"conversationID": "C2Cbob"})),
        ("applySnapshot", snap),
    ] {
        let r = rpc.call(m, p);
        assert!(r.response.get("result").is_some(), "{}", r.response);
        if !r.events.is_empty() {
            noisy.push(format!("{m}: {:?}", r.events));
        }
    }
    assert!(noisy.is_empty(), "no-op calls emitted: {noisy:#?}");
}

// ---------------------------------------------------------------------------
// files: open errors, reopen, mode
// ---------------------------------------------------------------------------

/// Writes a small store through rpc and closes it.
fn make_store(path: &std::path::Path) {
    let mut rpc = Rpc::spawn(path, OWNER);
    save(&mut rpc, json!([in_c2c("i1", "bob", 1, 1, true)]));
    rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["i1"]}));
    assert!(rpc.close().success());
}

/// Opening a store as another user: one response line with id null and
/// OWNER_MISMATCH (2005), exit status 2, file byte-for-byte unchanged; the
/// owner can still open it.
#[test]
fn open_as_other_user_is_owner_mismatch() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    make_store(&path);
    let bytes = file_bytes(&path);
    assert_open_failure(&path, "mallory", 2005, "OWNER_MISMATCH");
    assert_file_unchanged(&path, &bytes, "opening as another user");
    let mut rpc = Rpc::spawn(&path, OWNER);
    assert_eq!(sent_state(&mut rpc, "i1"), "pending");
}

/// After a crash (the server killed, its WAL not checkpointed), `receiptdb
/// rpc` as another user still fails with OWNER_MISMATCH, id null, exit 2,
/// and leaves the store file and its WAL byte-for-byte unchanged.
#[test]
fn open_as_other_user_after_crash_changes_no_file() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let wal = path_in(&dir, "s.db-wal");
    let mut rpc = Rpc::spawn(&path, OWNER);
    save(&mut rpc, json!([in_c2c("i1", "bob", 1, 1, true)]));
    rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["i1"]}));
    rpc.kill();
    assert!(wal.exists(), "the killed server left its WAL");
    let (main_before, wal_before) = (file_bytes(&path), file_bytes(&wal));
    assert_open_failure(&path, "mallory", 2005, "OWNER_MISMATCH");
    assert_file_unchanged(&path, &main_before, "opening as another user");
    assert!(wal.exists(), "opening as another user removed the WAL");
    assert_file_unchanged(&wal, &wal_before, "opening as another user");
    let mut rpc = Rpc::spawn(&path, OWNER);
    assert_eq!(sent_state(&mut rpc, "i1"), "pending");
}

/// A random-bytes file: STORE_CORRUPT (2006), id null, exit 2, unchanged.
#[test]
fn random_bytes_file_is_store_corrupt() {
    let dir = temp_dir();
    let path = path_in(&dir, "junk.db");
    let bytes = random_bytes(8192, 7);
    std::fs::write(&path, &bytes).unwrap();
    assert_open_failure(&path, OWNER, 2006, "STORE_CORRUPT");
    assert_file_unchanged(&path, &bytes, "after the failed open");
}

/// Another application's SQLite file (made with rusqlite): STORE_CORRUPT
/// (2006), id null, exit 2, byte-for-byte unchanged.
#[test]
fn foreign_sqlite_file_is_store_corrupt() {
    let dir = temp_dir();
    let path = path_in(&dir, "other.db");
    write_foreign_sqlite(&path);
    let bytes = file_bytes(&path);
    assert_open_failure(&path, OWNER, 2006, "STORE_CORRUPT");
    assert_file_unchanged(&path, &bytes, "after the failed open");
}

/// A receiptdb store whose user_version is past SCHEMA_VERSION:
/// SCHEMA_TOO_NEW (2007), id null, exit 2, unchanged.
#[test]
fn newer_schema_is_schema_too_new() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    make_store(&path);
    set_user_version(&path, receiptdb::SCHEMA_VERSION + 1);
    let bytes = file_bytes(&path);
    assert_open_failure(&path, OWNER, 2007, "SCHEMA_TOO_NEW");
    assert_file_unchanged(&path, &bytes, "after the failed open");
}

/// A store created by `receiptdb rpc` has mode 0600, and a second server on
/// the same file finds everything: config, groups, messages, receipt state,
/// readers, the outbox (a handed-out batch keeps its ID and contents) and
/// unread counts.
#[test]
fn restart_keeps_everything_and_mode_is_0600() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let mut rpc = Rpc::spawn(&path, OWNER);
    rpc.ok(
        "setReceiptConfig",
        json!({"enabled": true, "groupTypes": ["Work"]}),
    );
    rpc.ok(
        "setGroup",
        json!({"groupID": "g", "groupType": "Work", "members": [
            {"userID": OWNER}, {"userID": "bob"}, {"userID": "carol", "joinTime": 5}, {"userID": "dave"}]}),
    );
    let g = sent(&mut rpc, "g", "GROUP", 1, 100);
    readers_arrive(&mut rpc, &g, &sv(&["carol"]));
    let c = sent(&mut rpc, "bob", "C2C", 1, 100);
    rpc.ok(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": c, "isPeerRead": true}]}),
    );
    save(
        &mut rpc,
        json!([
            in_c2c("i1", "bob", 2, 200, true),
            in_c2c("i2", "bob", 3, 300, true),
            in_c2c("i3", "bob", 4, 400, true)
        ]),
    );
    rpc.ok(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["i1", "i2"]}),
    );
    let batches = rpc.ok("getPendingReceipts", json!({}))["batches"].clone();
    rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["i3"]}));
    let mut before = Vec::new();
    for conv in ["C2Cbob", "GROUPg"] {
        before.push(rpc.ok(
            "getMessageList",
            json!({"conversationID": conv, "count": 100}),
        ));
        before.push(rpc.ok("getConversation", json!({ "conversationID": conv })));
    }
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&path), 0o600);
        for side in ["s.db-wal", "s.db-shm"] {
            let p = path_in(&dir, side);
            if p.exists() {
                assert_eq!(mode_of(&p), 0o600, "{side}");
            }
        }
    }
    assert!(rpc.close().success());
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);

    let mut rpc = Rpc::spawn(&path, OWNER);
    let mut after = Vec::new();
    for conv in ["C2Cbob", "GROUPg"] {
        after.push(rpc.ok(
            "getMessageList",
            json!({"conversationID": conv, "count": 100}),
        ));
        after.push(rpc.ok("getConversation", json!({ "conversationID": conv })));
    }
    assert_eq!(after, before);
    assert_eq!(unread(&mut rpc, "C2Cbob"), 3);
    assert_eq!(
        rpc.ok("getReceiptConfig", json!({})),
        json!({"enabled": true, "groupTypes": ["Work"]})
    );
    assert_eq!(
        info(&mut rpc, &g),
        json!({"readCount": 1, "unreadCount": 2, "isPeerRead": false})
    );
    assert_eq!(all_members(&mut rpc, &g, 0), sv(&["carol"]));
    assert_eq!(all_members(&mut rpc, &g, 1), sv(&["bob", "dave"]));
    assert_eq!(info(&mut rpc, &c)["isPeerRead"], true);
    let again = rpc.ok("getPendingReceipts", json!({}))["batches"].clone();
    assert_eq!(
        again[0], batches[0],
        "a handed-out batch keeps its ID and contents"
    );
    assert_eq!(again.as_array().unwrap().len(), 2);
    assert_eq!(again[1]["messageIDs"], json!(["i3"]));
    // The group is still known: removing a member lowers the count.
    let r = rpc.call(
        "removeGroupMembers",
        json!({"groupID": "g", "userIDs": ["dave"]}),
    );
    assert_eq!(r.receipt_items().len(), 1, "{:?}", r.events);
    assert_eq!(info(&mut rpc, &g)["unreadCount"], 1);
    assert!(rpc.close().success());
}
