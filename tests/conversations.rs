//! Conversation read state and message identity / ID limits,
//! through the Rust API and through `receiptdb rpc`.

mod common;

use common::*;
use receiptdb::{
    ConversationType, EventKind, Filter, IncomingMessage, PushedReadReport, ReadReport, Snapshot,
    Store,
};
use serde_json::{json, Value};

/// A message's time from its sequence; the extreme sequences some tests
/// use keep an ordinary time (`1000 + seq` overflowed for them).
fn time_of(seq: i64) -> i64 {
    1000 + seq.min(1 << 40)
}

fn in_c2c(id: &str, peer: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: peer.into(),
        to: OWNER.into(),
        time: time_of(seq),
        sequence: seq,
        ..Default::default()
    }
}

fn out_c2c(id: &str, peer: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: OWNER.into(),
        to: peer.into(),
        time: time_of(seq),
        sequence: seq,
        ..Default::default()
    }
}

fn unread(s: &Store, c: &str) -> u64 {
    s.get_conversation(c).unwrap().unread_count
}

fn drain(sub: &receiptdb::Subscription) -> Vec<EventKind> {
    sub.receiver().try_iter().map(|e| e.kind).collect()
}

#[test]
fn unread_count_is_its_definition() {
    let s = Store::open_in_memory(OWNER).unwrap();
    s.save_messages(&[in_c2c("b1", "bob", 1), in_c2c("b2", "bob", 2)])
        .unwrap();
    assert_eq!(unread(&s, "C2Cbob"), 2);
    assert_eq!(s.set_message_read("C2Cbob", Some(1)).unwrap(), 1);
    assert_eq!(unread(&s, "C2Cbob"), 1);
    // Never down.
    assert_eq!(s.set_message_read("C2Cbob", Some(0)).unwrap(), 1);
    assert_eq!(s.set_message_read("C2Cbob", None).unwrap(), 2);
    assert_eq!(unread(&s, "C2Cbob"), 0);
    // A late message below the read position is not unread.
    s.save_messages(&[in_c2c("late", "bob", 2)]).unwrap();
    assert_eq!(unread(&s, "C2Cbob"), 0);
    // A position above every held message covers arrivals.
    s.set_message_read("C2Cbob", Some(10)).unwrap();
    s.save_messages(&[in_c2c("b9", "bob", 9), in_c2c("b11", "bob", 11)])
        .unwrap();
    assert_eq!(unread(&s, "C2Cbob"), 1);
    // unSend/fail messages are not unread; a save making one success is.
    s.save_messages(&[IncomingMessage {
        status: Some(receiptdb::MessageStatus::Fail),
        ..in_c2c("f", "bob", 12)
    }])
    .unwrap();
    assert_eq!(unread(&s, "C2Cbob"), 1);
    s.save_messages(&[in_c2c("f", "bob", 12)]).unwrap();
    assert_eq!(unread(&s, "C2Cbob"), 2);
    assert_eq!(s.get_total_unread_message_count().unwrap(), 2);
    let c = s.get_conversation("C2Cbob").unwrap();
    assert_eq!(c.read_sequence, 10);
    assert_eq!(c.peer_read_sequence, Some(0));
    assert_eq!(c.last_message.unwrap().id, "f");
    let g = s.get_conversation("GROUPnever").unwrap();
    assert_eq!(
        (g.unread_count, g.read_sequence, g.peer_read_sequence),
        (0, 0, None)
    );
    assert!(g.last_message.is_none());
}

/// Two read positions for one conversation in one call: the second move
/// starts where the first ended (the unread count falls by each move's own
/// messages, the total with it).
#[test]
fn two_positions_for_one_conversation_in_one_call() {
    let s = Store::open_in_memory(OWNER).unwrap();
    let msgs: Vec<_> = (1..=5)
        .map(|q| in_c2c(&format!("b{q}"), "bob", q))
        .collect();
    s.save_messages(&msgs).unwrap();
    let report = |q| PushedReadReport {
        conversation_id: "C2Cbob".into(),
        read_sequence: Some(q),
        peer_read_sequence: None,
        ..Default::default()
    };
    s.apply_read_reports(&[report(2), report(4)]).unwrap();
    let c = s.get_conversation("C2Cbob").unwrap();
    assert_eq!((c.read_sequence, c.unread_count), (4, 1));
    assert_eq!(s.get_total_unread_message_count().unwrap(), 1);
}

#[test]
fn total_and_set_all_and_events() {
    let s = Store::open_in_memory(OWNER).unwrap();
    let sub = s.subscribe(Filter::All);
    s.save_messages(&[in_c2c("b1", "bob", 1), in_c2c("c1", "carol", 1)])
        .unwrap();
    let ev = drain(&sub);
    assert!(ev.contains(&EventKind::TotalUnreadChanged(2)), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, EventKind::ConversationChanged { conversation_id, unread_count: 1, read_sequence: 0, peer_read_sequence: Some(0), marked_unread: false } if conversation_id == "C2Cbob")));
    assert_eq!(s.get_total_unread_message_count().unwrap(), 2);
    assert_eq!(s.set_all_message_read().unwrap(), 2);
    assert_eq!(s.get_total_unread_message_count().unwrap(), 0);
    let ev = drain(&sub);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, EventKind::TotalUnreadChanged(0)))
            .count(),
        1
    );
    // Nothing changes, nothing emitted.
    assert_eq!(s.set_all_message_read().unwrap(), 0);
    assert!(drain(&sub).is_empty());
    // Receipts never touch the read state.
    assert_eq!(s.set_message_read("C2Cbob", Some(1)).unwrap(), 1);
}

#[test]
fn read_reports_queue_coalesce_and_ack() {
    let s = Store::open_in_memory(OWNER).unwrap();
    s.save_messages(&[
        in_c2c("b1", "bob", 1),
        in_c2c("b2", "bob", 2),
        in_c2c("b3", "bob", 3),
    ])
    .unwrap();
    s.set_message_read("C2Cbob", Some(1)).unwrap();
    s.set_message_read("C2Cbob", Some(2)).unwrap();
    let rr = |c: &str, n: i64| ReadReport {
        conversation_id: c.into(),
        read_sequence: n,
        read_time: None,
        private: false,
    };
    assert_eq!(s.get_pending_read_reports().unwrap(), vec![rr("C2Cbob", 2)]);
    // An ack below the pending position leaves it.
    assert_eq!(s.ack_read_reports(&[rr("C2Cbob", 1)]).unwrap(), 0);
    assert_eq!(s.get_pending_read_reports().unwrap(), vec![rr("C2Cbob", 2)]);
    assert_eq!(s.ack_read_reports(&[rr("C2Cbob", 2)]).unwrap(), 1);
    assert_eq!(s.ack_read_reports(&[rr("C2Cbob", 2)]).unwrap(), 0);
    assert!(s.get_pending_read_reports().unwrap().is_empty());
    // A server position at or above a pending report clears it.
    s.set_message_read("C2Cbob", Some(3)).unwrap();
    s.apply_read_reports(&[PushedReadReport {
        conversation_id: "C2Cbob".into(),
        read_sequence: Some(3),
        peer_read_sequence: None,
        ..Default::default()
    }])
    .unwrap();
    assert!(s.get_pending_read_reports().unwrap().is_empty());
    // ... and by a snapshot; a server position moves it without a report.
    s.save_messages(&[in_c2c("b4", "bob", 4), in_c2c("b5", "bob", 5)])
        .unwrap();
    s.set_message_read("C2Cbob", Some(4)).unwrap();
    s.apply_snapshot(&Snapshot {
        conversation_id: "C2Cbob".into(),
        read_sequence: Some(5),
        ..Default::default()
    })
    .unwrap();
    assert!(s.get_pending_read_reports().unwrap().is_empty());
    assert_eq!(unread(&s, "C2Cbob"), 0);
    assert_eq!(s.get_conversation("C2Cbob").unwrap().read_sequence, 5);
}

#[test]
fn peer_read_marks_exactly_and_emits_once() {
    let s = Store::open_in_memory(OWNER).unwrap();
    s.save_messages(&[
        out_c2c("a1", "bob", 1),
        out_c2c("a2", "bob", 2),
        out_c2c("a3", "bob", 3),
    ])
    .unwrap();
    let sub = s.subscribe(Filter::All);
    let pr = |n: i64| PushedReadReport {
        conversation_id: "C2Cbob".into(),
        read_sequence: None,
        peer_read_sequence: Some(n),
        ..Default::default()
    };
    assert_eq!(s.apply_read_reports(&[pr(2)]).unwrap(), vec!["C2Cbob"]);
    let flags: Vec<bool> = ["a1", "a2", "a3"]
        .iter()
        .map(|i| s.find_message(i).unwrap().unwrap().is_peer_read)
        .collect();
    assert_eq!(flags, vec![true, true, false]);
    let ev = drain(&sub);
    let by_peer: Vec<&EventKind> = ev
        .iter()
        .filter(|e| matches!(e, EventKind::MessagesReadByPeer(_)))
        .collect();
    let want = vec![
        s.find_message("a1").unwrap().unwrap(),
        s.find_message("a2").unwrap().unwrap(),
    ];
    assert_eq!(by_peer, vec![&EventKind::MessagesReadByPeer(want)]);
    // Stale and repeated reports change nothing and emit nothing.
    assert!(s.apply_read_reports(&[pr(2), pr(1)]).unwrap().is_empty());
    assert!(drain(&sub).is_empty());
    // A message arriving at or below the position arrives read, no event.
    s.save_messages(&[out_c2c("a0", "bob", 1)]).unwrap();
    assert!(s.find_message("a0").unwrap().unwrap().is_peer_read);
    assert!(!drain(&sub)
        .iter()
        .any(|e| matches!(e, EventKind::MessagesReadByPeer(_))));
    // Receipts never touch isPeerRead; read reports never touch readReceiptInfo.
    assert!(s
        .find_message("a1")
        .unwrap()
        .unwrap()
        .read_receipt_info
        .is_none());
    // A group peer position is refused and changes nothing.
    let g = PushedReadReport {
        conversation_id: "GROUPg".into(),
        read_sequence: None,
        peer_read_sequence: Some(1),
        ..Default::default()
    };
    assert!(matches!(
        s.apply_read_reports(&[g]),
        Err(receiptdb::Error::InvalidParams(_))
    ));
}

#[test]
fn conversation_list_pages_by_last_message() {
    let s = Store::open_in_memory(OWNER).unwrap();
    // 40 conversations; times tie in pairs so the ID order matters.
    for i in 0..40 {
        let mut m = in_c2c(&format!("m{i}"), &format!("p{i:02}"), 1);
        m.time = 5000 + (i / 2) as i64;
        s.save_messages(&[m]).unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s.get_conversation_list(Some(&cursor), Some(7)).unwrap();
        seen.extend(
            page.conversation_list
                .iter()
                .map(|c| c.conversation_id.clone()),
        );
        cursor = page.cursor;
        if page.is_completed {
            break;
        }
    }
    let mut want: Vec<(i64, String)> = (0..40)
        .map(|i| (-(5000 + (i / 2) as i64), format!("C2Cp{i:02}")))
        .collect();
    want.sort();
    assert_eq!(seen, want.into_iter().map(|w| w.1).collect::<Vec<_>>());
    assert!(s.get_conversation_list(Some("junk"), None).is_err());
    assert!(s.get_conversation_list(None, Some(0)).is_err());
}

#[test]
fn message_identity_is_fixed() {
    let s = Store::open_in_memory(OWNER).unwrap();
    s.save_messages(&[in_c2c("b1", "bob", 5)]).unwrap();
    // Left out: kept.
    s.save_messages(&[IncomingMessage {
        time: 0,
        sequence: 0,
        ..in_c2c("b1", "bob", 5)
    }])
    .unwrap();
    let m = s.find_message("b1").unwrap().unwrap();
    assert_eq!((m.sequence, m.time), (5, 1005));
    // Contradicted: refused, nothing changes.
    assert!(matches!(
        s.save_messages(&[in_c2c("b1", "bob", 6)]),
        Err(receiptdb::Error::InvalidParams(_))
    ));
    assert_eq!(s.find_message("b1").unwrap().unwrap(), m);
    // markMessageSent: a repeat is a no-op, a contradiction refused.
    let c = s
        .create_message("bob", ConversationType::C2C, &json!({}), false)
        .unwrap();
    let sent = s.mark_message_sent(&c.id, 7, 2000).unwrap();
    assert_eq!(s.mark_message_sent(&c.id, 7, 2000).unwrap(), sent);
    assert!(matches!(
        s.mark_message_sent(&c.id, 8, 2000),
        Err(receiptdb::Error::InvalidParams(_))
    ));
    assert_eq!(s.find_message(&c.id).unwrap().unwrap(), sent);
}

#[test]
fn ids_and_sequences_stay_usable() {
    // A 238-byte owner: createMessage IDs fit and every call takes them.
    let owner = "o".repeat(238);
    let s = Store::open_in_memory(&owner).unwrap();
    let m = s
        .create_message("bob", ConversationType::C2C, &json!({}), false)
        .unwrap();
    assert!(m.id.len() <= receiptdb::MAX_ID_LEN, "{}", m.id.len());
    s.mark_message_sent(&m.id, 1, 1).unwrap();
    assert!(s.find_message(&m.id).unwrap().is_some());
    // A 256-byte group ID and a 254-byte peer ID can be addressed.
    let s = Store::open_in_memory(OWNER).unwrap();
    let g = "g".repeat(256);
    s.set_group(&g, receiptdb::GroupType::Work, &[]).unwrap();
    s.save_messages(&[IncomingMessage {
        id: "gm".into(),
        conversation_type: Some(ConversationType::Group),
        from: "bob".into(),
        to: g.clone(),
        sequence: 1,
        ..Default::default()
    }])
    .unwrap();
    let conv = format!("GROUP{g}");
    assert_eq!(unread(&s, &conv), 1);
    s.set_message_read(&conv, None).unwrap();
    s.get_message_list(&conv, None, None).unwrap();
    let peer = "é".repeat(127);
    s.save_messages(&[in_c2c("pm", &peer, 1)]).unwrap();
    assert_eq!(unread(&s, &format!("C2C{peer}")), 1);
    // i64::MAX is refused as input, never reported as corruption.
    let r = s.save_messages(&[in_c2c("big", "bob", i64::MAX)]);
    assert!(
        matches!(r, Err(receiptdb::Error::InvalidParams(_))),
        "{r:?}"
    );
    s.save_messages(&[in_c2c("max", "bob", receiptdb::MAX_SEQUENCE)])
        .unwrap();
    for _ in 0..2 {
        s.create_message("bob", ConversationType::C2C, &json!({}), false)
            .unwrap();
    }
}

#[test]
fn upgrade_from_schema_1_keeps_everything() {
    let dir = temp_dir();
    let path = path_in(&dir, "v1.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.db"),
        &path,
    )
    .unwrap();
    let before = dump_db(&path);
    drop(Store::open(&path, OWNER).unwrap());
    let upgraded = dump_db(&path);
    assert_eq!(
        upgraded[0],
        format!("user_version={}", receiptdb::SCHEMA_VERSION)
    );
    let rows = |d: &[String], table: &str| -> Vec<String> {
        d.iter()
            .filter(|l| {
                l.starts_with(&format!("{table}:")) || l.starts_with(&format!("table {table}:"))
            })
            .cloned()
            .collect()
    };
    // Every row of every table but conversations and meta (which gain
    // columns and keys) is still there, unchanged.
    for table in [
        "messages",
        "readers",
        "outbox",
        "batches",
        "members",
        "groups",
        "unread_members",
    ] {
        // Later schemas append columns (with their defaults): compare the old ones.
        let added = common::columns_added_since_v3(table);
        let now: Vec<String> = rows(&upgraded, table)
            .iter()
            .map(|r| common::without_last_fields(r, added))
            .collect();
        assert_eq!(rows(&before, table), now, "{table}");
    }
    // Schema 3 recounts receipts (readers in the audience, the C2C bit) and
    // gives early receipts a conversation column: the same rows, rewritten;
    // their values are checked through the API below.
    for table in ["receipts", "early_receipts", "early_readers"] {
        assert_eq!(
            rows(&before, table).len(),
            rows(&upgraded, table).len(),
            "{table}"
        );
        assert!(
            !rows(&before, table).is_empty(),
            "{table}: the fixture holds some"
        );
    }
    for key in ["owner", "receipt_config", "outbox_count"] {
        let line = |d: &[String]| {
            d.iter()
                .find(|l| l.starts_with(&format!("meta:\"{key}\"")))
                .cloned()
        };
        assert_eq!(line(&before), line(&upgraded), "{key}");
    }
    // Reopening an upgraded store changes nothing.
    drop(Store::open(&path, OWNER).unwrap());
    assert_eq!(dump_db(&path), upgraded);
    let s = Store::open(&path, OWNER).unwrap();
    for (c, n) in [("C2Cbob", 2), ("GROUPteam", 3), ("GROUPtown", 1)] {
        assert_eq!(unread(&s, c), n, "{c}");
    }
    assert_eq!(s.get_total_unread_message_count().unwrap(), 6);
    assert_eq!(s.get_conversation("C2Cbob").unwrap().read_sequence, 3);
    // Every message, receipt, reader, outbox batch and early receipt is there.
    for id in [
        "b1", "b2", "b3", "b4", "b5", "a1", "a2", "g1", "g2", "g3", "g4", "g5", "t1",
    ] {
        assert!(s.find_message(id).unwrap().is_some(), "{id}");
    }
    let a1 = s.find_message("a1").unwrap().unwrap();
    assert!(a1.read_receipt_info.unwrap().is_peer_read);
    let g2 = s.find_message("g2").unwrap().unwrap();
    assert_eq!(g2.read_receipt_info.unwrap().read_count, 2);
    let batches = s.get_pending_receipts(None).unwrap();
    let queued: Vec<String> = batches.iter().flat_map(|b| b.message_ids.clone()).collect();
    for id in ["g3", "g4", "b1", "b3"] {
        assert!(queued.contains(&id.to_string()), "{id}: {queued:?}");
    }
    assert_eq!(batches[0].batch_id, "b1");
    let readers = s
        .get_group_message_read_member_list("g2", receiptdb::MemberFilter::Read, "", 100)
        .unwrap();
    assert!(readers
        .read_user_id_list
        .unwrap()
        .contains(&"carol".to_string()));
    // The early receipt applies when its message arrives.
    s.save_messages(&[IncomingMessage {
        id: "later1".into(),
        conversation_type: Some(ConversationType::Group),
        from: OWNER.into(),
        to: "team".into(),
        time: 700,
        sequence: 7,
        need_read_receipt: true,
        ..Default::default()
    }])
    .unwrap();
    let l = s.find_message("later1").unwrap().unwrap();
    assert_eq!(l.read_receipt_info.unwrap().read_count, 2);
}

// ----- through receiptdb rpc -----

fn start() -> (tempfile::TempDir, Rpc) {
    let dir = temp_dir();
    let rpc = Rpc::spawn(&path_in(&dir, "store.db"), OWNER);
    (dir, rpc)
}

fn j_in(id: &str, peer: &str, seq: i64) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": peer, "to": OWNER,
           "time": time_of(seq), "sequence": seq})
}

fn j_out(id: &str, peer: &str, seq: i64) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": OWNER, "to": peer,
           "time": time_of(seq), "sequence": seq})
}

fn events_named<'a>(r: &'a Reply, name: &str) -> Vec<&'a Value> {
    r.events.iter().filter(|e| e["method"] == name).collect()
}

#[test]
fn rpc_read_state() {
    let (_d, mut rpc) = start();
    let r = rpc.call(
        "saveMessages",
        json!({"messages": [j_in("b1", "bob", 1), j_in("b2", "bob", 2), j_in("b3", "bob", 3)]}),
    );
    let t = events_named(&r, "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["params"]["data"], 3);
    assert_eq!(
        rpc.ok(
            "setMessageRead",
            json!({"conversationID": "C2Cbob", "sequence": 1})
        ),
        json!({"readSequence": 1})
    );
    assert_eq!(
        rpc.ok("getTotalUnreadMessageCount", json!({})),
        json!({"totalUnreadCount": 2})
    );
    let p = rpc.ok("getPendingReceipts", json!({}));
    assert_eq!(
        p["readReports"],
        json!([{"conversationID": "C2Cbob", "readSequence": 1}])
    );
    assert_eq!(
        rpc.ok(
            "ackReadReports",
            json!({"reports": [{"conversationID": "C2Cbob", "readSequence": 1}]})
        ),
        json!({"acked": 1})
    );
    assert_eq!(
        rpc.ok("setAllMessageRead", json!({})),
        json!({"conversations": 1})
    );
    let c = rpc.ok("getConversation", json!({"conversationID": "C2Cbob"}));
    assert_eq!(c["unreadCount"], 0);
    assert_eq!(c["readSequence"], 3);
    assert_eq!(c["lastMessage"]["ID"], "b3");
    // A late message below the position is not unread.
    let r = rpc.call("saveMessages", json!({"messages": [j_in("b0", "bob", 2)]}));
    assert!(events_named(&r, "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED").is_empty());
    // CONVERSATION_CHANGED on subscribe, with the new fields.
    rpc.ok("subscribe", json!({"events": ["CONVERSATION_CHANGED"]}));
    let r = rpc.call("saveMessages", json!({"messages": [j_in("b9", "bob", 9)]}));
    let cc = events_named(&r, "CONVERSATION_CHANGED");
    assert_eq!(cc.len(), 1);
    assert_eq!(cc[0]["params"]["unreadCount"], 1);
    assert_eq!(cc[0]["params"]["readSequence"], 3);
    assert_eq!(cc[0]["params"]["peerReadSequence"], 0);
    rpc.err_unchanged(
        "setMessageRead",
        json!({"conversationID": "C2Cbob", "sequence": -1}),
        -32602,
        "INVALID_PARAMS",
    );
}

#[test]
fn rpc_peer_reads_and_snapshots() {
    let (_d, mut rpc) = start();
    rpc.ok(
        "saveMessages",
        json!({"messages": [j_out("a1", "bob", 1), j_out("a2", "bob", 2), j_in("b3", "bob", 3)]}),
    );
    let r = rpc.call(
        "applyReadReports",
        json!({"reports": [{"conversationID": "C2Cbob", "peerReadSequence": 1}]}),
    );
    assert_eq!(r.response["result"], json!({"changed": ["C2Cbob"]}));
    let ev = events_named(&r, "MESSAGE_READ_BY_PEER");
    assert_eq!(ev.len(), 1);
    let a1 = rpc.ok("findMessage", json!({"messageID": "a1"}));
    assert_eq!(ev[0]["params"]["data"], json!([a1]));
    let r = rpc.call(
        "applyReadReports",
        json!({"reports": [{"conversationID": "C2Cbob", "peerReadSequence": 1}]}),
    );
    assert!(r.events.is_empty());
    rpc.err_unchanged(
        "applyReadReports",
        json!({"reports": [{"conversationID": "GROUPg", "peerReadSequence": 1}]}),
        -32602,
        "INVALID_PARAMS",
    );
    let r = rpc.call(
        "applySnapshot",
        json!({"conversationID": "C2Cbob", "readSequence": 3, "peerReadSequence": 2}),
    );
    assert_eq!(events_named(&r, "MESSAGE_READ_BY_PEER").len(), 1);
    let t = events_named(&r, "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED");
    assert_eq!(t[0]["params"]["data"], 0);
    let c = rpc.ok("getConversation", json!({"conversationID": "C2Cbob"}));
    assert_eq!(
        (c["readSequence"].clone(), c["peerReadSequence"].clone()),
        (json!(3), json!(2))
    );
    let l = rpc.ok("getConversationList", json!({"cursor": null, "count": 1}));
    assert_eq!(l["conversationList"][0]["conversationID"], "C2Cbob");
    assert_eq!(l["isCompleted"], true);
}

#[test]
fn rpc_identity_and_limits() {
    let (_d, mut rpc) = start();
    rpc.ok("saveMessages", json!({"messages": [j_in("b1", "bob", 5)]}));
    rpc.err_unchanged(
        "saveMessages",
        json!({"messages": [j_in("b1", "bob", 6)]}),
        -32602,
        "INVALID_PARAMS",
    );
    rpc.ok(
        "saveMessages",
        json!({"messages": [{"ID": "b1", "conversationType": "C2C", "from": "bob", "to": OWNER}]}),
    );
    let m = rpc.ok("findMessage", json!({"messageID": "b1"}));
    assert_eq!(
        (m["sequence"].clone(), m["time"].clone()),
        (json!(5), json!(1005))
    );
    rpc.err_unchanged(
        "saveMessages",
        json!({"messages": [j_in("big", "bob", i64::MAX)]}),
        -32602,
        "INVALID_PARAMS",
    );
    let c = rpc.ok(
        "createMessage",
        json!({"to": "bob", "conversationType": "C2C", "payload": {}}),
    );
    let id = c["ID"].as_str().unwrap().to_string();
    rpc.ok(
        "markMessageSent",
        json!({"ID": id, "sequence": 9, "time": 9}),
    );
    rpc.ok(
        "markMessageSent",
        json!({"ID": id, "sequence": 9, "time": 9}),
    );
    rpc.err_unchanged(
        "markMessageSent",
        json!({"ID": id, "sequence": 10, "time": 9}),
        -32602,
        "INVALID_PARAMS",
    );
    let g = "g".repeat(256);
    rpc.ok(
        "setGroup",
        json!({"groupID": g, "groupType": "Work", "members": []}),
    );
    rpc.ok(
        "saveMessages",
        json!({"messages": [{"ID": "gm", "conversationType": "GROUP", "from": "bob", "to": g, "sequence": 1}]}),
    );
    let conv = format!("GROUP{g}");
    assert_eq!(
        rpc.ok("setMessageRead", json!({"conversationID": conv})),
        json!({"readSequence": 1})
    );
}
