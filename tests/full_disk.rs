//! A full disk, simulated with the hidden
//! `Store::set_max_page_count`: writes fail with `Error::StorageFull`
//! (STORAGE_FULL, 2008) and change nothing, everything committed before
//! is kept, and once the limit is raised the same call succeeds.

mod common;

use std::path::Path;

use common::{dump_db, path_in, temp_dir, OWNER};
use receiptdb::{
    ConversationType, Error, Filter, GroupType, IncomingMessage, Member, ReceiptNotification,
    ReceiptSentState, Snapshot, Store,
};
use serde_json::json;

fn in_msgs(prefix: &str, n: usize, text_len: usize) -> Vec<IncomingMessage> {
    (0..n)
        .map(|i| IncomingMessage {
            id: format!("{prefix}-{i}"),
            conversation_type: Some(ConversationType::C2C),
            from: "bob".into(),
            to: OWNER.into(),
            time: i as i64,
            sequence: i as i64,
            need_read_receipt: true,
            payload: Some(json!({"text": "x".repeat(text_len)})),
            ..Default::default()
        })
        .collect()
}

/// Checks an error is STORAGE_FULL with its code.
fn assert_full(e: &Error, what: &str) {
    assert!(
        matches!(e, Error::StorageFull),
        "{what}: expected StorageFull, got {} ({e})",
        e.name()
    );
    assert_eq!((e.name(), e.code()), ("STORAGE_FULL", 2008), "{what}");
}

/// Caps the store a few pages above its current size; returns the cap.
fn cap_near_current(s: &Store, extra: u64) -> u64 {
    // SQLite never sets the limit below the current size: asking for one
    // page returns the current page count.
    let current = s.set_max_page_count(1).expect("set_max_page_count");
    assert!(current > 1, "the limit cannot go below the current size");
    let cap = s.set_max_page_count(current + extra).unwrap();
    assert_eq!(cap, current + extra, "set_max_page_count returns the limit");
    cap
}

/// Fills the store with `saveMessages` until a call fails with
/// StorageFull: the failed call changes nothing and emits no event, every
/// batch saved before is there (also after reopening), the outbox is
/// intact; raising the limit makes the same call succeed.
#[test]
fn fill_until_storage_full_then_raise_the_limit() {
    let dir = temp_dir();
    let path = path_in(&dir, "full.db");
    let s = Store::open(&path, OWNER).unwrap();
    let base = in_msgs("base", 60, 100);
    s.save_messages(&base).unwrap();
    let queued: Vec<String> = base[..30].iter().map(|m| m.id.clone()).collect();
    s.send_message_read_receipt(&queued).unwrap();
    let handed = s.get_pending_receipts(None).unwrap();

    cap_near_current(&s, 40);
    let sub = s.subscribe(Filter::All);
    let mut saved = 0;
    let failing = loop {
        assert!(saved < 1_000, "the page limit never stopped the writes");
        let batch = in_msgs(&format!("b{saved}"), 20, 2_000);
        while sub.receiver().try_recv().is_ok() {}
        let before = dump_db(&path);
        match s.save_messages(&batch) {
            Ok(_) => saved += 1,
            Err(e) => {
                assert_full(&e, "saveMessages past the limit");
                assert_eq!(before, dump_db(&path), "the failed call changed the store");
                assert!(
                    sub.receiver().try_recv().is_err(),
                    "the failed call emitted an event"
                );
                break batch;
            }
        }
    };
    assert!(saved > 0, "some batches fit before the limit");
    assert!(s.find_message(&failing[0].id).unwrap().is_none());

    // Reads still work, and so do writes that need no new page.
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
    s.set_message_read("C2Cbob", None).unwrap();
    assert_eq!(s.get_pending_receipts(None).unwrap(), handed);

    // Everything committed before is there.
    let check_all = |s: &Store| {
        for k in 0..saved {
            for m in in_msgs(&format!("b{k}"), 20, 0) {
                assert!(s.find_message(&m.id).unwrap().is_some(), "{} lost", m.id);
            }
        }
        for id in &queued {
            let m = s.find_message(id).unwrap().unwrap();
            assert_eq!(m.receipt_sent_state, Some(ReceiptSentState::Pending));
        }
        assert_eq!(s.pending_receipt_count().unwrap(), 30);
    };
    check_all(&s);

    // Raise the limit: the same call now succeeds.
    let raised = s.set_max_page_count(1 << 30).unwrap();
    assert_eq!(raised, 1 << 30);
    assert_eq!(s.save_messages(&failing).unwrap(), failing.len());
    assert!(s.find_message(&failing[19].id).unwrap().is_some());
    drop(s);

    // And after reopening (the limit is per connection).
    let s = Store::open(&path, OWNER).unwrap();
    check_all(&s);
    assert!(s.find_message(&failing[0].id).unwrap().is_some());
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
    assert_eq!(s.get_pending_receipts(None).unwrap(), handed);
}

/// Every kind of growing write fails cleanly with StorageFull at the
/// limit (never INTERNAL), changes nothing, and succeeds once the limit
/// is raised: createMessage, setGroup, addGroupMembers,
/// applyReceiptNotifications (readers), applySnapshot, saveMessages,
/// sendMessageReadReceipt and getPendingReceipts on a large outbox.
#[test]
fn every_growing_write_fails_cleanly_when_full() {
    let dir = temp_dir();
    let path = path_in(&dir, "kinds.db");
    let s = Store::open(&path, OWNER).unwrap();
    let members: Vec<Member> = (0..100)
        .map(|i| Member::new(format!("u{i:03}")))
        .chain([Member::new(OWNER)])
        .collect();
    s.set_group("g", GroupType::Work, &members).unwrap();
    let out = s
        .create_message("g", ConversationType::Group, &json!({}), true)
        .unwrap();
    s.mark_message_sent(&out.id, 1, 1).unwrap();

    type Op<'a> = Box<dyn Fn(&Store, usize) -> Result<(), Error> + 'a>;
    let out_id = out.id.clone();
    let ops: Vec<(&str, Op)> = vec![
        (
            "createMessage",
            Box::new(|s, k| {
                s.create_message(
                    "bob",
                    ConversationType::C2C,
                    &json!({"t": "y".repeat(30_000), "k": k}),
                    false,
                )
                .map(|_| ())
            }),
        ),
        (
            "setGroup",
            Box::new(|s, k| {
                let ms: Vec<Member> = (0..2_000)
                    .map(|i| Member::new(format!("member-{k}-{i:05}")))
                    .collect();
                s.set_group(&format!("big{k}"), GroupType::Public, &ms)
            }),
        ),
        (
            "addGroupMembers",
            Box::new(|s, k| {
                let ms: Vec<Member> = (0..2_000)
                    .map(|i| Member::new(format!("added-{k}-{i:05}")))
                    .collect();
                s.add_group_members("g", &ms)
            }),
        ),
        (
            "applyReceiptNotifications",
            Box::new(move |s, k| {
                let readers: Vec<String> = (0..2_000).map(|i| format!("r-{k}-{i:05}")).collect();
                s.apply_receipt_notifications(&[ReceiptNotification {
                    message_id: out_id.clone(),
                    reader_ids: Some(readers),
                    ..Default::default()
                }])
                .map(|_| ())
            }),
        ),
        (
            "applySnapshot",
            Box::new(|s, k| {
                s.apply_snapshot(&Snapshot {
                    conversation_id: "C2Cbob".into(),
                    messages: in_msgs(&format!("snap{k}"), 20, 2_000),
                    ..Default::default()
                })
                .map(|_| ())
            }),
        ),
        (
            "saveMessages",
            Box::new(|s, k| {
                s.save_messages(&in_msgs(&format!("save{k}"), 20, 2_000))
                    .map(|_| ())
            }),
        ),
    ];
    for (name, op) in &ops {
        cap_near_current(&s, 10);
        let mut k = 0;
        loop {
            assert!(k < 1_000, "{name}: the page limit never stopped the writes");
            let before = dump_db(&path);
            match op(&s, k) {
                Ok(()) => k += 1,
                Err(e) => {
                    assert_full(&e, name);
                    assert_eq!(
                        before,
                        dump_db(&path),
                        "{name}: failed call changed the store"
                    );
                    break;
                }
            }
        }
        s.set_max_page_count(1 << 30).unwrap();
        op(&s, k).unwrap_or_else(|e| panic!("{name}: after raising the limit: {e}"));
        assert_eq!(
            s.integrity_check().unwrap(),
            vec!["ok".to_string()],
            "{name}"
        );
    }

    // The outbox: queue and hand out receipts for many messages near the limit.
    let many = in_msgs("rcpt", 1_000, 0);
    s.save_messages(&many).unwrap();
    let ids: Vec<String> = many.iter().map(|m| m.id.clone()).collect();
    cap_near_current(&s, 0);
    let mut queued = 0;
    let mut hit_full = false;
    for c in ids.chunks(30) {
        match s.send_message_read_receipt(c) {
            Ok(q) => queued += q.len(),
            Err(e) => {
                assert_full(&e, "sendMessageReadReceipt");
                hit_full = true;
                break;
            }
        }
    }
    if !hit_full {
        let before = dump_db(&path);
        match s.get_pending_receipts(None) {
            Ok(_) => {}
            Err(e) => {
                assert_full(&e, "getPendingReceipts");
                assert_eq!(
                    before,
                    dump_db(&path),
                    "getPendingReceipts changed the store"
                );
            }
        }
    }
    s.set_max_page_count(1 << 30).unwrap();
    assert_eq!(s.pending_receipt_count().unwrap(), queued as u64);
    let batches = s.get_pending_receipts(None).unwrap();
    let n: usize = batches.iter().map(|b| b.message_ids.len()).sum();
    assert_eq!(n, queued, "each queued receipt in exactly one batch");
    drop(s);
    reopen_ok(&path);
}

fn reopen_ok(path: &Path) {
    let s = Store::open(path, OWNER).unwrap();
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
}
