//! Any order of saves, snapshots, pushed reports and local reads gives the
//! same read position, unread counts and total (PROTOCOL.md, Merge rules), and the unread
//! count always equals its definition.

use proptest::prelude::*;
use receiptdb::{ConversationType, IncomingMessage, PushedReadReport, Snapshot, Store};

#[derive(Debug, Clone)]
enum Op {
    /// Save an `in` message of peer p with sequence s.
    Save(usize, i64),
    /// A snapshot of peer p with the server's read position.
    Snap(usize, i64),
    /// A pushed read report.
    Push(usize, i64),
    /// A local read up to a position.
    Read(usize, i64),
}

const PEERS: [&str; 3] = ["bob", "carol", "dave"];

fn apply(s: &Store, op: &Op) {
    match op {
        Op::Save(p, seq) => {
            s.save_messages(&[IncomingMessage {
                id: format!("{}-{seq}", PEERS[*p]),
                conversation_type: Some(ConversationType::C2C),
                from: PEERS[*p].into(),
                to: "alice".into(),
                time: 100 + seq,
                sequence: *seq,
                ..Default::default()
            }])
            .unwrap();
        }
        Op::Snap(p, r) => {
            s.apply_snapshot(&Snapshot {
                conversation_id: format!("C2C{}", PEERS[*p]),
                read_sequence: Some(*r),
                ..Default::default()
            })
            .unwrap();
        }
        Op::Push(p, r) => {
            s.apply_read_reports(&[PushedReadReport {
                conversation_id: format!("C2C{}", PEERS[*p]),
                read_sequence: Some(*r),
                peer_read_sequence: None,
                ..Default::default()
            }])
            .unwrap();
        }
        Op::Read(p, r) => {
            s.set_message_read(&format!("C2C{}", PEERS[*p]), Some(*r))
                .unwrap();
        }
    }
}

/// (read position, unread count) per conversation, and the total.
fn state(s: &Store) -> (Vec<(i64, u64)>, u64) {
    let v = PEERS
        .iter()
        .map(|p| {
            let c = s.get_conversation(&format!("C2C{p}")).unwrap();
            (c.read_sequence, c.unread_count)
        })
        .collect();
    (v, s.get_total_unread_message_count().unwrap())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 1..30i64).prop_map(|(p, s)| Op::Save(p, s)),
        1 => (0..3usize, 0..30i64).prop_map(|(p, s)| Op::Snap(p, s)),
        1 => (0..3usize, 0..30i64).prop_map(|(p, s)| Op::Push(p, s)),
        1 => (0..3usize, 0..30i64).prop_map(|(p, s)| Op::Read(p, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_order_same_read_state(ops in prop::collection::vec(op(), 1..40), seed in any::<u64>()) {
        let a = Store::open_in_memory("alice").unwrap();
        for o in &ops {
            apply(&a, o);
            // The count is its definition at every step.
            for p in PEERS {
                let conv = format!("C2C{p}");
                let c = a.get_conversation(&conv).unwrap();
                let page = a.get_message_list(&conv, None, Some(100)).unwrap();
                let def = page.message_list.iter().filter(|m| m.sequence > c.read_sequence).count() as u64;
                prop_assert_eq!(c.unread_count, def);
            }
        }
        // Another order (a seeded shuffle), with every op applied twice.
        let mut shuffled: Vec<Op> = ops.iter().chain(ops.iter()).cloned().collect();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let b = Store::open_in_memory("alice").unwrap();
        for o in &shuffled {
            apply(&b, o);
        }
        prop_assert_eq!(state(&a), state(&b));
        for s in [&a, &b] {
            let r = s.verify().expect("verify");
            prop_assert!(r.is_ok(), "the deep check: {:?}", r.mismatches);
        }
        let (convs, total) = state(&a);
        prop_assert_eq!(total, convs.iter().map(|c| c.1).sum::<u64>());
    }
}
