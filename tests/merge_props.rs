//! Property tests of the receipt lattice (PROTOCOL.md, Merge rules): any order, any
//! duplication of notifications, snapshots and message arrivals gives the
//! same state; replaying changes nothing; event streams are monotone.

use std::collections::BTreeMap;

use proptest::prelude::*;
use receiptdb::{
    ConversationType, EventKind, Filter, GroupType, IncomingMessage, Member, MemberFilter,
    ReadReceiptInfo, ReceiptNotification, Snapshot, SnapshotReceipt, Store,
};

const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank",
];
const MSGS: usize = 4;

/// A snapshot item: message, readCount, unreadCount, readers.
type SnapItem = (usize, Option<u64>, Option<u64>, Vec<usize>);

#[derive(Debug, Clone)]
enum Op {
    /// A notification about message `m`.
    Note {
        m: usize,
        rc: Option<u64>,
        uc: Option<u64>,
        readers: Vec<usize>,
    },
    /// A snapshot carrying receipt states for some messages.
    Snap(Vec<SnapItem>),
    /// Message `m` arrives from the transport (it may come after its receipts).
    Arrive(usize),
    /// A C2C notification that the peer read C2C message `m`.
    Peer(usize),
}

fn group_msg(i: usize) -> IncomingMessage {
    IncomingMessage {
        id: format!("g{i}"),
        conversation_type: Some(ConversationType::Group),
        from: "alice".into(),
        to: "grp".into(),
        time: 100 + i as i64 * 10,
        sequence: i as i64 + 1,
        need_read_receipt: true,
        ..Default::default()
    }
}

fn c2c_msg(i: usize) -> IncomingMessage {
    IncomingMessage {
        id: format!("c{i}"),
        conversation_type: Some(ConversationType::C2C),
        from: "alice".into(),
        to: "bob".into(),
        time: 100 + i as i64,
        sequence: i as i64 + 1,
        need_read_receipt: true,
        ..Default::default()
    }
}

fn names(ix: &[usize]) -> Vec<String> {
    ix.iter().map(|i| USERS[*i].to_string()).collect()
}

fn apply(store: &Store, op: &Op) -> Vec<String> {
    let r = match op {
        Op::Note { m, rc, uc, readers } => {
            store.apply_receipt_notifications(&[ReceiptNotification {
                message_id: format!("g{m}"),
                read_count: *rc,
                unread_count: *uc,
                reader_ids: Some(names(readers)),
                ..Default::default()
            }])
        }
        Op::Snap(items) => store.apply_snapshot(&Snapshot {
            conversation_id: "GROUPgrp".into(),
            receipts: items
                .iter()
                .map(|(m, rc, uc, rd)| SnapshotReceipt {
                    message_id: format!("g{m}"),
                    read_count: *rc,
                    unread_count: *uc,
                    reader_ids: Some(names(rd)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        Op::Arrive(m) => store
            .save_messages(&[group_msg(*m), c2c_msg(*m)])
            .map(|_| Vec::new()),
        Op::Peer(m) => store.apply_receipt_notifications(&[ReceiptNotification {
            message_id: format!("c{m}"),
            is_peer_read: Some(true),
            ..Default::default()
        }]),
    };
    match r {
        Ok(v) => v,
        Err(e) => panic!("{op:?} failed: {e}"),
    }
}

type Dump = BTreeMap<String, (Option<ReadReceiptInfo>, Vec<String>, Vec<String>)>;

fn all_members(store: &Store, id: &str, f: MemberFilter) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let Ok(p) = store.get_group_message_read_member_list(id, f, &cursor, 3) else {
            return out;
        };
        out.extend(
            p.read_user_id_list
                .or(p.unread_user_id_list)
                .unwrap_or_default(),
        );
        if p.is_completed {
            return out;
        }
        cursor = p.cursor;
    }
}

/// Full receipt state of every message: info, readers, unread members.
fn dump(store: &Store) -> Dump {
    let mut d = BTreeMap::new();
    for i in 0..MSGS {
        for id in [format!("g{i}"), format!("c{i}")] {
            let info = store
                .find_message(&id)
                .ok()
                .flatten()
                .and_then(|m| m.read_receipt_info);
            let read = all_members(store, &id, MemberFilter::Read);
            let unread = all_members(store, &id, MemberFilter::Unread);
            d.insert(id, (info, read, unread));
        }
    }
    d
}

fn fresh() -> Store {
    let s = Store::open_in_memory("alice").expect("open");
    let members: Vec<Member> = USERS
        .iter()
        .enumerate()
        .map(|(i, u)| Member {
            user_id: u.to_string(),
            // Some joined after some messages were sent.
            join_time: if i % 3 == 2 {
                Some(100 + i as i64 * 4)
            } else {
                None
            },
        })
        .collect();
    s.set_group("grp", GroupType::Work, &members)
        .expect("group");
    s
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let readers = prop::collection::vec(0..USERS.len(), 0..5);
    let count = prop::option::of(0u64..10);
    prop_oneof![
        (0..MSGS, count.clone(), count.clone(), readers.clone())
            .prop_map(|(m, rc, uc, readers)| Op::Note { m, rc, uc, readers }),
        prop::collection::vec((0..MSGS, count.clone(), count, readers), 1..3).prop_map(Op::Snap),
        (0..MSGS).prop_map(Op::Arrive),
        (0..MSGS).prop_map(Op::Peer),
    ]
}

/// Runs ops in order, checking each message's event stream is monotone.
fn run(ops: &[Op]) -> (Store, Dump) {
    let store = fresh();
    let sub = store.subscribe(Filter::All);
    for op in ops {
        apply(&store, op);
    }
    let mut last: BTreeMap<String, (u64, Option<u64>, bool)> = BTreeMap::new();
    while let Ok(ev) = sub.receiver().try_recv() {
        if let EventKind::ReceiptsChanged(items) = ev.kind {
            for it in items {
                if let Some((rc, uc, pr)) = last.get(&it.message_id) {
                    assert!(it.read_count >= *rc, "readCount fell for {}", it.message_id);
                    let rose = match (uc, it.unread_count) {
                        (Some(a), Some(b)) => b > *a,
                        (Some(_), None) => true,
                        _ => false,
                    };
                    assert!(!rose, "unreadCount rose for {}", it.message_id);
                    assert!(
                        it.is_peer_read || !pr,
                        "isPeerRead fell for {}",
                        it.message_id
                    );
                }
                last.insert(
                    it.message_id.clone(),
                    (it.read_count, it.unread_count, it.is_peer_read),
                );
            }
        }
    }
    drop(sub);
    let r = store.verify().expect("verify");
    assert!(
        r.is_ok(),
        "the deep check after {ops:?}: {:?}",
        r.mismatches
    );
    let d = dump(&store);
    (store, d)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every permutation with random duplication gives the same final state,
    /// and replaying everything again changes nothing and emits nothing.
    #[test]
    fn any_order_any_duplication_same_state(
        ops in prop::collection::vec(op_strategy(), 1..12),
        dup_seed in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        shuffle_seed in any::<u64>(),
    ) {
        // Every message arrives at least once so the states are comparable.
        let mut base = ops.clone();
        base.extend((0..MSGS).map(Op::Arrive));
        let (_, expected) = run(&base);

        let mut permuted = base.clone();
        for ix in &dup_seed {
            permuted.push(base[ix.index(base.len())].clone());
        }
        // Fisher-Yates with a small LCG seeded by proptest.
        let mut x = shuffle_seed | 1;
        for i in (1..permuted.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (x >> 33) as usize % (i + 1);
            permuted.swap(i, j);
        }
        let (store, got) = run(&permuted);
        prop_assert_eq!(&got, &expected);

        let sub = store.subscribe(Filter::All);
        for op in &base {
            let changed = apply(&store, op);
            prop_assert!(changed.is_empty(), "replaying {:?} changed {:?}", op, changed);
        }
        let mut receipt_events = 0;
        while let Ok(ev) = sub.receiver().try_recv() {
            if matches!(ev.kind, EventKind::ReceiptsChanged(_) | EventKind::SnapshotApplied { .. }) {
                receipt_events += 1;
            }
        }
        prop_assert_eq!(receipt_events, 0);
        prop_assert_eq!(dump(&store), expected);
    }
}

/// Lattice laws of the pure join: commutative, idempotent, monotone.
mod laws {
    use super::*;
    use receiptdb::{Estimate, ReceiptState};

    fn est() -> impl Strategy<Value = Estimate> {
        (
            prop::option::of(0i64..20),
            prop::option::of(0i64..20),
            any::<bool>(),
        )
            .prop_map(|(read_count, unread_count, peer_read)| Estimate {
                read_count,
                unread_count,
                peer_read,
            })
    }

    proptest! {
        #[test]
        fn join_is_commutative_idempotent_and_monotone(a in est(), b in est(), c2c in any::<bool>()) {
            let s0 = ReceiptState::default();
            let ab = s0.join(&a, c2c).join(&b, c2c);
            let ba = s0.join(&b, c2c).join(&a, c2c);
            prop_assert_eq!(ab, ba);
            prop_assert_eq!(ab.join(&a, c2c).join(&b, c2c), ab);
            let one = s0.join(&a, c2c);
            prop_assert!(ab.read_count >= one.read_count);
            if let (Some(x), Some(y)) = (one.unread_count, ab.unread_count) {
                prop_assert!(y <= x);
            }
            prop_assert!(!(one.unread_count.is_some() && ab.unread_count.is_none()));
        }
    }
}

/// Count-only snapshot items are merged set-based in SQL; notifications go
/// item by item through the Rust join. Both must give the same state,
/// duplicates within one snapshot included.
mod set_based_equals_item_by_item {
    use super::*;

    fn item() -> impl Strategy<Value = (bool, usize, Option<u64>, Option<u64>, bool)> {
        (
            any::<bool>(),
            0..MSGS,
            prop::option::of(0u64..10),
            prop::option::of(0u64..10),
            any::<bool>(),
        )
    }

    fn prepared(pre_readers: &[usize]) -> Store {
        let s = fresh();
        let msgs: Vec<IncomingMessage> =
            (0..MSGS).flat_map(|i| [group_msg(i), c2c_msg(i)]).collect();
        s.save_messages(&msgs).expect("save");
        // Some readers first, so local unread estimates are in play.
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: "g0".into(),
            reader_ids: Some(names(pre_readers)),
            ..Default::default()
        }])
        .expect("readers");
        s
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn snapshot_chunk_matches_notifications(
            items in prop::collection::vec(item(), 1..16),
            pre in prop::collection::vec(0..USERS.len(), 0..4),
        ) {
            let a = prepared(&pre);
            let b = prepared(&pre);
            for group in [true, false] {
                let conv = if group { "GROUPgrp" } else { "C2Cbob" };
                let mine: Vec<_> = items.iter().filter(|it| it.0 == group).collect();
                let id = |m: usize| if group { format!("g{m}") } else { format!("c{m}") };
                a.apply_snapshot(&Snapshot {
                    conversation_id: conv.into(),
                    receipts: mine.iter().map(|(_, m, rc, uc, pr)| SnapshotReceipt {
                        message_id: id(*m),
                        read_count: *rc,
                        unread_count: *uc,
                        is_peer_read: Some(*pr),
                        ..Default::default()
                    }).collect(),
                    ..Default::default()
                }).expect("snapshot");
                for (_, m, rc, uc, pr) in &mine {
                    b.apply_receipt_notifications(&[ReceiptNotification {
                        message_id: id(*m),
                        read_count: *rc,
                        unread_count: *uc,
                        is_peer_read: Some(*pr),
                        ..Default::default()
                    }]).expect("notification");
                }
            }
            prop_assert_eq!(dump(&a), dump(&b));
        }
    }
}
