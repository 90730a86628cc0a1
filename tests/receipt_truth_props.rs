//! Issue 13's property: random memberships with join and leave times,
//! random readers (members, the sender, late joiners, strangers) and random
//! server counts, applied in any order and any number of times, always give
//! lists and counts that tell one story (PROTOCOL.md, Methods), and the same final
//! state whatever the order.

mod common;

use std::collections::BTreeSet;

use common::owner_group_msg;
use proptest::prelude::*;
use receiptdb::{GroupType, Member, MemberFilter, ReceiptNotification, Store};

const SENDER: &str = "alice";

fn user(i: usize) -> String {
    // 0..12 members, 12..16 strangers; "alice" is the sender.
    if i == 99 {
        SENDER.to_string()
    } else {
        format!("u{i:02}")
    }
}

#[derive(Debug, Clone)]
struct Note {
    readers: Vec<usize>,
    read_count: Option<u64>,
    unread_count: Option<u64>,
}

#[derive(Debug, Clone)]
enum After {
    Leave(usize),
    Join(usize, Option<i64>),
}

fn whole(s: &Store, f: MemberFilter) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut cursor = String::new();
    let mut stale = None;
    loop {
        let p = s
            .get_group_message_read_member_list("m", f, &cursor, 3)
            .expect("page");
        if let Some(st) = stale {
            assert_eq!(st, p.is_stale, "isStale is the same on every page");
        }
        stale = Some(p.is_stale);
        out.extend(
            p.read_user_id_list
                .or(p.unread_user_id_list)
                .unwrap_or_default(),
        );
        if p.is_completed {
            return (out, p.is_stale);
        }
        cursor = p.cursor;
    }
}

type State = (Vec<String>, Vec<String>, u64, Option<u64>, bool);

fn check(s: &Store) -> Result<State, TestCaseError> {
    let r = s.verify().expect("verify");
    prop_assert!(r.is_ok(), "the deep check: {:?}", r.mismatches);
    let (read, stale_r) = whole(s, MemberFilter::Read);
    let (unread, stale_u) = whole(s, MemberFilter::Unread);
    let info = s
        .get_message_read_receipt_list(&["m".to_string()])
        .expect("receipts")
        .remove(0)
        .read_receipt_info
        .expect("info");
    let r: BTreeSet<&String> = read.iter().collect();
    prop_assert!(unread.iter().all(|u| !r.contains(u)), "lists share a user");
    prop_assert!(
        !read.iter().chain(&unread).any(|u| u == SENDER),
        "sender listed"
    );
    prop_assert!(info.read_count >= read.len() as u64);
    let uc = info.unread_count;
    if let Some(u) = uc {
        prop_assert!(
            u as usize <= unread.len(),
            "unreadCount {u} above {unread:?}"
        );
        if u == 0 {
            prop_assert!(unread.is_empty(), "unreadCount 0 with {unread:?}");
        }
    }
    let stale =
        info.read_count > read.len() as u64 || uc.is_some_and(|u| (u as usize) < unread.len());
    prop_assert_eq!(stale_r, stale);
    prop_assert_eq!(stale_u, stale);
    Ok((read, unread, info.read_count, uc, stale))
}

/// A store whose group "g" has `members` (user index, join time) and the
/// sender, of whom the users `gone` have left since, and then the sender's
/// message "m" at time 100, needing receipts.
fn group_and_message(
    members: &[(usize, Option<i64>)],
    gone: &[usize],
) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path().join("p.db"), SENDER).expect("open");
    let mut list: Vec<Member> = members
        .iter()
        .map(|(u, jt)| Member {
            user_id: user(*u),
            join_time: *jt,
        })
        .collect();
    list.push(Member::new(SENDER));
    s.set_group("g", GroupType::Work, &list).expect("group");
    let gone: Vec<String> = gone.iter().map(|u| user(*u)).collect();
    if !gone.is_empty() {
        s.remove_group_members("g", &gone).expect("leave");
    }
    s.save_messages(&[owner_group_msg("m", "g", 100, 1)])
        .expect("save");
    (dir, s)
}

fn run(
    members: &[(usize, Option<i64>)],
    notes: &[Note],
    order: &[usize],
    after: &[After],
) -> Result<State, TestCaseError> {
    let (_dir, s) = group_and_message(members, &[]);
    check(&s)?;
    for &i in order {
        let n = &notes[i];
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: "m".into(),
            reader_ids: Some(n.readers.iter().map(|u| user(*u)).collect()),
            read_count: n.read_count,
            unread_count: n.unread_count,
            ..Default::default()
        }])
        .expect("note");
        check(&s)?;
    }
    for a in after {
        match a {
            After::Leave(u) => s.remove_group_members("g", &[user(*u)]).expect("leave"),
            After::Join(u, jt) => s
                .add_group_members(
                    "g",
                    &[Member {
                        user_id: user(*u),
                        join_time: *jt,
                    }],
                )
                .expect("join"),
        }
        check(&s)?;
    }
    check(&s)
}

fn reader() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..16, 1 => Just(99usize)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn lists_and_counts_tell_one_story_in_any_order(
        members in prop::collection::btree_map(0usize..12, prop::option::of(0i64..200), 1..12),
        notes in prop::collection::vec(
            (prop::collection::vec(reader(), 0..5), prop::option::of(0u64..14), prop::option::of(0u64..14))
                .prop_map(|(readers, read_count, unread_count)| Note { readers, read_count, unread_count }),
            1..8),
        after in prop::collection::vec(prop_oneof![
            (0usize..16).prop_map(After::Leave),
            (0usize..16, prop::option::of(0i64..200)).prop_map(|(u, t)| After::Join(u, t)),
        ], 0..5),
        seed in any::<u64>(),
    ) {
        let members: Vec<(usize, Option<i64>)> = members.into_iter().collect();
        let forward: Vec<usize> = (0..notes.len()).collect();
        // Another order, with repeats.
        let mut other: Vec<usize> = forward.iter().rev().copied().collect();
        other.rotate_left((seed as usize) % notes.len());
        other.extend(forward.iter().filter(|i| (seed >> (*i % 60)) & 1 == 1));
        let a = run(&members, &notes, &forward, &after)?;
        let b = run(&members, &notes, &other, &after)?;
        prop_assert_eq!(a, b);
    }
}

/// The state after the readers of `lists` arrive, each list in pieces of
/// `piece` readers (a whole list at once when `piece` is 0), in a group of
/// 40 members (u00..u39, joined at `joins`) of whom `gone` have left, with
/// strangers (u40..u59) and the sender among the readers.
fn long_lists(
    joins: &[Option<i64>],
    gone: &[usize],
    lists: &[Vec<usize>],
    piece: usize,
) -> Result<State, TestCaseError> {
    let members: Vec<(usize, Option<i64>)> = joins.iter().copied().enumerate().collect();
    let (_dir, s) = group_and_message(&members, gone);
    for readers in lists {
        let readers: Vec<String> = readers.iter().map(|u| user(*u)).collect();
        let pieces: Vec<&[String]> = if piece == 0 {
            vec![&readers[..]]
        } else {
            readers.chunks(piece).collect()
        };
        for p in pieces {
            s.apply_receipt_notifications(&[ReceiptNotification {
                message_id: "m".into(),
                reader_ids: Some(p.to_vec()),
                ..Default::default()
            }])
            .expect("note");
        }
    }
    check(&s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Long reader lists take leaner statements (no look among the readers
    /// when the message has none yet, none among former members when the
    /// group has lost nobody): they must count exactly as the same readers
    /// given a few at a time, which take the general one.
    #[test]
    fn long_reader_lists_count_as_short_ones(
        joins in prop::collection::vec(prop::option::of(0i64..200), 40),
        gone in prop::collection::btree_set(0usize..40, 0..6),
        lists in prop::collection::vec(
            prop::collection::vec(prop_oneof![8 => 0usize..60, 1 => Just(99usize)], 32..70),
            1..3),
    ) {
        let gone: Vec<usize> = gone.into_iter().collect();
        let whole = long_lists(&joins, &gone, &lists, 0)?;
        let pieces = long_lists(&joins, &gone, &lists, 3)?;
        prop_assert_eq!(whole, pieces);
    }
}
