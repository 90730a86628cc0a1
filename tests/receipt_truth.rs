//! Receipt answers that never contradict themselves: each rule through the Rust API
//! and through `receiptdb rpc`.

mod common;

use common::*;
use receiptdb::{
    ConversationType, Error, GroupType, IncomingMessage, Member, MemberFilter, ReceiptNotification,
    Snapshot, SnapshotReceipt, Store,
};
use serde_json::{json, Value};

// ----- Rust API helpers -----

fn store() -> (tempfile::TempDir, Store) {
    let dir = temp_dir();
    let s = Store::open(path_in(&dir, "s.db"), OWNER).expect("open");
    (dir, s)
}

fn members(users: &[&str]) -> Vec<Member> {
    users.iter().map(|u| Member::new(*u)).collect()
}

fn out_group(id: &str, g: &str, time: i64, need: bool) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::Group),
        from: OWNER.into(),
        to: g.into(),
        time,
        sequence: time,
        need_read_receipt: need,
        ..Default::default()
    }
}

fn out_c2c(id: &str, peer: &str, need: bool) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: OWNER.into(),
        to: peer.into(),
        time: 10,
        sequence: 1,
        need_read_receipt: need,
        ..Default::default()
    }
}

fn note(id: &str, readers: &[&str]) -> ReceiptNotification {
    ReceiptNotification {
        message_id: id.into(),
        reader_ids: Some(readers.iter().map(|r| r.to_string()).collect()),
        ..Default::default()
    }
}

fn list(s: &Store, id: &str, f: MemberFilter) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut cursor = String::new();
    let mut stale = None;
    loop {
        let p = s
            .get_group_message_read_member_list(id, f, &cursor, 2)
            .expect("page");
        if let Some(st) = stale {
            assert_eq!(st, p.is_stale, "isStale is the same on every page");
        }
        stale = Some(p.is_stale);
        out.extend(
            p.read_user_id_list
                .or(p.unread_user_id_list)
                .unwrap_or_default(),
        );
        if p.is_completed {
            return (out, p.is_stale);
        }
        cursor = p.cursor;
    }
}

fn counts(s: &Store, id: &str) -> (u64, Option<u64>, bool) {
    let m = s
        .get_message_read_receipt_list(&[id.to_string()])
        .expect("receipts")
        .remove(0);
    let i = m.read_receipt_info.expect("receipt info");
    (i.read_count, i.unread_count, i.is_peer_read)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ----- Rust API -----

/// The sender, strangers and late joiners are kept aside, never counted or
/// listed; they count once membership places them in the audience.
#[test]
fn api_only_readers_in_the_audience_count() {
    let (_d, s) = store();
    let mut m = members(&["alice", "bob", "carol", "dave"]);
    m.push(Member {
        user_id: "erin".into(),
        join_time: Some(200),
    });
    s.set_group("g", GroupType::Work, &m).expect("group");
    s.save_messages(&[out_group("m1", "g", 100, true)])
        .expect("save");
    s.apply_receipt_notifications(&[note("m1", &["alice", "zed", "bob", "erin"])])
        .expect("notes");
    assert_eq!(list(&s, "m1", MemberFilter::Read), (strs(&["bob"]), false));
    assert_eq!(
        list(&s, "m1", MemberFilter::Unread),
        (strs(&["carol", "dave"]), false)
    );
    assert_eq!(counts(&s, "m1"), (1, Some(2), false));
    s.add_group_members("g", &members(&["zed"]))
        .expect("zed joins");
    assert_eq!(
        list(&s, "m1", MemberFilter::Read),
        (strs(&["bob", "zed"]), false)
    );
    assert_eq!(counts(&s, "m1"), (2, Some(2), false));
}

/// A store with group `g` (alice the owner, bob, carol, dave) and the
/// owner's receipt message `m1` in it.
fn four_members_and_m1() -> (tempfile::TempDir, Store) {
    let (d, s) = store();
    s.set_group(
        "g",
        GroupType::Work,
        &members(&["alice", "bob", "carol", "dave"]),
    )
    .expect("group");
    s.save_messages(&[out_group("m1", "g", 100, true)])
        .expect("save");
    (d, s)
}

/// Leaving keeps a read and drops an unread.
#[test]
fn api_leaving_keeps_a_read_and_drops_an_unread() {
    let (_d, s) = four_members_and_m1();
    s.apply_receipt_notifications(&[note("m1", &["bob"])])
        .expect("notes");
    s.remove_group_members("g", &strs(&["bob", "carol"]))
        .expect("leave");
    assert_eq!(list(&s, "m1", MemberFilter::Read), (strs(&["bob"]), false));
    assert_eq!(
        list(&s, "m1", MemberFilter::Unread),
        (strs(&["dave"]), false)
    );
    assert_eq!(counts(&s, "m1"), (1, Some(1), false));
    // setGroup replacing the list keeps the former reader too.
    s.set_group("g", GroupType::Work, &members(&["alice", "dave"]))
        .expect("regroup");
    assert_eq!(list(&s, "m1", MemberFilter::Read), (strs(&["bob"]), false));
}

/// A receipt that arrives after its reader left still counts: they were in
/// the message's audience (PROTOCOL.md, Audience), now as a former member.
#[test]
fn api_a_receipt_from_a_member_who_left_still_counts() {
    let (_d, s) = four_members_and_m1();
    s.remove_group_members("g", &strs(&["carol"]))
        .expect("leave");
    s.apply_receipt_notifications(&[note("m1", &["carol"])])
        .expect("notes");
    assert_eq!(
        list(&s, "m1", MemberFilter::Read),
        (strs(&["carol"]), false)
    );
    assert_eq!(
        list(&s, "m1", MemberFilter::Unread),
        (strs(&["bob", "dave"]), false)
    );
    assert_eq!(counts(&s, "m1"), (1, Some(2), false));
}

/// unreadCount 0 ⇒ empty unread list; isStale when counts exceed lists.
#[test]
fn api_counts_and_lists_tell_one_story() {
    let (_d, s) = store();
    s.set_group("g", GroupType::Work, &members(&["alice", "bob", "carol"]))
        .expect("group");
    s.save_messages(&[out_group("m1", "g", 100, true)])
        .expect("save");
    s.apply_receipt_notifications(&[ReceiptNotification {
        message_id: "m1".into(),
        read_count: Some(2),
        unread_count: Some(0),
        user_id: Some("bob".into()),
        ..Default::default()
    }])
    .expect("note");
    assert_eq!(list(&s, "m1", MemberFilter::Unread), (vec![], true));
    assert_eq!(list(&s, "m1", MemberFilter::Read), (strs(&["bob"]), true));
    s.add_group_members("g", &members(&["frank"]))
        .expect("join");
    assert_eq!(list(&s, "m1", MemberFilter::Unread), (vec![], true));
    assert_eq!(counts(&s, "m1"), (2, Some(0), false));
}

/// A C2C receipt is one bit: evidence about the peer sets it, counts are
/// derived, evidence about anyone else changes nothing.
#[test]
fn api_c2c_receipt_is_one_bit() {
    let (_d, s) = store();
    s.save_messages(&[
        out_c2c("a", "bob", true),
        out_c2c("b", "bob", true),
        out_c2c("c", "bob", true),
    ])
    .expect("save");
    let changed = s
        .apply_receipt_notifications(&[
            ReceiptNotification {
                message_id: "a".into(),
                read_count: Some(7),
                ..Default::default()
            },
            ReceiptNotification {
                message_id: "b".into(),
                unread_count: Some(0),
                ..Default::default()
            },
            note("c", &["zed"]),
        ])
        .expect("notes");
    assert_eq!(changed, strs(&["a", "b"]));
    assert_eq!(counts(&s, "a"), (1, Some(0), true));
    assert_eq!(counts(&s, "b"), (1, Some(0), true));
    assert_eq!(counts(&s, "c"), (0, Some(1), false));
}

/// Community / AVChatRoom: both read methods refuse, receipt information is
/// ignored, also for a group retyped after its messages arrived.
#[test]
fn api_unsupported_groups_have_no_receipts() {
    let (_d, s) = store();
    s.set_group("c", GroupType::Community, &members(&["alice", "bob"]))
        .expect("group");
    s.set_group("w", GroupType::Work, &members(&["alice", "bob"]))
        .expect("group");
    s.save_messages(&[
        out_group("m1", "c", 100, true),
        out_group("m2", "w", 100, true),
    ])
    .expect("save");
    s.set_group("w", GroupType::AVChatRoom, &members(&["alice", "bob"]))
        .expect("retype");
    for id in ["m1", "m2"] {
        let changed = s
            .apply_receipt_notifications(&[note(id, &["bob"])])
            .expect("ignored, no error");
        assert!(changed.is_empty());
        assert!(matches!(
            s.get_message_read_receipt_list(&[id.to_string()]),
            Err(Error::UnsupportedGroupType(_))
        ));
        assert!(matches!(
            s.get_group_message_read_member_list(id, MemberFilter::Read, "", 10),
            Err(Error::UnsupportedGroupType(_))
        ));
    }
}

/// Receipt information for a held message that needs no receipt is kept and
/// applies when a later save says it needs one.
#[test]
fn api_information_for_a_message_without_receipt_is_kept() {
    let (_d, s) = store();
    s.set_group("g", GroupType::Work, &members(&["alice", "bob", "carol"]))
        .expect("group");
    s.save_messages(&[out_group("m1", "g", 100, false)])
        .expect("save");
    assert!(s
        .apply_receipt_notifications(&[note("m1", &["bob"])])
        .expect("notes")
        .is_empty());
    s.save_messages(&[out_group("m1", "g", 100, true)])
        .expect("upgrade");
    assert_eq!(list(&s, "m1", MemberFilter::Read), (strs(&["bob"]), false));
    assert_eq!(counts(&s, "m1"), (1, Some(1), false));
}

/// Cursors belong to one message and filter; duplicate IDs come back once.
#[test]
fn api_cursors_are_bound_and_duplicates_come_once() {
    let (_d, s) = store();
    s.set_group("g", GroupType::Work, &members(&["alice", "b1", "b2", "b3"]))
        .expect("group");
    s.save_messages(&[
        out_group("m1", "g", 100, true),
        out_group("m2", "g", 101, true),
    ])
    .expect("save");
    let p = s
        .get_group_message_read_member_list("m1", MemberFilter::Unread, "", 1)
        .expect("page");
    assert!(!p.is_completed);
    assert!(matches!(
        s.get_group_message_read_member_list("m2", MemberFilter::Unread, &p.cursor, 1),
        Err(Error::InvalidParams(_))
    ));
    let got = s
        .get_message_read_receipt_list(&strs(&["m2", "m1", "m2"]))
        .expect("list");
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m2", "m1"]);
}

/// Early receipt information applies only in the conversation it was given for.
#[test]
fn api_early_receipts_keep_their_conversation() {
    let (_d, s) = store();
    s.set_group("g1", GroupType::Work, &members(&["alice", "dave", "bob"]))
        .expect("group");
    s.apply_snapshot(&Snapshot {
        conversation_id: "C2Cdave".into(),
        receipts: vec![SnapshotReceipt {
            message_id: "x1".into(),
            read_count: Some(2),
            reader_ids: Some(strs(&["dave"])),
            ..Default::default()
        }],
        self_read: strs(&["y1"]),
        ..Default::default()
    })
    .expect("snapshot");
    let mut y1 = out_group("y1", "g1", 100, true);
    y1.from = "bob".into();
    s.save_messages(&[out_group("x1", "g1", 100, true), y1])
        .expect("save");
    assert_eq!(list(&s, "x1", MemberFilter::Read), (vec![], false));
    assert_eq!(counts(&s, "x1"), (0, Some(2), false));
    let y = s.find_message("y1").expect("find").expect("held");
    assert_eq!(
        serde_json::to_value(y.receipt_sent_state).expect("json"),
        json!("none")
    );
    // Given with no conversation, it applies whatever the conversation.
    s.apply_receipt_notifications(&[note("x2", &["dave"])])
        .expect("early");
    s.save_messages(&[out_group("x2", "g1", 100, true)])
        .expect("save");
    assert_eq!(list(&s, "x2", MemberFilter::Read), (strs(&["dave"]), false));
}

/// Only the exact batch ID handed out acks.
#[test]
fn api_ack_needs_the_exact_batch_id() {
    let (_d, s) = store();
    let mut m = out_c2c("i1", "bob", true);
    m.from = "bob".into();
    m.to = OWNER.into();
    s.save_messages(&[m]).expect("save");
    s.send_message_read_receipt(&strs(&["i1"])).expect("send");
    let b = s.get_pending_receipts(None).expect("pending");
    let id = b[0].batch_id.clone();
    let digits = id.trim_start_matches('b');
    for bad in [format!("b0{digits}"), format!("b+{digits}")] {
        assert!(!s.ack_receipts(&bad, &[]).expect("ack"), "{bad} acked {id}");
    }
    assert!(s.ack_receipts(&id, &[]).expect("ack"));
}

// ----- rpc -----

fn start() -> (tempfile::TempDir, Rpc) {
    let dir = temp_dir();
    let rpc = Rpc::spawn(&path_in(&dir, "store.db"), OWNER);
    (dir, rpc)
}

fn rpc_group(rpc: &mut Rpc, g: &str, t: &str, users: &[&str]) {
    let m: Vec<Value> = users.iter().map(|u| json!({"userID": u})).collect();
    rpc.ok(
        "setGroup",
        json!({"groupID": g, "groupType": t, "members": m}),
    );
}

fn rpc_out(g: &str, id: &str, need: bool) -> Value {
    json!({"ID": id, "conversationID": format!("GROUP{g}"), "from": OWNER, "to": g,
           "time": 100, "sequence": 1, "needReadReceipt": need, "payload": {}})
}

fn rpc_page(rpc: &mut Rpc, id: &str, filter: i64) -> Value {
    rpc.ok(
        "getGroupMessageReadMemberList",
        json!({"messageID": id, "filter": filter, "cursor": null, "count": 100}),
    )
}

#[test]
fn rpc_audience_leaving_and_one_story() {
    let (_d, mut rpc) = start();
    rpc_group(&mut rpc, "g", "Work", &["alice", "bob", "carol", "dave"]);
    rpc.ok(
        "saveMessages",
        json!({"messages": [rpc_out("g", "m1", true)]}),
    );
    rpc.ok(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": "m1", "readerIDs": ["alice", "zed", "bob"]}]}),
    );
    let r = rpc_page(&mut rpc, "m1", 0);
    assert_eq!(r["readUserIDList"], json!(["bob"]));
    assert_eq!(r["isStale"], json!(false));
    rpc.ok(
        "removeGroupMembers",
        json!({"groupID": "g", "userIDs": ["bob", "carol"]}),
    );
    assert_eq!(
        rpc_page(&mut rpc, "m1", 0)["readUserIDList"],
        json!(["bob"])
    );
    assert_eq!(
        rpc_page(&mut rpc, "m1", 1)["unreadUserIDList"],
        json!(["dave"])
    );
    rpc.ok(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": "m1", "readCount": 3, "unreadCount": 0}]}),
    );
    let u = rpc_page(&mut rpc, "m1", 1);
    assert_eq!(u["unreadUserIDList"], json!([]));
    assert_eq!(u["isStale"], json!(true));
}

#[test]
fn rpc_c2c_bit_and_upgrade_event() {
    let (_d, mut rpc) = start();
    let m = |id: &str, need: bool| {
        json!({"ID": id, "conversationType": "C2C", "from": OWNER, "to": "bob",
               "time": 10, "sequence": 1, "needReadReceipt": need, "payload": {}})
    };
    rpc.ok(
        "saveMessages",
        json!({"messages": [m("a", true), m("u", false)]}),
    );
    let r = rpc.call(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": "a", "readCount": 7}]}),
    );
    let items = r.receipt_items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["readCount"], json!(1));
    assert_eq!(items[0]["unreadCount"], json!(0));
    assert_eq!(items[0]["isPeerRead"], json!(true));
    let r = rpc.call("saveMessages", json!({"messages": [m("u", true)]}));
    let items = r.receipt_items();
    assert_eq!(
        items.len(),
        1,
        "upgrade emits a receipt event: {:?}",
        r.events
    );
    assert_eq!(items[0]["messageID"], json!("u"));
    assert_eq!(items[0]["unreadCount"], json!(1));
}

#[test]
fn rpc_unsupported_groups_and_cursors() {
    let (_d, mut rpc) = start();
    rpc_group(&mut rpc, "c", "Community", &["alice", "bob"]);
    rpc_group(&mut rpc, "g", "Work", &["alice", "b1", "b2", "b3"]);
    rpc.ok(
        "saveMessages",
        json!({"messages": [rpc_out("c", "m1", true), rpc_out("g", "m2", true), rpc_out("g", "m3", true)]}),
    );
    let r = rpc.call(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": "m1", "userID": "bob"}]}),
    );
    assert!(r.events.is_empty(), "{:?}", r.events);
    assert_eq!(r.response["result"], json!({"changed": []}));
    rpc.err(
        "getMessageReadReceiptList",
        json!({"messageIDs": ["m1"]}),
        2004,
        "UNSUPPORTED_GROUP_TYPE",
    );
    rpc.err(
        "getGroupMessageReadMemberList",
        json!({"messageID": "m1", "filter": 0, "cursor": "", "count": 10}),
        2004,
        "UNSUPPORTED_GROUP_TYPE",
    );
    let p = rpc.ok(
        "getGroupMessageReadMemberList",
        json!({"messageID": "m2", "filter": 1, "cursor": null, "count": 1}),
    );
    rpc.err(
        "getGroupMessageReadMemberList",
        json!({"messageID": "m3", "filter": 1, "cursor": p["cursor"], "count": 1}),
        -32602,
        "INVALID_PARAMS",
    );
    let l = rpc.ok(
        "getMessageReadReceiptList",
        json!({"messageIDs": ["m3", "m2", "m3"]}),
    );
    let ids: Vec<&Value> = l["messageList"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| &m["ID"])
        .collect();
    assert_eq!(ids, [&json!("m3"), &json!("m2")]);
}

#[test]
fn rpc_kept_information_early_conversation_and_exact_batch() {
    let (_d, mut rpc) = start();
    rpc_group(&mut rpc, "g1", "Work", &["alice", "bob", "dave"]);
    rpc.ok(
        "saveMessages",
        json!({"messages": [rpc_out("g1", "n1", false)]}),
    );
    rpc.ok(
        "applyReceiptNotifications",
        json!({"notifications": [{"messageID": "n1", "userID": "bob"}]}),
    );
    rpc.ok(
        "applySnapshot",
        json!({"conversationID": "C2Cdave", "receipts": [{"messageID": "x1", "readerIDs": ["dave"]}]}),
    );
    rpc.ok(
        "saveMessages",
        json!({"messages": [rpc_out("g1", "n1", true), rpc_out("g1", "x1", true)]}),
    );
    assert_eq!(
        rpc_page(&mut rpc, "n1", 0)["readUserIDList"],
        json!(["bob"])
    );
    assert_eq!(rpc_page(&mut rpc, "x1", 0)["readUserIDList"], json!([]));
    rpc.ok(
        "saveMessages",
        json!({"messages": [{"ID": "i1", "conversationID": "GROUPg1", "from": "bob", "to": "g1",
                             "time": 5, "sequence": 2, "needReadReceipt": true, "payload": {}}]}),
    );
    rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["i1"]}));
    let b = rpc.ok("getPendingReceipts", json!({}));
    let id = b["batches"][0]["batchID"].as_str().expect("id").to_string();
    let digits = id.trim_start_matches('b').to_string();
    for bad in [format!("b0{digits}"), format!("b+{digits}")] {
        assert_eq!(
            rpc.ok("ackReceipts", json!({"batchID": bad})),
            json!({"acked": false})
        );
    }
    assert_eq!(
        rpc.ok("ackReceipts", json!({"batchID": id})),
        json!({"acked": true})
    );
}
