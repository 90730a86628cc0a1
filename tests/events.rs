//! Observer API: events after commit, in commit order, never for no-ops,
//! bounded channels with `Lagged`, filters, and subscribe_with_snapshot.

use std::sync::Arc;

use receiptdb::{
    ConversationType, Event, EventKind, Filter, GroupType, IncomingMessage, Member,
    ReceiptNotification, Store,
};

fn out_msg(id: &str, group: &str) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::Group),
        from: "alice".into(),
        to: group.into(),
        time: 10,
        sequence: 1,
        need_read_receipt: true,
        ..Default::default()
    }
}

fn note(id: &str, rc: u64) -> ReceiptNotification {
    ReceiptNotification {
        message_id: id.into(),
        read_count: Some(rc),
        ..Default::default()
    }
}

fn setup(store: &Store, groups: &[&str], per_group: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for g in groups {
        store
            .set_group(
                g,
                GroupType::Work,
                &[Member::new("alice"), Member::new("bob")],
            )
            .expect("group");
        for i in 0..per_group {
            let id = format!("{g}-m{i}");
            store.save_messages(&[out_msg(&id, g)]).expect("save");
            ids.push(id);
        }
    }
    ids
}

fn drain(sub: &receiptdb::Subscription) -> Vec<Event> {
    sub.receiver().try_iter().collect()
}

fn receipt_items(evs: &[Event]) -> Vec<(String, u64)> {
    evs.iter()
        .filter_map(|e| match &e.kind {
            EventKind::ReceiptsChanged(items) => {
                Some(items.iter().map(|i| (i.message_id.clone(), i.read_count)))
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// A handler that reads the database (through a second connection) when an
/// event arrives always sees the change the event reports: nothing is sent
/// before its commit.
#[test]
fn events_arrive_only_after_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    let store = Arc::new(Store::open(&path, "alice").expect("open"));
    let ids = setup(&store, &["g"], 1);
    let sub = store.subscribe(Filter::All);
    let reader_path = path.clone();
    let handler = std::thread::spawn(move || {
        let other = Store::open(&reader_path, "alice").expect("second connection");
        let mut checked = 0;
        while let Ok(ev) = sub.receiver().recv() {
            if let EventKind::ReceiptsChanged(items) = ev.kind {
                for it in items {
                    let m = other
                        .find_message(&it.message_id)
                        .expect("find")
                        .expect("held");
                    let info = m.read_receipt_info.expect("info");
                    assert!(
                        info.read_count >= it.read_count,
                        "event ahead of the database"
                    );
                    checked += 1;
                }
            }
            if checked == 200 {
                break;
            }
        }
        checked
    });
    for rc in 1..=200 {
        store
            .apply_receipt_notifications(&[note(&ids[0], rc)])
            .expect("apply");
    }
    assert_eq!(handler.join().expect("handler"), 200);
}

/// Replays, identical re-saves, unknown acks and failed calls emit nothing.
#[test]
fn no_events_for_no_ops_or_failures() {
    let store = Store::open_in_memory("alice").expect("open");
    let ids = setup(&store, &["g"], 2);
    store
        .apply_receipt_notifications(&[note(&ids[0], 1)])
        .expect("apply");
    let sub = store.subscribe(Filter::All);
    store
        .apply_receipt_notifications(&[note(&ids[0], 1)])
        .expect("replay");
    store
        .apply_receipt_notifications(&[note(&ids[0], 0)])
        .expect("stale");
    store
        .save_messages(&[out_msg(&ids[1], "g")])
        .expect("identical re-save");
    assert!(!store.ack_receipts("b42", &[]).expect("ack"));
    // A failing call (the second message ID is unknown) rolls back its first part.
    let bad = [
        note(&ids[1], 5),
        ReceiptNotification {
            conversation_id: Some("GROUPother".into()),
            ..note(&ids[0], 9)
        },
    ];
    assert!(store.apply_receipt_notifications(&bad).is_err());
    assert_eq!(drain(&sub), Vec::<Event>::new());
    assert_eq!(
        store
            .find_message(&ids[1])
            .expect("find")
            .expect("held")
            .read_receipt_info
            .expect("info")
            .read_count,
        0
    );
    // A real change does emit.
    store
        .apply_receipt_notifications(&[note(&ids[1], 2)])
        .expect("apply");
    assert_eq!(receipt_items(&drain(&sub)), vec![(ids[1].clone(), 2)]);
}

/// With four writer threads, events reach a subscriber with strictly
/// increasing, gap-free commit sequence numbers, and each message's counts
/// arrive in the order they were committed.
#[test]
fn events_follow_commit_order_across_threads() {
    let store = Arc::new(Store::open_in_memory("alice").expect("open"));
    let ids = setup(&store, &["g"], 4);
    let sub = store.subscribe_with_capacity(Filter::All, 100_000);
    let writers: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for rc in 1..=250 {
                    store
                        .apply_receipt_notifications(&[note(&id, rc)])
                        .expect("apply");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let evs = drain(&sub);
    assert_eq!(evs.len(), 1000);
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(
            e.commit_seq,
            evs[0].commit_seq + i as u64,
            "gap or reorder at {i}"
        );
    }
    for id in &ids {
        let counts: Vec<u64> = receipt_items(&evs)
            .into_iter()
            .filter(|(m, _)| m == id)
            .map(|(_, c)| c)
            .collect();
        assert_eq!(counts, (1..=250).collect::<Vec<_>>());
    }
}

/// A subscriber that never reads does not block the writer; it gets one
/// `Lagged { missed }` marker once there is room, and later events keep order.
#[test]
fn full_subscriber_gets_lagged_and_never_blocks() {
    let store = Store::open_in_memory("alice").expect("open");
    let ids = setup(&store, &["g"], 1);
    let sub = store.subscribe_with_capacity(Filter::All, 4);
    for rc in 1..=100 {
        store
            .apply_receipt_notifications(&[note(&ids[0], rc)])
            .expect("apply");
    }
    let first = drain(&sub);
    assert_eq!(
        receipt_items(&first),
        (1..=4).map(|c| (ids[0].clone(), c)).collect::<Vec<_>>()
    );
    store
        .apply_receipt_notifications(&[note(&ids[0], 101)])
        .expect("apply");
    store
        .apply_receipt_notifications(&[note(&ids[0], 102)])
        .expect("apply");
    let next = drain(&sub);
    assert_eq!(next[0].kind, EventKind::Lagged { missed: 96 });
    assert_eq!(
        receipt_items(&next[1..]),
        vec![(ids[0].clone(), 101), (ids[0].clone(), 102)]
    );
}

/// Conversation and message-set filters pass only their own items.
#[test]
fn filters_select_conversation_or_messages() {
    let store = Store::open_in_memory("alice").expect("open");
    let ids = setup(&store, &["g1", "g2"], 2);
    let by_conv = store.subscribe(Filter::Conversation("GROUPg2".into()));
    let by_msg = store.subscribe(Filter::Messages([ids[0].clone()].into_iter().collect()));
    let notes: Vec<_> = ids.iter().map(|id| note(id, 1)).collect();
    store.apply_receipt_notifications(&notes).expect("apply");
    let got: Vec<String> = receipt_items(&drain(&by_conv))
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(got, vec![ids[2].clone(), ids[3].clone()]);
    let got: Vec<String> = receipt_items(&drain(&by_msg))
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(got, vec![ids[0].clone()]);
}

/// Dropping a subscription unsubscribes: the writer keeps working and the
/// other subscribers still receive.
#[test]
fn dropping_a_subscription_unsubscribes() {
    let store = Store::open_in_memory("alice").expect("open");
    let ids = setup(&store, &["g"], 1);
    let a = store.subscribe(Filter::All);
    let b = store.subscribe(Filter::All);
    drop(a);
    store
        .apply_receipt_notifications(&[note(&ids[0], 1)])
        .expect("apply");
    assert_eq!(receipt_items(&drain(&b)).len(), 1);
}

/// subscribe_with_snapshot under a concurrent writer: the snapshot's count
/// followed by the subscription's events is gap-free up to the final count.
/// Returns whether the snapshot landed mid-stream.
fn snapshot_round() -> bool {
    let store = Arc::new(Store::open_in_memory("alice").expect("open"));
    let ids = setup(&store, &["g"], 1);
    let id = ids[0].clone();
    let (half_tx, half_rx) = crossbeam_channel::bounded(1);
    let writer = {
        let store = Arc::clone(&store);
        let id = id.clone();
        std::thread::spawn(move || {
            for rc in 1..=1000 {
                store
                    .apply_receipt_notifications(&[note(&id, rc)])
                    .expect("apply");
                if rc == 300 {
                    let _ = half_tx.send(());
                }
            }
        })
    };
    half_rx.recv().expect("writer reached 300");
    let snap = store
        .subscribe_with_snapshot(Filter::Messages([id.clone()].into_iter().collect()))
        .expect("snapshot");
    writer.join().expect("writer");
    let start = snap.messages[0].read_receipt_info.expect("info").read_count;
    assert!(start >= 300);
    let evs = drain(&snap.subscription);
    assert!(evs.iter().all(|e| e.commit_seq > snap.commit_seq));
    let counts: Vec<u64> = receipt_items(&evs).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        counts,
        (start + 1..=1000).collect::<Vec<_>>(),
        "events after the snapshot are not gap-free"
    );
    start < 1000
}

/// Twenty rounds; the snapshot must land mid-stream in some of them.
#[test]
fn subscribe_with_snapshot_misses_nothing() {
    let mid = (0..20).filter(|_| snapshot_round()).count();
    assert!(
        mid > 0,
        "the snapshot never landed while the writer was running"
    );
}
