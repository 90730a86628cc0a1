//! Regression tests of fixed bugs: each failed before its fix.

mod common;

use std::sync::Arc;

use common::*;
use receiptdb::rpc::Session;
use receiptdb::{Error, Filter, GroupType, IncomingMessage, Member, SnapshotReceipt, Store};
use serde_json::{json, Value};

fn out_group(id: &str, group: &str, seq: i64) -> IncomingMessage {
    serde_json::from_value(json!({
        "ID": id, "conversationType": "GROUP", "from": OWNER, "to": group,
        "time": 1_700_000_000 + seq, "sequence": seq, "needReadReceipt": true, "payload": {}
    }))
    .expect("message")
}

/// `Filter::Messages` is a set; the snapshot lists its messages oldest first.
#[test]
fn messages_filter_snapshot_is_oldest_first() {
    let store = Store::open_in_memory(OWNER).expect("open");
    store
        .set_group(
            "g1",
            GroupType::Work,
            &[Member::new(OWNER), Member::new("bob")],
        )
        .expect("group");
    let ids: Vec<String> = (0..64).map(|i| format!("m{i:02}")).collect();
    let msgs: Vec<IncomingMessage> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| out_group(id, "g1", i as i64 + 1))
        .collect();
    store.save_messages(&msgs).expect("save");
    let snap = store
        .subscribe_with_snapshot(Filter::Messages(ids.iter().cloned().collect()))
        .expect("snapshot");
    let got: Vec<String> = snap.messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(got, ids);
}

/// The reader cap of `apply_snapshot_receipts` is per call, as for
/// `apply_snapshot`: two items under it alone but over it together fail,
/// and nothing of the call is kept.
#[test]
fn streamed_snapshot_reader_cap_is_per_call() {
    let store = Store::open_in_memory(OWNER).expect("open");
    store
        .set_group(
            "g1",
            GroupType::Work,
            &[Member::new(OWNER), Member::new("bob")],
        )
        .expect("group");
    store
        .save_messages(&[out_group("m1", "g1", 1)])
        .expect("save");
    let readers: Vec<String> = (0..1_000_001).map(|i| format!("u{i}")).collect();
    let item = || SnapshotReceipt {
        message_id: "m1".into(),
        reader_ids: Some(readers.clone()),
        ..Default::default()
    };
    let r = store.apply_snapshot_receipts("GROUPg1", [item(), item()]);
    assert!(matches!(r, Err(Error::InvalidParams(_))), "{r:?}");
    let page = store
        .get_group_message_read_member_list("m1", receiptdb::MemberFilter::Read, "", 1)
        .expect("page");
    assert_eq!(
        page.read_user_id_list,
        Some(vec![]),
        "the call was rolled back"
    );
}

/// Two sessions on one file change different fields of the receipt config
/// at once: neither change is lost (read and write are one transaction).
#[test]
fn set_receipt_config_loses_no_concurrent_update() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    drop(Store::open(&path, OWNER).expect("create"));
    let open = || Session::new(Arc::new(Store::open(&path, OWNER).expect("open")));
    let call = |s: &mut Session, method: &str, params: Value| -> Value {
        let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let out = s.handle_line(&line.to_string());
        let last = out.last().cloned().unwrap_or_default();
        let v: Value = serde_json::from_str(&last).expect("json");
        assert!(v.get("error").is_none(), "{v}");
        v["result"].clone()
    };
    let mut types_session = open();
    let mut switch_session = open();
    let rounds = 2000;
    let types = std::thread::spawn(move || {
        for i in 0..rounds {
            let t = if i % 2 == 0 { "Work" } else { "Public" };
            call(
                &mut types_session,
                "setReceiptConfig",
                json!({"groupTypes": [t]}),
            );
        }
    });
    // Only this session writes `enabled`: it must always read back what it
    // wrote last, whatever the other session wrote meanwhile.
    let mut lost = 0;
    let mut last = None;
    for i in 0..rounds {
        let got = call(&mut switch_session, "getReceiptConfig", json!({}));
        if last.is_some_and(|w: bool| got["enabled"] != json!(w)) {
            lost += 1;
        }
        let want = i % 2 == 0;
        call(
            &mut switch_session,
            "setReceiptConfig",
            json!({"enabled": want}),
        );
        last = Some(want);
    }
    types.join().expect("types thread");
    assert_eq!(
        lost, 0,
        "updates of `enabled` lost to a concurrent setReceiptConfig"
    );
}

/// The set-based snapshot path equals item-by-item notifications when one
/// message repeats in a snapshot with and without readers in between.
#[test]
fn snapshot_with_repeats_and_readers_matches_notifications() {
    let members: Vec<Member> = [OWNER, "u1", "u2", "u3", "u4"]
        .iter()
        .map(|u| Member::new(*u))
        .collect();
    let open = || {
        let s = Store::open_in_memory(OWNER).expect("open");
        s.set_group("g1", GroupType::Work, &members).expect("group");
        s.save_messages(&[out_group("m1", "g1", 1), out_group("m2", "g1", 2)])
            .expect("save");
        s
    };
    let item = |id: &str, rc: Option<u64>, uc: Option<u64>, readers: &[&str]| SnapshotReceipt {
        message_id: id.into(),
        read_count: rc,
        unread_count: uc,
        reader_ids: (!readers.is_empty()).then(|| readers.iter().map(|r| r.to_string()).collect()),
        ..Default::default()
    };
    let items = vec![
        item("m1", Some(1), Some(3), &[]),
        item("m2", Some(2), None, &[]),
        item("m1", None, None, &["u1", "u2"]),
        item("m1", Some(2), Some(4), &[]),
        item("m2", None, Some(1), &["u3"]),
        item("m1", Some(3), None, &[]),
        item("nope", Some(5), None, &[]),
    ];
    let a = open();
    let changed_a = a
        .apply_snapshot_receipts("GROUPg1", items.clone())
        .expect("snapshot");
    let b = open();
    for it in &items {
        b.apply_receipt_notifications(&[receiptdb::ReceiptNotification {
            message_id: it.message_id.clone(),
            read_count: it.read_count,
            unread_count: it.unread_count,
            reader_ids: it.reader_ids.clone(),
            ..Default::default()
        }])
        .expect("notification");
    }
    assert_eq!(changed_a, vec!["m1".to_string(), "m2".to_string()]);
    let ids = vec!["m1".to_string(), "m2".to_string()];
    assert_eq!(
        a.get_message_read_receipt_list(&ids).expect("a"),
        b.get_message_read_receipt_list(&ids).expect("b")
    );
    for id in &ids {
        for f in [
            receiptdb::MemberFilter::Read,
            receiptdb::MemberFilter::Unread,
        ] {
            assert_eq!(
                a.get_group_message_read_member_list(id, f, "", 100)
                    .expect("a"),
                b.get_group_message_read_member_list(id, f, "", 100)
                    .expect("b")
            );
        }
    }
}

/// The set-based snapshot path checks the conversation as the one-by-one
/// path does: a count-only state for a held message of another conversation
/// is INVALID_PARAMS and changes nothing, even after good items.
#[test]
fn snapshot_count_for_another_conversation_is_refused() {
    let store = Store::open_in_memory(OWNER).expect("open");
    for g in ["g1", "g2"] {
        store
            .set_group(
                g,
                GroupType::Work,
                &[Member::new(OWNER), Member::new("bob")],
            )
            .expect("group");
    }
    store
        .save_messages(&[out_group("a", "g2", 1), out_group("m1", "g1", 2)])
        .expect("save");
    let count = |r: u64| SnapshotReceipt {
        read_count: Some(r),
        ..Default::default()
    };
    let items = vec![
        SnapshotReceipt {
            message_id: "a".into(),
            ..count(1)
        },
        SnapshotReceipt {
            message_id: "m1".into(),
            ..count(1)
        },
    ];
    let r = store.apply_snapshot_receipts("GROUPg2", items);
    assert!(
        matches!(&r, Err(Error::InvalidParams(m)) if m.contains("belongs to GROUPg1")),
        "{r:?}"
    );
    let list = store
        .get_message_read_receipt_list(&["a".to_string()])
        .expect("list");
    let info = list[0].read_receipt_info.as_ref().expect("info");
    assert_eq!(info.read_count, 0, "the good item was rolled back too");
}
