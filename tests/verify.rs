//! The deep check (`Store::verify`, rpc `verify`, `receiptdb check --deep`):
//! a store built through every write path has no mismatch, and each check
//! names the damage it was written for (one mutation of the stored values
//! a check; every check is hit by at least one).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{path_in, temp_dir, Rpc, OWNER};
use receiptdb::{
    ConversationType, GroupType, IncomingMessage, Member, MessageStatus, OpenOptions,
    PushedReadReport, ReceiptNotification, Store,
};
use serde_json::json;

fn msg(id: &str, ctype: ConversationType, from: &str, to: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ctype),
        from: from.into(),
        to: to.into(),
        time: 100 + seq,
        sequence: seq,
        status: Some(MessageStatus::Success),
        need_read_receipt: true,
        ..Default::default()
    }
}

/// A store touched by every write path the counters depend on.
fn build(path: &Path) {
    let s = Store::open_with(path, OWNER, OpenOptions::new().unread_index_min_audience(4))
        .expect("open");
    let members: Vec<Member> = (0..30)
        .map(|i| Member {
            user_id: format!("u{i:02}"),
            join_time: (i % 3 == 0).then_some(50),
        })
        .chain([Member {
            user_id: OWNER.into(),
            join_time: None,
        }])
        .collect();
    s.set_group("team", GroupType::Work, &members)
        .expect("group");
    let g = ConversationType::Group;
    let c = ConversationType::C2C;
    s.save_messages(&[
        msg("g-out1", g, OWNER, "team", 1),
        msg("g-out2", g, OWNER, "team", 2),
        msg("g-in1", g, "u01", "team", 3),
        msg("g-in2", g, "u02", "team", 4),
        msg("c-out1", c, OWNER, "bob", 1),
        msg("c-out2", c, OWNER, "bob", 2),
        msg("c-in1", c, "bob", OWNER, 3),
        msg("c-in2", c, "bob", OWNER, 4),
    ])
    .expect("save");
    // g-out1 read by every member (its unread index builds), g-out2 by few.
    let most: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
    s.apply_receipt_notifications(&[
        ReceiptNotification {
            message_id: "g-out1".into(),
            reader_ids: Some(most),
            ..Default::default()
        },
        ReceiptNotification {
            message_id: "g-out2".into(),
            reader_ids: Some(vec!["u03".into(), "u04".into()]),
            ..Default::default()
        },
        ReceiptNotification {
            message_id: "c-out1".into(),
            is_peer_read: Some(true),
            ..Default::default()
        },
        // Not held yet: kept early, with readers.
        ReceiptNotification {
            message_id: "later".into(),
            reader_ids: Some(vec!["u05".into(), "u06".into()]),
            ..Default::default()
        },
    ])
    .expect("notify");
    s.remove_group_members("team", &["u28".into()])
        .expect("remove");
    s.add_group_members(
        "team",
        &[Member {
            user_id: "new".into(),
            join_time: Some(0),
        }],
    )
    .expect("add");
    s.send_message_read_receipt(&["g-in1".into(), "g-in2".into()])
        .expect("send");
    s.set_message_read("C2Cbob", Some(3)).expect("read");
    s.apply_read_reports(&[PushedReadReport {
        conversation_id: "C2Cbob".into(),
        read_sequence: None,
        peer_read_sequence: Some(2),
        ..Default::default()
    }])
    .expect("peer read");
    let r = s.verify().expect("verify");
    assert!(r.is_ok(), "a healthy store: {:?}", r.mismatches);
    assert!(r.checks.len() >= 15, "{:?}", r.checks);
}

/// The mutations, each with the check it must trip.
const DAMAGE: &[(&str, &str)] = &[
    ("receipts.row", "DELETE FROM receipts WHERE rid = (SELECT rid FROM messages WHERE id = 'c-out2')"),
    ("receipts.reader_count", "UPDATE receipts SET reader_count = reader_count - 1, read_count = read_count + 1 WHERE rid = (SELECT rid FROM messages WHERE id = 'g-out2')"),
    ("receipts.read_count", "UPDATE receipts SET read_count = 0 WHERE rid = (SELECT rid FROM messages WHERE id = 'g-out2')"),
    ("receipts.local_unread", "UPDATE receipts SET local_unread = local_unread + 1, unread_count = unread_count WHERE rid = (SELECT rid FROM messages WHERE id = 'g-out2')"),
    ("receipts.unread_count", "UPDATE receipts SET unread_count = local_unread + 1 WHERE rid = (SELECT rid FROM messages WHERE id = 'g-out2')"),
    ("receipts.c2c", "UPDATE receipts SET unread_count = 1 WHERE rid = (SELECT rid FROM messages WHERE id = 'c-out1')"),
    ("unread_members", "DELETE FROM unread_members WHERE (rid, user_id) IN (SELECT rid, user_id FROM unread_members LIMIT 1)"),
    ("unread_members", "INSERT INTO unread_members(rid, user_id) SELECT rid, 'u00' FROM messages WHERE id = 'g-out1'"),
    ("unread_members.orphan", "INSERT INTO unread_members(rid, user_id) VALUES (99999, 'x')"),
    ("conversations.row", "DELETE FROM conversations WHERE conversation_id = 'GROUPteam'"),
    ("conversations.unread_count", "UPDATE conversations SET unread_count = unread_count + 1 WHERE conversation_id = 'C2Cbob'"),
    ("conversations.last", "UPDATE conversations SET last_rid = NULL WHERE conversation_id = 'C2Cbob'"),
    ("messages.is_peer_read", "UPDATE messages SET is_peer_read = 0 WHERE id = 'c-out2'"),
    ("meta.total_unread", "UPDATE meta SET value = CAST(value AS INTEGER) + 2 WHERE key = 'total_unread'"),
    ("meta.outbox_count", "UPDATE meta SET value = '7' WHERE key = 'outbox_count'"),
    ("outbox.sent_state", "UPDATE messages SET sent_state = 0 WHERE id = 'g-in1'"),
    ("early_receipts.readers", "UPDATE early_receipts SET readers = readers + 1"),
    ("meta.early_count", "UPDATE meta SET value = '5' WHERE key = 'early_count'"),
    ("meta.early_reader_count", "DELETE FROM early_readers WHERE user_id = 'u05'"),
    ("receipts.deliverer_count", "UPDATE receipts SET deliverer_count = deliverer_count + 1 WHERE rid = (SELECT rid FROM messages WHERE id = 'g-out2')"),
    ("delivery_outbox.state", "UPDATE messages SET delivery_state = 1 WHERE id = 'g-in1'"),
    ("receipts.reader_rows", "UPDATE receipts SET reader_rows = reader_rows + 1 WHERE rid = (SELECT rid FROM messages WHERE id = 'g-out2')"),
    ("deleted_messages.held", "INSERT INTO deleted_messages(message_id, conversation_id) VALUES ('c-out1', 'C2Cbob')"),
    ("rows.of_no_message", "INSERT INTO readers(rid, user_id) VALUES (99999, 'x')"),
];

#[test]
fn every_check_names_the_damage_it_was_written_for() {
    let dir = temp_dir();
    let clean = path_in(&dir, "clean.db");
    build(&clean);
    let mut hit = BTreeSet::new();
    let mut all = BTreeSet::new();
    for (i, (check, sql)) in DAMAGE.iter().enumerate() {
        let path = path_in(&dir, &format!("d{i}.db"));
        std::fs::copy(&clean, &path).expect("copy");
        rusqlite::Connection::open(&path)
            .and_then(|c| c.execute_batch(sql))
            .expect("damage");
        let s = Store::open(&path, OWNER).expect("reopen");
        let r = s.verify().expect("verify");
        all.extend(r.checks.iter().copied());
        let names: BTreeSet<&str> = r.mismatches.iter().map(|m| m.check).collect();
        assert!(
            names.contains(check),
            "{sql}: expected {check}, got {:?}",
            r.mismatches
        );
        hit.insert(*check);
    }
    let missed: Vec<_> = all.difference(&hit).collect();
    assert!(missed.is_empty(), "checks no damage trips: {missed:?}");
}

#[test]
fn rpc_verify_and_check_deep_report_the_same() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    build(&path);
    let mut rpc = Rpc::spawn(&path, OWNER);
    let v = rpc.ok("verify", json!({}));
    assert_eq!(v["mismatches"], json!([]), "{v}");
    assert!(v["checks"].as_array().is_some_and(|c| c.len() >= 15), "{v}");
    assert!(rpc.close().success());
    let deep = |p: &Path| {
        Command::new(common::receiptdb_bin())
            .args(["check", "--deep", "--db"])
            .arg(p)
            .output()
            .expect("run check")
    };
    let out = deep(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("passes the deep check"), "{text}");

    rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.execute_batch(
                "UPDATE conversations SET unread_count = 9 WHERE conversation_id = 'C2Cbob'",
            )
        })
        .expect("damage");
    let out = deep(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("conversations.unread_count: C2Cbob: stored 9, recounted 1"),
        "{text}"
    );
    let mut rpc = Rpc::spawn(&path, OWNER);
    let v = rpc.ok("verify", json!({}));
    assert!(
        v["mismatches"]
            .as_array()
            .is_some_and(
                |m| m.iter().any(|m| m["check"] == "conversations.unread_count"
                    && m["subject"] == "C2Cbob"
                    && m["stored"] == "9"
                    && m["recounted"] == "1")
            ),
        "{v}"
    );
}

#[test]
fn check_deep_refuses_an_old_schema_without_writing() {
    let dir = temp_dir();
    let path = path_in(&dir, "v1.db");
    std::fs::copy("tests/fixtures/v1.db", &path).expect("copy");
    let before = common::file_bytes(&path);
    let out = Command::new(common::receiptdb_bin())
        .args(["check", "--deep", "--db"])
        .arg(&path)
        .output()
        .expect("run check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("schema version"), "{text}");
    common::assert_file_unchanged(&path, &before, "the v1 fixture");
    // Opened as a store it upgrades, and the upgrade passes the deep check.
    let s = Store::open(&path, OWNER).expect("upgrade");
    let r = s.verify().expect("verify");
    assert!(r.is_ok(), "the upgraded v1 fixture: {:?}", r.mismatches);
}
