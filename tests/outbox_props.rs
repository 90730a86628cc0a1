//! Property test of the outbox against a simple model: random interleavings
//! of send, getPendingReceipts, ack, reject, snapshot(selfRead) and reopen.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use receiptdb::{ConversationType, IncomingMessage, ReceiptSentState, Rejection, Snapshot, Store};

/// Messages per conversation; three conversations: 2 C2C, 1 group.
const PER_CONV: usize = 40;
const CONVS: [(&str, &str, ConversationType); 3] = [
    ("bob", "C2Cbob", ConversationType::C2C),
    ("carol", "C2Ccarol", ConversationType::C2C),
    ("grp", "GROUPgrp", ConversationType::Group),
];

#[derive(Debug, Clone)]
enum Op {
    Send(usize, Vec<usize>),
    Pending(usize),
    Ack(usize, Vec<usize>),
    SelfRead(usize, Vec<usize>),
    Reopen,
}

fn msg_id(conv: usize, i: usize) -> String {
    format!("m{conv}-{i}")
}

fn seed(store: &Store) {
    for (c, (peer, _, t)) in CONVS.iter().enumerate() {
        let msgs: Vec<IncomingMessage> = (0..PER_CONV)
            .map(|i| IncomingMessage {
                id: msg_id(c, i),
                conversation_type: Some(*t),
                from: if *t == ConversationType::Group {
                    "dave".into()
                } else {
                    peer.to_string()
                },
                to: if *t == ConversationType::Group {
                    peer.to_string()
                } else {
                    "alice".into()
                },
                time: i as i64,
                sequence: i as i64 + 1,
                // Every fifth message needs no receipt: sending it is skipped.
                need_read_receipt: i % 5 != 4,
                ..Default::default()
            })
            .collect();
        store.save_messages(&msgs).expect("seed");
    }
}

#[derive(Default, Debug)]
struct Model {
    state: BTreeMap<String, ReceiptSentState>,
    /// Queued, not in a handed-out batch.
    loose: BTreeSet<String>,
    /// Handed-out batches by ID.
    batches: BTreeMap<String, Vec<String>>,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let ids = prop::collection::vec(0..PER_CONV, 1..30);
    prop::collection::vec(
        prop_oneof![
            4 => (0..CONVS.len(), ids.clone()).prop_map(|(c, v)| Op::Send(c, v)),
            3 => (1usize..4).prop_map(Op::Pending),
            3 => (0usize..8, prop::collection::vec(0usize..30, 0..4)).prop_map(|(b, r)| Op::Ack(b, r)),
            2 => (0..CONVS.len(), ids).prop_map(|(c, v)| Op::SelfRead(c, v)),
            1 => Just(Op::Reopen),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The store's sent states and batches always equal the model's; batches
    /// are stable until acked, hold ≤30 IDs of one conversation, and no ID is
    /// ever in two batches.
    #[test]
    fn outbox_matches_model(ops in ops()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        let mut store = Store::open(&path, "alice").expect("open");
        seed(&store);
        let mut model = Model::default();
        for c in 0..CONVS.len() {
            for i in 0..PER_CONV {
                if i % 5 != 4 {
                    model.state.insert(msg_id(c, i), ReceiptSentState::None);
                }
            }
        }
        let mut order: Vec<String> = Vec::new();
        for op in &ops {
            match op {
                Op::Send(c, ix) => {
                    let ids: Vec<String> = ix.iter().map(|i| msg_id(*c, *i)).collect();
                    let queued = store.send_message_read_receipt(&ids).expect("send");
                    let mut expect = Vec::new();
                    for id in &ids {
                        if model.state.get(id) == Some(&ReceiptSentState::None) && !expect.contains(id) {
                            expect.push(id.clone());
                        }
                    }
                    prop_assert_eq!(&queued, &expect);
                    for id in expect {
                        model.state.insert(id.clone(), ReceiptSentState::Pending);
                        model.loose.insert(id);
                    }
                }
                Op::Pending(limit) => {
                    let batches = store.get_pending_receipts(Some(*limit)).expect("pending");
                    let mut seen = BTreeSet::new();
                    for b in &batches {
                        prop_assert!(!b.message_ids.is_empty() && b.message_ids.len() <= 30);
                        for id in &b.message_ids {
                            prop_assert!(seen.insert(id.clone()), "{} in two batches", id);
                            let conv = CONVS.iter().position(|c| c.1 == b.conversation_id);
                            let prefix = format!("m{}-", conv.unwrap_or(99));
                            prop_assert!(id.starts_with(&prefix), "{} not in {}", id, b.conversation_id);
                        }
                        match model.batches.get(&b.batch_id) {
                            Some(old) => prop_assert_eq!(old, &b.message_ids, "batch {} changed", &b.batch_id),
                            None => {
                                for id in &b.message_ids {
                                    prop_assert!(model.loose.remove(id), "{} batched but not queued", id);
                                }
                                model.batches.insert(b.batch_id.clone(), b.message_ids.clone());
                                order.push(b.batch_id.clone());
                            }
                        }
                    }
                    // Old batches come first, all of them while the limit allows.
                    let known = model.batches.len().min(*limit);
                    prop_assert!(batches.len() >= known);
                    if batches.len() < *limit {
                        prop_assert!(model.loose.is_empty(), "loose receipts left: {:?}", model.loose);
                    }
                }
                Op::Ack(b, rejected) => {
                    let name = order.get(*b).cloned().unwrap_or_else(|| "b999999".into());
                    let members = model.batches.get(&name).cloned();
                    let rej: Vec<Rejection> = match &members {
                        Some(m) => rejected.iter().filter_map(|i| m.get(*i)).map(|id| Rejection { message_id: id.clone(), code: 80001 }).collect(),
                        None => Vec::new(),
                    };
                    let acked = store.ack_receipts(&name, &rej).expect("ack");
                    prop_assert_eq!(acked, members.is_some());
                    if let Some(m) = members {
                        for id in m {
                            let st = model.state.get(&id).copied();
                            let rejected = rej.iter().any(|r| r.message_id == id);
                            let next = if rejected && st == Some(ReceiptSentState::Pending) {
                                ReceiptSentState::None
                            } else if rejected {
                                st.unwrap_or(ReceiptSentState::None)
                            } else {
                                ReceiptSentState::Acked
                            };
                            model.state.insert(id, next);
                        }
                        model.batches.remove(&name);
                    }
                }
                Op::SelfRead(c, ix) => {
                    let ids: Vec<String> = ix.iter().map(|i| msg_id(*c, *i)).collect();
                    store.apply_snapshot(&Snapshot {
                        conversation_id: CONVS[*c].1.to_string(),
                        self_read: ids.clone(),
                        ..Default::default()
                    }).expect("snapshot");
                    for id in ids {
                        if model.state.contains_key(&id) {
                            model.state.insert(id.clone(), ReceiptSentState::Acked);
                            model.loose.remove(&id);
                        }
                    }
                }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(&path, "alice").expect("reopen");
                }
            }
            // Sent states agree with the model after every step.
            for (id, want) in &model.state {
                let got = store.find_message(id).expect("find").and_then(|m| m.receipt_sent_state);
                prop_assert_eq!(got, Some(*want), "state of {}", id);
            }
            let pending = store.pending_receipt_count().expect("count");
            let in_batches: usize = model.batches.values().map(Vec::len).sum();
            prop_assert_eq!(pending as usize, model.loose.len() + in_batches);
        }
        let r = store.verify().expect("verify");
        prop_assert!(r.is_ok(), "the deep check: {:?}", r.mismatches);
    }
}
