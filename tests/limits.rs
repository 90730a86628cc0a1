//! Limits enforced through `receiptdb rpc` with INVALID_PARAMS (-32602):
//! each limit is accepted at its bound and refused one past it,
//! and a refused call leaves the store unchanged (a logical dump before and
//! after). IDs count bytes, not characters; payloads count serialized bytes.

mod common;

use common::{assert_open_failure, path_in, temp_dir, Rpc, OWNER};
use serde_json::{json, Value};

const INVALID: i64 = -32602;
const NAME: &str = "INVALID_PARAMS";

fn start() -> (tempfile::TempDir, Rpc) {
    let dir = temp_dir();
    let mut rpc = Rpc::spawn(&path_in(&dir, "limits.db"), OWNER);
    // The first answer means the store file exists (dumps need it).
    rpc.ok("getReceiptConfig", json!({}));
    (dir, rpc)
}

fn in_msg(id: &str, from: &str) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": from, "to": OWNER,
           "time": 1, "sequence": 1, "needReadReceipt": true})
}

/// Saves `n` `in` messages `prefix0..` from bob (in chunks of 1,000).
fn save_many(rpc: &mut Rpc, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    for chunk in ids.chunks(1000) {
        let msgs: Vec<Value> = chunk.iter().map(|id| in_msg(id, "bob")).collect();
        rpc.ok("saveMessages", json!({ "messages": msgs }));
    }
    ids
}

/// An `out` group message, sent, in group `g` (members alice, bob, carol).
fn group_out(rpc: &mut Rpc) -> String {
    rpc.ok(
        "setGroup",
        json!({"groupID": "g", "groupType": "Work",
               "members": [{"userID": OWNER}, {"userID": "bob"}, {"userID": "carol"}]}),
    );
    let m = rpc.ok(
        "createMessage",
        json!({"to": "g", "conversationType": "GROUP", "payload": {}, "needReadReceipt": true}),
    );
    let id = m["ID"].as_str().unwrap().to_string();
    rpc.ok(
        "markMessageSent",
        json!({"ID": id, "sequence": 1, "time": 10}),
    );
    id
}

/// IDs of exactly 256 bytes are accepted in every ID field; 257 bytes (or
/// 129 two-byte characters, 258 bytes) are INVALID_PARAMS and change nothing.
#[test]
fn id_length_over_256_bytes() {
    let (_d, mut rpc) = start();
    let out = group_out(&mut rpc);
    save_many(&mut rpc, "m", 2);
    let ok256 = "a".repeat(256);
    let ok_multi = "é".repeat(128); // 256 bytes
    for good in [&ok256, &ok_multi] {
        // Each field at the bound works.
        rpc.ok("saveMessages", json!({"messages": [in_msg(good, "bob")]}));
        rpc.ok(
            "saveMessages",
            json!({"messages": [in_msg(&format!("x{}", &good[..good.len() - 2]), good)]}),
        );
        rpc.ok(
            "createMessage",
            json!({"to": good, "conversationType": "C2C", "payload": {}}),
        );
        rpc.ok(
            "setGroup",
            json!({"groupID": good, "groupType": "Work", "members": [{"userID": good}]}),
        );
        rpc.ok(
            "addGroupMembers",
            json!({"groupID": "g", "members": [{"userID": good}]}),
        );
        rpc.ok(
            "removeGroupMembers",
            json!({"groupID": "g", "userIDs": [good]}),
        );
        assert_eq!(
            rpc.ok("findMessage", json!({"messageID": good}))["ID"],
            json!(good)
        );
        rpc.ok("sendMessageReadReceipt", json!({"messageIDs": [good]}));
        rpc.ok(
            "applyReceiptNotifications",
            json!({"notifications": [
            {"messageID": out, "groupID": "g", "readerIDs": [good], "userID": good}]}),
        );
        rpc.ok(
            "applySnapshot",
            json!({"conversationID": "C2Cbob", "selfRead": [good],
                                       "receipts": [{"messageID": good, "readCount": 1}]}),
        );
        rpc.ok(
            "ackReceipts",
            json!({"batchID": good, "rejected": [{"messageID": good, "code": 1}]}),
        );
    }
    let conv256 = format!("C2C{}", "b".repeat(253));
    rpc.ok("getConversation", json!({"conversationID": conv256}));
    rpc.ok("setMessageRead", json!({"conversationID": conv256}));
    rpc.ok("getMessageList", json!({"conversationID": conv256}));

    for bad in ["a".repeat(257), "é".repeat(129)] {
        let b = bad.as_str();
        let cases = vec![
            ("saveMessages", json!({"messages": [in_msg(b, "bob")]})),
            ("saveMessages", json!({"messages": [in_msg("ok1", b)]})),
            (
                "saveMessages",
                json!({"messages": [{"ID": "ok2", "conversationType": "GROUP",
                                                  "from": "bob", "to": b}]}),
            ),
            (
                "createMessage",
                json!({"to": b, "conversationType": "C2C", "payload": {}}),
            ),
            (
                "markMessageSent",
                json!({"ID": b, "sequence": 1, "time": 1}),
            ),
            (
                "setGroup",
                json!({"groupID": b, "groupType": "Work", "members": []}),
            ),
            (
                "setGroup",
                json!({"groupID": "g", "groupType": "Work", "members": [{"userID": b}]}),
            ),
            (
                "addGroupMembers",
                json!({"groupID": "g", "members": [{"userID": b}]}),
            ),
            (
                "addGroupMembers",
                json!({"groupID": b, "members": [{"userID": "x"}]}),
            ),
            (
                "removeGroupMembers",
                json!({"groupID": "g", "userIDs": ["bob", b]}),
            ),
            ("findMessage", json!({"messageID": b})),
            (
                "getConversation",
                json!({"conversationID": format!("C2C{b}")}),
            ),
            (
                "setMessageRead",
                json!({"conversationID": format!("C2C{b}")}),
            ),
            (
                "getMessageList",
                json!({"conversationID": format!("C2C{b}")}),
            ),
            ("sendMessageReadReceipt", json!({"messageIDs": ["m0", b]})),
            (
                "getMessageReadReceiptList",
                json!({"messageIDs": ["m0", b]}),
            ),
            (
                "getGroupMessageReadMemberList",
                json!({"messageID": b, "filter": 0, "cursor": "", "count": 10}),
            ),
            (
                "applyReceiptNotifications",
                json!({"notifications": [{"messageID": b, "readCount": 1}]}),
            ),
            (
                "applyReceiptNotifications",
                json!({"notifications": [{"messageID": out, "readerIDs": ["bob", b]}]}),
            ),
            (
                "applyReceiptNotifications",
                json!({"notifications": [{"messageID": out, "userID": b}]}),
            ),
            (
                "applyReceiptNotifications",
                json!({"notifications": [{"messageID": out, "groupID": b}]}),
            ),
            (
                "applySnapshot",
                json!({"conversationID": format!("GROUP{b}")}),
            ),
            (
                "applySnapshot",
                json!({"conversationID": "C2Cbob", "selfRead": [b]}),
            ),
            (
                "applySnapshot",
                json!({"conversationID": "C2Cbob", "receipts": [{"messageID": b}]}),
            ),
            (
                "applySnapshot",
                json!({"conversationID": "GROUPg", "receipts": [{"messageID": out, "readerIDs": [b]}]}),
            ),
            ("ackReceipts", json!({"batchID": b})),
            (
                "ackReceipts",
                json!({"batchID": "b1", "rejected": [{"messageID": b, "code": 1}]}),
            ),
        ];
        for (m, p) in cases {
            rpc.err_unchanged(m, p, INVALID, NAME);
        }
    }
}

/// `receiptdb rpc --user` with a 257-byte user ID: INVALID_PARAMS at open,
/// exit 2, and no file is created.
#[test]
fn user_id_over_256_bytes_at_open() {
    let dir = temp_dir();
    let path = path_in(&dir, "u.db");
    assert_open_failure(&path, &"u".repeat(257), INVALID, NAME);
    assert!(!path.exists(), "a refused open created the file");
}

/// Payloads: exactly 64 KiB serialized is accepted, one byte more is
/// refused, and so is a payload whose escaping (control characters are
/// six bytes each) pushes it past 64 KiB; in createMessage, saveMessages
/// and applySnapshot.
#[test]
fn payload_over_64_kib_serialized() {
    let (_d, mut rpc) = start();
    let limit = 64 * 1024;
    // {"t":"…"} is 8 bytes around the text.
    let at = json!({"t": "x".repeat(limit - 8)});
    let at_multi = json!({"t": "é".repeat((limit - 8) / 2)});
    let over = json!({"t": "x".repeat(limit - 7)});
    let escaped = json!({"t": "\u{1}".repeat(11_000)}); // 11,000 chars, 66,008 bytes
    assert_eq!(serde_json::to_string(&at).unwrap().len(), limit);
    assert_eq!(serde_json::to_string(&at_multi).unwrap().len(), limit);
    assert_eq!(serde_json::to_string(&over).unwrap().len(), limit + 1);
    assert!(serde_json::to_string(&escaped).unwrap().len() > limit);

    for (i, p) in [&at, &at_multi].into_iter().enumerate() {
        let m = rpc.ok(
            "createMessage",
            json!({"to": "bob", "conversationType": "C2C", "payload": p}),
        );
        assert_eq!(&m["payload"], p);
        let mut msg = in_msg(&format!("p{i}"), "bob");
        msg["payload"] = p.clone();
        rpc.ok("saveMessages", json!({"messages": [msg]}));
        let mut msg = in_msg(&format!("s{i}"), "bob");
        msg["payload"] = p.clone();
        rpc.ok(
            "applySnapshot",
            json!({"conversationID": "C2Cbob", "messages": [msg]}),
        );
        assert_eq!(
            &rpc.ok("findMessage", json!({"messageID": format!("s{i}")}))["payload"],
            p
        );
    }
    for p in [&over, &escaped] {
        rpc.err_unchanged(
            "createMessage",
            json!({"to": "bob", "conversationType": "C2C", "payload": p}),
            INVALID,
            NAME,
        );
        let mut msg = in_msg("big", "bob");
        msg["payload"] = p.clone();
        rpc.err_unchanged(
            "saveMessages",
            json!({"messages": [in_msg("fine", "bob"), msg.clone()]}),
            INVALID,
            NAME,
        );
        rpc.err_unchanged(
            "applySnapshot",
            json!({"conversationID": "C2Cbob", "messages": [msg]}),
            INVALID,
            NAME,
        );
    }
}

/// sendMessageReadReceipt and deleteMessages take 1..30 IDs;
/// getMessageReadReceiptList 1..100.
#[test]
fn id_list_lengths() {
    let (_d, mut rpc) = start();
    let ids = save_many(&mut rpc, "m", 101);
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": []}),
        INVALID,
        NAME,
    );
    rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ids[..31]}),
        INVALID,
        NAME,
    );
    let q = rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ids[..30]}));
    assert_eq!(q["queued"].as_array().unwrap().len(), 30);
    rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ids[30..31]}));

    rpc.err_unchanged(
        "getMessageReadReceiptList",
        json!({"messageIDs": []}),
        INVALID,
        NAME,
    );
    rpc.err_unchanged(
        "getMessageReadReceiptList",
        json!({ "messageIDs": ids }),
        INVALID,
        NAME,
    );
    let l = rpc.ok(
        "getMessageReadReceiptList",
        json!({"messageIDs": ids[..100]}),
    );
    assert_eq!(l["messageList"].as_array().unwrap().len(), 100);
    rpc.ok("getMessageReadReceiptList", json!({"messageIDs": ids[..1]}));

    // deleteMessages: 1..30 as well (last, since it deletes).
    rpc.err_unchanged("deleteMessages", json!({"messageIDs": []}), INVALID, NAME);
    rpc.err_unchanged(
        "deleteMessages",
        json!({"messageIDs": ids[..31]}),
        INVALID,
        NAME,
    );
    let d = rpc.ok("deleteMessages", json!({"messageIDs": ids[..30]}));
    assert_eq!(d["deleted"].as_array().unwrap().len(), 30);
}

/// `count` is 1..100 for getMessageList and getGroupMessageReadMemberList
/// (zero, negative, 101 and numbers past i64 are refused).
#[test]
fn count_out_of_range() {
    let (_d, mut rpc) = start();
    save_many(&mut rpc, "m", 120);
    let out = group_out(&mut rpc);
    let bad: [Value; 5] = [
        json!(0),
        json!(-1),
        json!(101),
        json!(i64::MIN),
        serde_json::from_str("18446744073709551616").unwrap(),
    ];
    for c in &bad {
        rpc.err_unchanged(
            "getMessageList",
            json!({"conversationID": "C2Cbob", "count": c}),
            INVALID,
            NAME,
        );
        for filter in [0, 1] {
            rpc.err_unchanged(
                "getGroupMessageReadMemberList",
                json!({"messageID": out, "filter": filter, "cursor": "", "count": c}),
                INVALID,
                NAME,
            );
        }
    }
    for c in [1, 100] {
        let page = rpc.ok(
            "getMessageList",
            json!({"conversationID": "C2Cbob", "count": c}),
        );
        assert_eq!(page["messageList"].as_array().unwrap().len(), c as usize);
        rpc.ok(
            "getGroupMessageReadMemberList",
            json!({"messageID": out, "filter": 1, "cursor": "", "count": c}),
        );
    }
}

/// saveMessages (and a snapshot's messages) take at most 1,000 messages.
#[test]
fn save_messages_over_1000() {
    let (_d, mut rpc) = start();
    let msgs = |prefix: &str, n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| in_msg(&format!("{prefix}{i}"), "bob"))
            .collect()
    };
    rpc.err_unchanged(
        "saveMessages",
        json!({"messages": msgs("a", 1001)}),
        INVALID,
        NAME,
    );
    rpc.err_unchanged(
        "applySnapshot",
        json!({"conversationID": "C2Cbob", "messages": msgs("a", 1001)}),
        INVALID,
        NAME,
    );
    assert_eq!(
        rpc.ok("saveMessages", json!({"messages": msgs("b", 1000)}))["saved"],
        1000
    );
    rpc.ok(
        "applySnapshot",
        json!({"conversationID": "C2Cbob", "messages": msgs("c", 1000)}),
    );
    assert_eq!(
        rpc.ok("getConversation", json!({"conversationID": "C2Cbob"}))["unreadCount"],
        2000
    );
}

/// Members per call: 200,001 in setGroup, addGroupMembers or
/// removeGroupMembers is INVALID_PARAMS and changes nothing; 200,000 in
/// setGroup is accepted.
#[test]
fn members_per_call_over_200_000() {
    let (_d, mut rpc) = start();
    rpc.ok(
        "setGroup",
        json!({"groupID": "g", "groupType": "Work", "members": [{"userID": OWNER}]}),
    );
    let members = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"userID": format!("u{i:06}")}))
            .collect()
    };
    let over = members(200_001);
    rpc.err_unchanged(
        "setGroup",
        json!({"groupID": "g2", "groupType": "Work", "members": over}),
        INVALID,
        NAME,
    );
    rpc.err_unchanged(
        "addGroupMembers",
        json!({"groupID": "g", "members": over}),
        INVALID,
        NAME,
    );
    let ids: Vec<String> = (0..200_001).map(|i| format!("u{i:06}")).collect();
    rpc.err_unchanged(
        "removeGroupMembers",
        json!({"groupID": "g", "userIDs": ids}),
        INVALID,
        NAME,
    );
    let mut at = members(199_999);
    at.push(json!({"userID": OWNER}));
    rpc.ok(
        "setGroup",
        json!({"groupID": "g2", "groupType": "Work", "members": at}),
    );
    // The audience of a message in it is the 199,999 others.
    let m = rpc.ok(
        "createMessage",
        json!({"to": "g2", "conversationType": "GROUP", "payload": {}, "needReadReceipt": true}),
    );
    let id = m["ID"].as_str().unwrap();
    let sent = rpc.ok(
        "markMessageSent",
        json!({"ID": id, "sequence": 1, "time": 1}),
    );
    assert_eq!(sent["readReceiptInfo"]["unreadCount"], 199_999);
}

/// getPendingReceipts `limit` is 1..100 batches.
#[test]
fn pending_receipts_limit_out_of_range() {
    let (_d, mut rpc) = start();
    let ids = save_many(&mut rpc, "m", 90);
    for c in ids.chunks(30) {
        rpc.ok("sendMessageReadReceipt", json!({ "messageIDs": c }));
    }
    let bad: [Value; 6] = [
        json!(0),
        json!(-1),
        json!(101),
        json!(i64::MAX),
        json!(1.5),
        serde_json::from_str("18446744073709551616").unwrap(),
    ];
    for l in &bad {
        rpc.err_unchanged("getPendingReceipts", json!({ "limit": l }), INVALID, NAME);
    }
    let one = rpc.ok("getPendingReceipts", json!({"limit": 1}));
    assert_eq!(one["batches"].as_array().unwrap().len(), 1);
    let all = rpc.ok("getPendingReceipts", json!({"limit": 100}));
    assert_eq!(all["batches"].as_array().unwrap().len(), 3);
}

/// getMessageList's `nextReqMessageID` over 256 bytes is a bad length:
/// INVALID_PARAMS like every other ID, not MESSAGE_NOT_FOUND.
#[test]
fn next_req_message_id_over_256_bytes() {
    let (_d, mut rpc) = start();
    save_many(&mut rpc, "m", 3);
    rpc.ok(
        "getMessageList",
        json!({"conversationID": "C2Cbob", "nextReqMessageID": "m2"}),
    );
    rpc.err_unchanged(
        "getMessageList",
        json!({"conversationID": "C2Cbob", "nextReqMessageID": "a".repeat(257)}),
        INVALID,
        NAME,
    );
}
