//! The read state beyond the seed is a lattice too (PROTOCOL.md, Delivered
//! and read, Unread marks, Recalled messages): any order and any
//! duplication of deliveries, reads, read times, read reports with times, marks,
//! unmarks and recalls gives one state — the delivered and read answers and
//! lists of every message not recalled, whether each message is recalled,
//! and every conversation's read position, unread count and unread mark.
//! (A recalled message's frozen figures depend on when the store learned of
//! the recall, by design; they are left out. Private reading is a local
//! setting, not merged: `tests/conformance/private-reading.jsonl`.)
//! Deleting messages commutes with all of it: deleted first or at any point
//! of the stream, the state is the same and the deleted stay deleted.

use proptest::prelude::*;
use receiptdb::{
    ConversationType, GroupType, IncomingMessage, Member, MemberFilter, PushedReadReport,
    ReceiptNotification, Store,
};

const USERS: [&str; 4] = ["bob", "carol", "dave", "erin"];
/// Out messages: g1..g3 in the group, a1 in C2C with bob.
const GROUP_MSGS: [&str; 3] = ["g1", "g2", "g3"];

#[derive(Debug, Clone)]
enum Op {
    /// Users (a bit set of USERS) received message m.
    Delivered(usize, u8),
    /// Users read message m.
    Read(usize, u8),
    /// User u read message m at time t (the server's report).
    ReadAt(usize, usize, i64),
    /// The server's delivered count for message m.
    DeliveredCount(usize, u64),
    /// The C2C peer received (true) or read (false) a1.
    Peer(bool),
    /// Another device read C2Cbob up to s, to the end at time t.
    ReadReport(i64, i64),
    /// Another device marked (true) or unmarked C2Cbob at time t.
    Mark(bool, i64),
    /// The server recalled message m.
    Recall(usize),
    /// A message from bob arrives in C2Cbob with sequence s.
    Incoming(i64),
}

fn users(bits: u8) -> Vec<String> {
    USERS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, u)| u.to_string())
        .collect()
}

fn group_out(id: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::Group),
        from: "alice".into(),
        to: "team".into(),
        time: 100 + seq,
        sequence: seq,
        need_read_receipt: true,
        ..Default::default()
    }
}

fn setup() -> Store {
    let s = Store::open_in_memory("alice").unwrap();
    let mut members = vec![Member::new("alice")];
    members.extend(USERS.iter().take(3).map(|u| Member::new(*u)));
    s.set_group("team", GroupType::Work, &members).unwrap();
    let mut msgs: Vec<IncomingMessage> = GROUP_MSGS
        .iter()
        .enumerate()
        .map(|(i, id)| group_out(id, i as i64 + 1))
        .collect();
    msgs.push(IncomingMessage {
        id: "a1".into(),
        conversation_type: Some(ConversationType::C2C),
        from: "alice".into(),
        to: "bob".into(),
        time: 100,
        sequence: 1,
        need_read_receipt: true,
        ..Default::default()
    });
    s.save_messages(&msgs).unwrap();
    s
}

fn note(m: usize) -> ReceiptNotification {
    ReceiptNotification {
        message_id: GROUP_MSGS[m].into(),
        group_id: Some("team".into()),
        ..Default::default()
    }
}

fn apply(s: &Store, op: &Op) {
    match op {
        Op::Delivered(m, bits) => {
            s.apply_receipt_notifications(&[ReceiptNotification {
                delivered_ids: Some(users(*bits)),
                ..note(*m)
            }])
            .unwrap();
        }
        Op::Read(m, bits) => {
            s.apply_receipt_notifications(&[ReceiptNotification {
                reader_ids: Some(users(*bits)),
                ..note(*m)
            }])
            .unwrap();
        }
        Op::ReadAt(m, u, t) => {
            s.apply_receipt_notifications(&[ReceiptNotification {
                user_id: Some(USERS[*u].into()),
                read_time: Some(*t),
                ..note(*m)
            }])
            .unwrap();
        }
        Op::DeliveredCount(m, n) => {
            s.apply_receipt_notifications(&[ReceiptNotification {
                delivered_count: Some(*n),
                ..note(*m)
            }])
            .unwrap();
        }
        Op::Peer(delivered) => {
            s.apply_receipt_notifications(&[ReceiptNotification {
                message_id: "a1".into(),
                conversation_id: Some("C2Cbob".into()),
                is_peer_delivered: delivered.then_some(true),
                is_peer_read: (!delivered).then_some(true),
                ..Default::default()
            }])
            .unwrap();
        }
        Op::ReadReport(seq, t) => {
            s.apply_read_reports(&[PushedReadReport {
                conversation_id: "C2Cbob".into(),
                read_sequence: Some(*seq),
                read_time: Some(*t),
                ..Default::default()
            }])
            .unwrap();
        }
        Op::Mark(on, t) => {
            s.apply_read_reports(&[PushedReadReport {
                conversation_id: "C2Cbob".into(),
                marked: Some(*on),
                mark_time: Some(*t),
                ..Default::default()
            }])
            .unwrap();
        }
        Op::Recall(m) => {
            s.save_messages(&[IncomingMessage {
                is_revoked: true,
                ..group_out(GROUP_MSGS[*m], *m as i64 + 1)
            }])
            .unwrap();
        }
        Op::Incoming(seq) => {
            s.save_messages(&[IncomingMessage {
                id: format!("b{seq}"),
                conversation_type: Some(ConversationType::C2C),
                from: "bob".into(),
                to: "alice".into(),
                time: 200 + seq,
                sequence: *seq,
                ..Default::default()
            }])
            .unwrap();
        }
    }
}

fn list(s: &Store, id: &str, code: i64) -> Vec<String> {
    let f = MemberFilter::from_code(code).unwrap();
    let p = s
        .get_group_message_read_member_list(id, f, "", 100)
        .unwrap();
    [
        p.read_user_id_list,
        p.unread_user_id_list,
        p.delivered_user_id_list,
        p.undelivered_user_id_list,
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_default()
}

/// Everything that must converge, as text.
fn state(s: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for id in GROUP_MSGS {
        if s.find_message(id).unwrap().is_none() {
            out.push(format!("{id} deleted"));
            continue;
        }
        let m = &s
            .get_message_read_receipt_list_with(&[id.to_string()], true, false)
            .unwrap()[0];
        if m.is_revoked {
            out.push(format!("{id} recalled"));
            continue;
        }
        out.push(format!("{id} {:?}", m.read_receipt_info));
        for code in 0..4 {
            out.push(format!("{id} list {code}: {:?}", list(s, id, code)));
        }
        let timed = s
            .get_group_message_read_member_list_with_read_times(id, MemberFilter::Read, "", 100)
            .unwrap();
        out.push(format!("{id} read times: {:?}", timed.read_member_list));
    }
    if s.find_message("a1").unwrap().is_none() {
        out.push("a1 deleted".into());
    } else {
        let a1 = &s
            .get_message_read_receipt_list_with(&["a1".to_string()], true, false)
            .unwrap()[0];
        out.push(format!("a1 {:?}", a1.read_receipt_info));
    }
    let c = s.get_conversation("C2Cbob").unwrap();
    out.push(format!(
        "C2Cbob read {} unread {} marked {}",
        c.read_sequence, c.unread_count, c.marked_unread
    ));
    out
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..16u8).prop_map(|(m, b)| Op::Delivered(m, b)),
        3 => (0..3usize, 0..16u8).prop_map(|(m, b)| Op::Read(m, b)),
        2 => (0..3usize, 0..4usize, 1..50i64).prop_map(|(m, u, t)| Op::ReadAt(m, u, t)),
        1 => (0..3usize, 0..5u64).prop_map(|(m, n)| Op::DeliveredCount(m, n)),
        1 => any::<bool>().prop_map(Op::Peer),
        2 => (0..6i64, 1..20i64).prop_map(|(s, t)| Op::ReadReport(s, t)),
        2 => (any::<bool>(), 1..20i64).prop_map(|(on, t)| Op::Mark(on, t)),
        1 => (0..3usize).prop_map(Op::Recall),
        2 => (1..6i64).prop_map(Op::Incoming),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn any_order_and_duplication_same_state(
        ops in prop::collection::vec(op(), 1..40),
        seed in any::<u64>(),
    ) {
        let a = setup();
        for o in &ops {
            apply(&a, o);
        }
        // Another order (a seeded shuffle), every op applied twice.
        let mut shuffled: Vec<Op> = ops.iter().chain(ops.iter()).cloned().collect();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let b = setup();
        for o in &shuffled {
            apply(&b, o);
        }
        prop_assert_eq!(state(&a), state(&b));
        for s in [&a, &b] {
            let r = s.verify().expect("verify");
            prop_assert!(r.is_ok(), "the deep check: {:?}", r.mismatches);
        }
    }
}

/// Deletes the messages of `bits` (g1..g3, then a1), a call per conversation.
fn delete(s: &Store, bits: u8) {
    let group: Vec<String> = GROUP_MSGS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, id)| id.to_string())
        .collect();
    if !group.is_empty() {
        s.delete_messages(&group).unwrap();
    }
    if bits & 8 != 0 {
        s.delete_messages(&["a1".to_string()]).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Deleting commutes with the server's merges (PROTOCOL.md, Deleting
    /// messages): deleting some messages first, or at any point of the
    /// stream (then again at its end, a repeat), gives the same state; a
    /// deleted message never comes back, whatever arrives after.
    #[test]
    fn deleting_at_any_point_gives_the_same_state(
        ops in prop::collection::vec(op(), 1..40),
        bits in 1..16u8,
        at in any::<prop::sample::Index>(),
    ) {
        let a = setup();
        delete(&a, bits);
        for o in &ops {
            apply(&a, o);
        }
        let k = at.index(ops.len() + 1);
        let b = setup();
        for o in &ops[..k] {
            apply(&b, o);
        }
        delete(&b, bits);
        for o in &ops[k..] {
            apply(&b, o);
        }
        delete(&b, bits);
        prop_assert_eq!(state(&a), state(&b));
        for s in [&a, &b] {
            let r = s.verify().expect("verify");
            prop_assert!(r.is_ok(), "the deep check: {:?}", r.mismatches);
        }
    }
}

/// The property can fail: a merge that lets the newest mark win regardless
/// of reads (last writer wins by arrival) would differ between the orders.
#[test]
fn a_mark_older_than_a_read_stays_hidden_in_either_order() {
    let ops = [Op::ReadReport(0, 10), Op::Mark(true, 5)];
    let a = setup();
    ops.iter().for_each(|o| apply(&a, o));
    let b = setup();
    ops.iter().rev().for_each(|o| apply(&b, o));
    assert!(!a.get_conversation("C2Cbob").unwrap().marked_unread);
    assert_eq!(state(&a), state(&b));
}
