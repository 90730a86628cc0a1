//! Integration tests of the `receiptdb rpc` process itself: pipelined lines
//! with garbage in between, queued receipts surviving kill -9, member-list
//! paging while readers arrive, open errors (id null, exit status 2, file
//! unchanged) and restart / file mode. What a request answers, method by
//! method, is the conformance corpus (`tests/conformance/*.jsonl`), which
//! runs through this process too (`tests/conformance.rs`).

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

fn save(rpc: &mut Rpc, msgs: Value) {
    let n = msgs.as_array().unwrap().len();
    let r = rpc.ok("saveMessages", json!({ "messages": msgs }));
    assert_eq!(r, json!({ "saved": n }));
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

// ---------------------------------------------------------------------------
// read receipts: durability and paging under load
// ---------------------------------------------------------------------------

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
        json!({"enabled": true, "groupTypes": ["Work"], "deliveryReceipts": false, "privateReading": false})
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
