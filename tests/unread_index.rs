//! The unread-member index of big, mostly-read messages stays equal to
//! audience − readers under readers, joins, leaves and send-time changes.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::owner_group_msg;
use proptest::prelude::*;
use receiptdb::{GroupType, Member, MemberFilter, OpenOptions, ReceiptNotification, Store};

const POOL: usize = 48;

fn user(i: usize) -> String {
    format!("u{i:02}")
}

#[derive(Debug, Clone)]
enum Op {
    Read(Vec<usize>),
    Join(usize, Option<i64>),
    Leave(usize),
    Resend(i64),
}

fn unread_list(s: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = s
            .get_group_message_read_member_list("m", MemberFilter::Unread, &cursor, 7)
            .expect("page");
        out.extend(p.unread_user_id_list.unwrap_or_default());
        if p.is_completed {
            return out;
        }
        cursor = p.cursor;
    }
}

fn indexed_rows(path: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(path).expect("raw");
    c.query_row("SELECT COUNT(*) FROM unread_members", [], |r| r.get(0))
        .expect("count")
}

/// A store at `path` indexing audiences of 10 or more, with Work group `g`
/// of alice and 40 members since the beginning.
fn group_of_40(path: &std::path::Path) -> Store {
    let opts = OpenOptions::new().unread_index_min_audience(10);
    let s = Store::open_with(path, "alice", opts).expect("open");
    let mut list: Vec<Member> = (0..40).map(|i| Member::new(user(i))).collect();
    list.push(Member::new("alice"));
    s.set_group("g", GroupType::Work, &list).expect("group");
    s
}

/// Alice's message `m` to `g` at time 100, needing receipts.
fn save_m(s: &Store) {
    s.save_messages(&[owner_group_msg("m", "g", 100, 1)])
        .expect("save");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// After the index is built (40 of 40 read), every later operation keeps
    /// the unread list equal to a brute-force model.
    #[test]
    fn index_matches_model(ops in prop::collection::vec(prop_oneof![
        3 => prop::collection::vec(0..POOL, 1..4).prop_map(Op::Read),
        2 => (0..POOL, prop::option::of(0i64..200)).prop_map(|(u, t)| Op::Join(u, t)),
        2 => (0..POOL).prop_map(Op::Leave),
        1 => (50i64..150).prop_map(Op::Resend),
    ], 1..30)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.db");
        let s = group_of_40(&path);
        let mut members: BTreeMap<String, Option<i64>> = (0..40).map(|i| (user(i), None)).collect();
        members.insert("alice".into(), None);
        save_m(&s);
        let time = 100;
        let mut none_unread = false;
        let mut readers: BTreeSet<String> = (0..39).map(user).collect();
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: "m".into(), reader_ids: Some(readers.iter().cloned().collect()), ..Default::default()
        }]).expect("readers");
        prop_assert_eq!(indexed_rows(&path), 1, "the index was not built");
        for op in &ops {
            match op {
                Op::Read(ix) => {
                    let ids: Vec<String> = ix.iter().map(|i| user(*i)).collect();
                    readers.extend(ids.iter().cloned());
                    s.apply_receipt_notifications(&[ReceiptNotification {
                        message_id: "m".into(), reader_ids: Some(ids), ..Default::default()
                    }]).expect("read");
                }
                Op::Join(u, jt) => {
                    members.insert(user(*u), *jt);
                    s.add_group_members("g", &[Member { user_id: user(*u), join_time: *jt }]).expect("join");
                }
                Op::Leave(u) => {
                    members.remove(&user(*u));
                    s.remove_group_members("g", &[user(*u)]).expect("leave");
                }
                Op::Resend(t) => {
                    // The server's time is fixed once given (PROTOCOL.md, Methods): a save
                    // that contradicts it is refused and changes nothing.
                    let r = s.save_messages(&[owner_group_msg("m", "g", *t, 1)]);
                    if *t == time {
                        r.expect("resave");
                    } else {
                        prop_assert!(matches!(r, Err(receiptdb::Error::InvalidParams(_))), "{:?}", r);
                    }
                }
            }
            let mut expect: Vec<String> = members
                .iter()
                .filter(|(u, jt)| u.as_str() != "alice" && jt.is_none_or(|j| j <= time) && !readers.contains(*u))
                .map(|(u, _)| u.clone())
                .collect();
            // PROTOCOL.md, Methods: `unreadCount` is a min-register, and once it is 0
            // the unread list is empty (a later join does not refill it).
            none_unread |= expect.is_empty();
            if none_unread {
                expect.clear();
            }
            prop_assert_eq!(unread_list(&s), expect, "after {:?}", op);
            let r = s.verify().expect("verify");
            prop_assert!(r.is_ok(), "the deep check after {:?}: {:?}", op, r.mismatches);
        }
    }
}

/// A count-only snapshot item builds the index of a big, mostly read message
/// whose index is still missing, as a notification does: readers that
/// arrived while it was unsent (audience not fixed) left it unbuilt.
#[test]
fn count_only_snapshot_builds_a_missing_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("u.db");
    let s = group_of_40(&path);
    let m = s
        .create_message(
            "g",
            receiptdb::ConversationType::Group,
            &serde_json::json!({}),
            true,
        )
        .expect("create");
    s.apply_receipt_notifications(&[ReceiptNotification {
        message_id: m.id.clone(),
        reader_ids: Some((0..39).map(user).collect()),
        ..Default::default()
    }])
    .expect("readers");
    s.mark_message_sent(&m.id, 1, 100).expect("sent");
    let before = indexed_rows(&path);
    let changed = s
        .apply_snapshot_receipts(
            "GROUPg",
            vec![receiptdb::SnapshotReceipt {
                message_id: m.id.clone(),
                read_count: Some(39),
                ..Default::default()
            }],
        )
        .expect("snapshot");
    assert_eq!(
        changed,
        Vec::<String>::new(),
        "39 readers were already counted"
    );
    assert_eq!(
        (before, indexed_rows(&path)),
        (0, 1),
        "index built by the snapshot"
    );
    let page = s
        .get_group_message_read_member_list(&m.id, MemberFilter::Unread, "", 100)
        .expect("page");
    assert_eq!(page.unread_user_id_list, Some(vec![user(39)]));
}

/// A big message its whole audience reads in one batch is marked indexed
/// with an empty unread list, without the anti-join over every member; the
/// deep check agrees, and the index keeps up with a later join and leave.
#[test]
fn wholly_read_in_one_batch_is_indexed_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("u.db");
    let s = group_of_40(&path);
    save_m(&s);
    s.apply_receipt_notifications(&[ReceiptNotification {
        message_id: "m".into(),
        reader_ids: Some((0..40).map(user).collect()),
        ..Default::default()
    }])
    .expect("readers");
    let flag = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .expect("raw")
            .query_row("SELECT unread_indexed FROM receipts", [], |r| r.get(0))
            .expect("flag")
    };
    assert_eq!((flag(&path), indexed_rows(&path)), (1, 0), "indexed, empty");
    assert_eq!(unread_list(&s), Vec::<String>::new());
    let r = s.verify().expect("verify");
    assert!(r.is_ok(), "after the batch: {:?}", r.mismatches);
    s.add_group_members("g", &[Member::new("late")])
        .expect("join");
    let r = s.verify().expect("verify");
    assert!(r.is_ok(), "after a join: {:?}", r.mismatches);
    s.remove_group_members("g", &[user(3)]).expect("leave");
    let r = s.verify().expect("verify");
    assert!(r.is_ok(), "after a leave: {:?}", r.mismatches);
    let info = s
        .get_message_read_receipt_list(&["m".to_string()])
        .expect("info");
    let unread = info[0].read_receipt_info.as_ref().map(|i| i.unread_count);
    assert_eq!(unread, Some(Some(0)), "a min-register at 0 stays 0");
}
