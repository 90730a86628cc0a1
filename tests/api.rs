//! Integration tests of the core store through the public Rust API: what
//! only the Rust API has (its types, `Store::subscribe`, in-memory stores,
//! opening and reopening files) and orderings and paging beyond the
//! conformance corpus. What a method answers, the same through every
//! transport, is the corpus (`tests/conformance/*.jsonl`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use receiptdb::{
    ConversationType, Error, EventKind, Filter, GroupType, IncomingMessage, IncomingReceiptInfo,
    Member, MemberFilter, Message, ReceiptConfig, ReceiptNotification, ReceiptSentState, Snapshot,
    SnapshotReceipt, Store, SCHEMA_VERSION,
};
use serde_json::json;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn mem() -> Store {
    Store::open_in_memory(OWNER).expect("open in memory")
}

/// The error of a call that must fail.
fn err_of<T>(r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => panic!("the call succeeded but should have failed"),
        Err(e) => e,
    }
}

/// Checks a call failed with the given PROTOCOL.md, Errors name and code.
fn assert_err<T>(r: Result<T, Error>, name: &str, code: i64) {
    let e = err_of(r);
    assert_eq!((e.name(), e.code()), (name, code), "error was {e}");
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn members(v: &[&str]) -> Vec<Member> {
    v.iter().map(|u| Member::new(*u)).collect()
}

fn member_at(u: &str, t: i64) -> Member {
    Member {
        user_id: u.into(),
        join_time: Some(t),
    }
}

/// An `in` C2C message from `from` to the owner.
fn in_c2c(id: &str, from: &str, seq: i64, time: i64, need: bool) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: from.into(),
        to: OWNER.into(),
        time,
        sequence: seq,
        need_read_receipt: need,
        payload: Some(json!({"text": id})),
        ..Default::default()
    }
}

/// Creates an `out` group message needing a receipt and marks it sent.
fn sent_group_msg(s: &Store, group: &str, seq: i64, time: i64) -> Message {
    let m = s
        .create_message(group, ConversationType::Group, &json!({"t": seq}), true)
        .unwrap();
    s.mark_message_sent(&m.id, seq, time).unwrap()
}

/// Creates an `out` C2C message needing a receipt and marks it sent.
fn sent_c2c_msg(s: &Store, peer: &str, seq: i64, time: i64) -> Message {
    let m = s
        .create_message(peer, ConversationType::C2C, &json!({"t": seq}), true)
        .unwrap();
    s.mark_message_sent(&m.id, seq, time).unwrap()
}

fn readers_arrive(s: &Store, id: &str, users: &[String]) -> Vec<String> {
    s.apply_receipt_notifications(&[ReceiptNotification {
        message_id: id.into(),
        reader_ids: Some(users.to_vec()),
        ..Default::default()
    }])
    .unwrap()
}

fn info(s: &Store, id: &str) -> (u64, Option<u64>, bool) {
    let i = s
        .find_message(id)
        .unwrap()
        .expect("message held")
        .read_receipt_info
        .expect("readReceiptInfo on an out receipt message");
    (i.read_count, i.unread_count, i.is_peer_read)
}

fn sent_state(s: &Store, id: &str) -> Option<ReceiptSentState> {
    s.find_message(id)
        .unwrap()
        .expect("held")
        .receipt_sent_state
}

fn all_members(s: &Store, id: &str, f: MemberFilter) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = s
            .get_group_message_read_member_list(id, f, &cursor, 100)
            .unwrap();
        let list = match f {
            MemberFilter::Read => p.read_user_id_list.expect("readUserIDList"),
            MemberFilter::Unread => p.unread_user_id_list.expect("unreadUserIDList"),
            MemberFilter::Delivered => p.delivered_user_id_list.expect("deliveredUserIDList"),
            MemberFilter::Undelivered => p.undelivered_user_id_list.expect("undeliveredUserIDList"),
        };
        out.extend(list);
        if p.is_completed {
            return out;
        }
        cursor = p.cursor;
    }
}

fn unread_count(s: &Store, conv: &str) -> u64 {
    s.get_conversation(conv).unwrap().unread_count
}

fn drain(sub: &receiptdb::Subscription) -> Vec<EventKind> {
    let mut out = Vec::new();
    while let Ok(e) = sub.receiver().try_recv() {
        out.push(e.kind);
    }
    out
}

fn receipt_events(kinds: &[EventKind]) -> Vec<receiptdb::ReceiptItem> {
    kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::ReceiptsChanged(items) => Some(items.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

// ---------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------

/// getMessageList orders by sequence, then time; count must be 1..100; a
/// nextReqMessageID the store does not hold is MESSAGE_NOT_FOUND.
#[test]
fn get_message_list_order_and_bounds() {
    let s = mem();
    s.save_messages(&[
        in_c2c("b", "bob", 5, 300, false),
        in_c2c("a", "bob", 5, 200, false),
        in_c2c("c", "bob", 9, 100, false),
        in_c2c("z", "bob", 1, 900, false),
    ])
    .unwrap();
    let p = s.get_message_list("C2Cbob", None, Some(2)).unwrap();
    let got: Vec<_> = p.message_list.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, ["b", "c"]);
    let p = s
        .get_message_list("C2Cbob", Some(&p.next_req_message_id), Some(2))
        .unwrap();
    let got: Vec<_> = p.message_list.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, ["z", "a"]);
    assert!(p.is_completed);
    for bad in [0, 101] {
        assert_err(
            s.get_message_list("C2Cbob", None, Some(bad)),
            "INVALID_PARAMS",
            -32602,
        );
    }
    s.get_message_list("C2Cbob", None, Some(100)).unwrap();
    s.get_message_list("C2Cbob", None, Some(1)).unwrap();
    assert_err(
        s.get_message_list("C2Cbob", Some("ghost"), None),
        "MESSAGE_NOT_FOUND",
        2001,
    );
    assert_err(
        s.get_message_list("bob", None, None),
        "INVALID_PARAMS",
        -32602,
    );
    // A nextReqMessageID of another conversation is refused.
    s.save_messages(&[in_c2c("other", "carol", 1, 1, false)])
        .unwrap();
    let e = err_of(s.get_message_list("C2Cbob", Some("other"), None));
    assert!(
        matches!(e.name(), "INVALID_PARAMS" | "MIXED_CONVERSATIONS"),
        "{e}"
    );
}

/// A message created locally sorts newest (its local sequence is above the
/// conversation's highest) until markMessageSent gives the server's.
#[test]
fn created_message_sorts_newest() {
    let s = mem();
    s.save_messages(&[in_c2c("a", "bob", 10, 100, false)])
        .unwrap();
    let m = s
        .create_message("bob", ConversationType::C2C, &json!({}), false)
        .unwrap();
    let list = s
        .get_message_list("C2Cbob", None, None)
        .unwrap()
        .message_list;
    assert_eq!(list.last().unwrap().id, m.id);
    s.mark_message_sent(&m.id, 5, 50).unwrap();
    let list = s
        .get_message_list("C2Cbob", None, None)
        .unwrap()
        .message_list;
    assert_eq!(list.last().unwrap().id, "a");
}

// ---------------------------------------------------------------------------
// read receipts
// ---------------------------------------------------------------------------

/// Queued receipts are durable when the call returns: after closing and
/// reopening the store they are still pending and handed out.
#[test]
fn send_message_read_receipt_is_durable() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    {
        let s = Store::open(&path, OWNER).unwrap();
        s.save_messages(&[
            in_c2c("a", "bob", 1, 1, true),
            in_c2c("b", "bob", 2, 2, true),
        ])
        .unwrap();
        s.send_message_read_receipt(&ids(&["a", "b"])).unwrap();
    }
    let s = Store::open(&path, OWNER).unwrap();
    assert_eq!(sent_state(&s, "a"), Some(ReceiptSentState::Pending));
    let b = s.get_pending_receipts(None).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].message_ids, ids(&["a", "b"]));
}

/// `MemberFilter::from_code` maps the wire filter codes: 0 is the read list,
/// 1 the unread list, anything else INVALID_PARAMS.
#[test]
fn member_filter_from_code() {
    assert_eq!(MemberFilter::from_code(0).unwrap(), MemberFilter::Read);
    assert_eq!(MemberFilter::from_code(1).unwrap(), MemberFilter::Unread);
    assert_eq!(MemberFilter::from_code(2).unwrap(), MemberFilter::Delivered);
    assert_eq!(
        MemberFilter::from_code(3).unwrap(),
        MemberFilter::Undelivered
    );
    for bad in [4, -1] {
        assert_err(MemberFilter::from_code(bad), "INVALID_PARAMS", -32602);
    }
}

struct ApiDriver<'a> {
    s: &'a Store,
    id: String,
}

impl MemberListDriver for ApiDriver<'_> {
    fn page(&mut self, read: bool, cursor: &str) -> (Vec<String>, String, bool) {
        let f = if read {
            MemberFilter::Read
        } else {
            MemberFilter::Unread
        };
        let p = self
            .s
            .get_group_message_read_member_list(&self.id, f, cursor, 100)
            .unwrap();
        let list = if read {
            assert!(p.unread_user_id_list.is_none());
            p.read_user_id_list.expect("readUserIDList")
        } else {
            assert!(p.read_user_id_list.is_none());
            p.unread_user_id_list.expect("unreadUserIDList")
        };
        (list, p.cursor, p.is_completed)
    }
    fn read_by(&mut self, users: &[String]) {
        readers_arrive(self.s, &self.id, users);
    }
}

/// A 250-member group paged 100 at a time (filter 0 and filter 1) while
/// readers arrive between pages: no one twice, sorted ascending, no one who
/// was in the list for the whole paging skipped (PROTOCOL.md, Methods).
#[test]
fn member_list_paging_while_readers_arrive() {
    let s = mem();
    let users = user_ids(250);
    let mut all = vec![Member::new(OWNER)];
    all.extend(users.iter().map(|u| Member::new(u.as_str())));
    s.set_group("big", GroupType::Public, &all).unwrap();
    let audience: BTreeSet<String> = users.iter().cloned().collect();

    // filter 0: 200 readers to start.
    let m1 = sent_group_msg(&s, "big", 1, 1000);
    let start: BTreeSet<String> = users
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 != 0)
        .map(|(_, u)| u.clone())
        .collect();
    readers_arrive(&s, &m1.id, &start.iter().cloned().collect::<Vec<_>>());
    let mut d = ApiDriver {
        s: &s,
        id: m1.id.clone(),
    };
    let end = page_while_readers_arrive(&mut d, true, &start, &audience);
    let n = end.len() as u64;
    assert_eq!(info(&s, &m1.id), (n, Some(250 - n), false));

    // filter 1: 225 unread to start.
    let m2 = sent_group_msg(&s, "big", 2, 1001);
    let start: BTreeSet<String> = users.iter().step_by(10).cloned().collect();
    readers_arrive(&s, &m2.id, &start.iter().cloned().collect::<Vec<_>>());
    let mut d = ApiDriver {
        s: &s,
        id: m2.id.clone(),
    };
    let end = page_while_readers_arrive(&mut d, false, &start, &audience);
    let n = end.len() as u64;
    assert_eq!(info(&s, &m2.id), (n, Some(250 - n), false));
}

/// A group message whose members are unknown has unreadCount null until the
/// group is set (docs/DESIGN.md); then it starts at |audience|.
#[test]
fn unknown_group_counts_start_when_members_arrive() {
    let s = mem();
    let m = sent_group_msg(&s, "later", 1, 100);
    assert_eq!(info(&s, &m.id), (0, None, false));
    let sub = s.subscribe(Filter::All);
    s.set_group(
        "later",
        GroupType::Work,
        &[
            Member::new(OWNER),
            Member::new("bob"),
            member_at("carol", 100),
            member_at("dave", 101),
        ],
    )
    .unwrap();
    assert_eq!(info(&s, &m.id), (0, Some(2), false));
    assert_eq!(
        all_members(&s, &m.id, MemberFilter::Unread),
        ids(&["bob", "carol"])
    );
    // The count became known: that is a receipt change, with an event.
    let items = receipt_events(&drain(&sub));
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].unread_count, Some(2));
}

/// Messages with equal sequence and time still page without overlap or gaps.
#[test]
fn get_message_list_pages_ties_without_overlap() {
    let s = mem();
    let msgs: Vec<IncomingMessage> = (0..20)
        .map(|i| in_c2c(&format!("t{i:02}"), "bob", 0, 0, false))
        .collect();
    s.save_messages(&msgs).unwrap();
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let p = s
            .get_message_list("C2Cbob", next.as_deref(), Some(7))
            .unwrap();
        seen.extend(p.message_list.iter().map(|m| m.id.clone()));
        if p.is_completed {
            break;
        }
        next = Some(p.next_req_message_id);
    }
    seen.sort();
    let expect: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
    assert_eq!(seen, expect, "every message exactly once");
}

// ---------------------------------------------------------------------------
// files: reopen, owner, corrupt, schema, mode
// ---------------------------------------------------------------------------

/// Closing and reopening a store keeps everything: messages, groups, config,
/// receipt state (counts, readers), the outbox (a handed-out batch keeps its
/// ID and contents) and conversation unread counts.
#[test]
fn reopen_keeps_everything() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let (g_id, c_id, batch);
    let mut snapshot_before = Vec::new();
    {
        let s = Store::open(&path, OWNER).unwrap();
        s.set_receipt_config(&ReceiptConfig {
            enabled: true,
            group_types: vec![GroupType::Work, GroupType::Public],
            delivery_receipts: false,
            private_reading: false,
        })
        .unwrap();
        s.set_group(
            "g",
            GroupType::Work,
            &[
                Member::new(OWNER),
                Member::new("bob"),
                member_at("carol", 10),
                Member::new("dave"),
            ],
        )
        .unwrap();
        g_id = sent_group_msg(&s, "g", 1, 100).id;
        readers_arrive(&s, &g_id, &ids(&["carol"]));
        c_id = sent_c2c_msg(&s, "bob", 1, 100).id;
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: c_id.clone(),
            user_id: Some("bob".into()),
            ..Default::default()
        }])
        .unwrap();
        s.save_messages(&[
            in_c2c("i1", "bob", 2, 200, true),
            in_c2c("i2", "bob", 3, 300, true),
            in_c2c("i3", "bob", 4, 400, true),
        ])
        .unwrap();
        s.send_message_read_receipt(&ids(&["i1", "i2"])).unwrap();
        batch = s.get_pending_receipts(None).unwrap();
        s.send_message_read_receipt(&ids(&["i3"])).unwrap();
        for conv in ["C2Cbob", "GROUPg"] {
            snapshot_before.push(format!(
                "{:?}",
                s.get_message_list(conv, None, Some(100)).unwrap()
            ));
            snapshot_before.push(format!("{:?}", s.get_conversation(conv).unwrap()));
        }
    }
    let dump = dump_db(&path);
    let s = Store::open(&path, OWNER).unwrap();
    assert_eq!(dump_db(&path), dump, "opening changed the data");
    let mut snapshot_after = Vec::new();
    for conv in ["C2Cbob", "GROUPg"] {
        snapshot_after.push(format!(
            "{:?}",
            s.get_message_list(conv, None, Some(100)).unwrap()
        ));
        snapshot_after.push(format!("{:?}", s.get_conversation(conv).unwrap()));
    }
    assert_eq!(snapshot_after, snapshot_before);
    assert_eq!(unread_count(&s, "C2Cbob"), 3);
    let cfg = s.get_receipt_config().unwrap();
    assert_eq!(cfg.group_types.len(), 2);
    assert!(!cfg.group_types.contains(&GroupType::Meeting));
    assert_eq!(info(&s, &g_id), (1, Some(2), false));
    assert_eq!(all_members(&s, &g_id, MemberFilter::Read), ids(&["carol"]));
    assert_eq!(
        all_members(&s, &g_id, MemberFilter::Unread),
        ids(&["bob", "dave"])
    );
    assert_eq!(info(&s, &c_id), (1, Some(0), true));
    // Groups are known: a new message counts its audience, and adding to the group works.
    s.add_group_members("g", &members(&["erin"])).unwrap();
    assert_eq!(info(&s, &sent_group_msg(&s, "g", 2, 200).id).1, Some(4));
    // The outbox: the handed-out batch first, unchanged, then the new one.
    let again = s.get_pending_receipts(None).unwrap();
    assert_eq!(again[0], batch[0]);
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].message_ids, ids(&["i3"]));
    assert!(s.ack_receipts(&batch[0].batch_id, &[]).unwrap());
    assert_eq!(sent_state(&s, "i1"), Some(ReceiptSentState::Acked));
}

fn open_err(path: &Path, user: &str) -> Error {
    err_of(Store::open(path, user))
}

/// A closed store with some data in it.
fn closed_store(path: &Path) {
    let s = Store::open(path, OWNER).unwrap();
    s.save_messages(&[in_c2c("i1", "bob", 1, 1, true)]).unwrap();
    s.send_message_read_receipt(&ids(&["i1"])).unwrap();
}

/// Opening a store as another user is OWNER_MISMATCH and leaves the file
/// byte-for-byte unchanged; the owner can still open it afterwards.
#[test]
fn open_as_other_user_is_owner_mismatch() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    closed_store(&path);
    let bytes = file_bytes(&path);
    let e = open_err(&path, "mallory");
    assert_eq!((e.name(), e.code()), ("OWNER_MISMATCH", 2005));
    assert_file_unchanged(&path, &bytes, "opening as another user");
    let s = Store::open(&path, OWNER).unwrap();
    assert_eq!(sent_state(&s, "i1"), Some(ReceiptSentState::Pending));
}

/// A file of random bytes is STORE_CORRUPT and is left byte-for-byte unchanged.
#[test]
fn random_bytes_file_is_store_corrupt() {
    let dir = temp_dir();
    for (i, n) in [4096usize, 50, 100_000].into_iter().enumerate() {
        let path = path_in(&dir, &format!("r{i}.db"));
        let bytes = random_bytes(n, 42 + i as u64);
        std::fs::write(&path, &bytes).unwrap();
        let e = open_err(&path, OWNER);
        assert_eq!((e.name(), e.code()), ("STORE_CORRUPT", 2006), "{n} bytes");
        assert_file_unchanged(&path, &bytes, "after the failed open");
    }
}

/// Another application's SQLite file is STORE_CORRUPT and left unchanged.
#[test]
fn foreign_sqlite_file_is_store_corrupt() {
    let dir = temp_dir();
    let path = path_in(&dir, "other.db");
    write_foreign_sqlite(&path);
    let bytes = file_bytes(&path);
    let e = open_err(&path, OWNER);
    assert_eq!((e.name(), e.code()), ("STORE_CORRUPT", 2006));
    assert_file_unchanged(&path, &bytes, "after the failed open");
}

/// A store written by a newer schema (user_version above SCHEMA_VERSION) is
/// SCHEMA_TOO_NEW and left unchanged.
#[test]
fn newer_schema_is_schema_too_new() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    closed_store(&path);
    set_user_version(&path, SCHEMA_VERSION + 1);
    let bytes = file_bytes(&path);
    let e = open_err(&path, OWNER);
    assert_eq!((e.name(), e.code()), ("SCHEMA_TOO_NEW", 2007));
    assert_file_unchanged(&path, &bytes, "after the failed open");
    // Also for another user: the version is what is wrong.
    assert!(matches!(
        open_err(&path, "mallory").name(),
        "SCHEMA_TOO_NEW" | "OWNER_MISMATCH"
    ));
    assert_file_unchanged(&path, &bytes, "after the failed open");
}

/// A new store file is created with mode 0600.
#[cfg(unix)]
#[test]
fn new_store_file_mode_is_0600() {
    let dir = temp_dir();
    let path = path_in(&dir, "new.db");
    let s = Store::open(&path, OWNER).unwrap();
    s.save_messages(&[in_c2c("i1", "bob", 1, 1, false)])
        .unwrap();
    assert_eq!(mode_of(&path), 0o600);
    for side in ["new.db-wal", "new.db-shm"] {
        let p = path_in(&dir, side);
        if p.exists() {
            assert_eq!(mode_of(&p), 0o600, "{side}");
        }
    }
    drop(s);
    assert_eq!(mode_of(&path), 0o600);
}

/// Opening a store as another user after a crash (the last session was
/// killed, its WAL not checkpointed) is OWNER_MISMATCH and leaves the store
/// file and its WAL byte-for-byte unchanged: the owner check is read-only.
#[test]
fn open_as_other_user_after_crash_changes_no_file() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let wal = path_in(&dir, "s.db-wal");
    let mut rpc = Rpc::spawn(&path, OWNER);
    let msg = json!({"ID": "i1", "conversationType": "C2C", "from": "bob", "to": OWNER,
                     "needReadReceipt": true});
    rpc.ok("saveMessages", json!({ "messages": [msg] }));
    rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["i1"]}));
    rpc.kill();
    assert!(wal.exists(), "the crashed session left its WAL");
    let (main_before, wal_before) = (file_bytes(&path), file_bytes(&wal));
    let e = open_err(&path, "mallory");
    assert_eq!((e.name(), e.code()), ("OWNER_MISMATCH", 2005));
    assert_file_unchanged(&path, &main_before, "the store file changed");
    assert!(wal.exists(), "the WAL was removed");
    assert_file_unchanged(&wal, &wal_before, "the WAL changed");
    let s = Store::open(&path, OWNER).unwrap();
    assert_eq!(sent_state(&s, "i1"), Some(ReceiptSentState::Pending));
}

/// A receiptdb store with damaged pages is STORE_CORRUPT, at open or on the
/// first read; it never answers as if nothing were wrong.
#[test]
fn damaged_store_is_store_corrupt() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    {
        let s = Store::open(&path, OWNER).unwrap();
        let msgs: Vec<IncomingMessage> = (0..300)
            .map(|i| {
                let mut m = in_c2c(&format!("m{i:03}"), "bob", i, i, true);
                m.payload = Some(json!({"text": "x".repeat(300)}));
                m
            })
            .collect();
        s.save_messages(&msgs).unwrap();
    }
    let mut bytes = file_bytes(&path);
    assert!(bytes.len() > 3 * 8192, "the store spans several pages");
    let keep = 8192;
    let junk = random_bytes(bytes.len() - keep, 99);
    bytes[keep..].copy_from_slice(&junk);
    std::fs::write(&path, &bytes).unwrap();
    match Store::open(&path, OWNER) {
        Err(e) => assert_eq!(e.name(), "STORE_CORRUPT", "{e}"),
        Ok(s) => {
            let e = err_of(s.get_message_list("C2Cbob", None, Some(100)));
            assert_eq!((e.name(), e.code()), ("STORE_CORRUPT", 2006), "{e}");
        }
    }
}

/// An empty user ID is refused with INVALID_PARAMS and creates no file.
#[test]
fn open_refuses_empty_user() {
    let dir = temp_dir();
    let path = path_in(&dir, "x.db");
    let e = open_err(&path, "");
    assert_eq!(e.name(), "INVALID_PARAMS");
    assert!(!path.exists());
}

// ---------------------------------------------------------------------------
// events through subscribe
// ---------------------------------------------------------------------------

/// Receipt events carry one item per changed `out` message with the merged
/// (not the incoming) values; C2C items carry the peer as userID and groupID
/// "", group items the groupID and userID ""; a call that changes nothing
/// sends none.
#[test]
fn receipt_events_carry_merged_values() {
    let s = mem();
    s.set_group("g", GroupType::Work, &members(&[OWNER, "bob", "carol"]))
        .unwrap();
    let g = sent_group_msg(&s, "g", 1, 100);
    let c = sent_c2c_msg(&s, "bob", 1, 100);
    let sub = s.subscribe(Filter::All);

    let changed = s
        .apply_receipt_notifications(&[
            ReceiptNotification {
                message_id: g.id.clone(),
                reader_ids: Some(ids(&["bob"])),
                read_count: Some(0),
                unread_count: Some(7),
                ..Default::default()
            },
            ReceiptNotification {
                message_id: c.id.clone(),
                is_peer_read: Some(true),
                ..Default::default()
            },
        ])
        .unwrap();
    assert_eq!(changed.len(), 2);
    let items = receipt_events(&drain(&sub));
    assert_eq!(items.len(), 2, "{items:?}");
    let gi = items.iter().find(|i| i.message_id == g.id).unwrap();
    assert_eq!((gi.group_id.as_str(), gi.user_id.as_str()), ("g", ""));
    assert_eq!((gi.read_count, gi.unread_count), (1, Some(1)));
    let ci = items.iter().find(|i| i.message_id == c.id).unwrap();
    assert_eq!((ci.group_id.as_str(), ci.user_id.as_str()), ("", "bob"));
    assert!(ci.is_peer_read);

    // A stale / repeated notification changes nothing and sends nothing.
    let changed = s
        .apply_receipt_notifications(&[ReceiptNotification {
            message_id: g.id.clone(),
            reader_ids: Some(ids(&["bob"])),
            read_count: Some(1),
            unread_count: Some(2),
            ..Default::default()
        }])
        .unwrap();
    assert!(changed.is_empty());
    assert!(receipt_events(&drain(&sub)).is_empty());

    // Removing a member lowers unreadCount: an event with the new count.
    s.remove_group_members("g", &ids(&["carol"])).unwrap();
    let items = receipt_events(&drain(&sub));
    assert_eq!(items.len(), 1);
    assert_eq!((items[0].read_count, items[0].unread_count), (1, Some(0)));
}

/// Events carry the commit sequence of the transaction that made them:
/// it grows from one committed call to the next (events in commit order).
#[test]
fn events_arrive_in_commit_order() {
    let s = mem();
    s.set_group("g", GroupType::Work, &members(&[OWNER, "b", "c", "d"]))
        .unwrap();
    let m = sent_group_msg(&s, "g", 1, 100);
    let sub = s.subscribe(Filter::All);
    for r in ["b", "c", "d"] {
        readers_arrive(&s, &m.id, &ids(&[r]));
    }
    let evs: Vec<receiptdb::Event> = std::iter::from_fn(|| sub.receiver().try_recv().ok())
        .filter(|e| matches!(e.kind, EventKind::ReceiptsChanged(_)))
        .collect();
    assert_eq!(evs.len(), 3);
    assert!(evs.windows(2).all(|w| w[0].commit_seq < w[1].commit_seq));
    let reads: Vec<u64> = evs
        .iter()
        .map(|e| match &e.kind {
            EventKind::ReceiptsChanged(items) => items[0].read_count,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(reads, vec![1, 2, 3]);
}

/// Calls that change nothing emit no event of any kind (PROTOCOL.md, Methods): getters,
/// repeated saves of identical messages, a repeated markMessageSent,
/// setMessageRead on a read conversation, a repeated notification/snapshot.
#[test]
fn unchanged_calls_emit_no_events() {
    let s = mem();
    s.set_group("g", GroupType::Work, &members(&[OWNER, "bob"]))
        .unwrap();
    let g = sent_group_msg(&s, "g", 1, 100);
    let msg = in_c2c("i1", "bob", 1, 1, true);
    s.save_messages(std::slice::from_ref(&msg)).unwrap();
    s.set_message_read("C2Cbob", None).unwrap();
    let note = ReceiptNotification {
        message_id: g.id.clone(),
        reader_ids: Some(ids(&["bob"])),
        ..Default::default()
    };
    s.apply_receipt_notifications(std::slice::from_ref(&note))
        .unwrap();
    let snap = Snapshot {
        conversation_id: "C2Cbob".into(),
        messages: vec![msg.clone()],
        receipts: vec![SnapshotReceipt {
            message_id: "i1".into(),
            ..Default::default()
        }],
        self_read: vec![],
        ..Default::default()
    };
    s.apply_snapshot(&snap).unwrap();
    let sub = s.subscribe(Filter::All);

    let mut what = Vec::new();
    let mut step = |name: &str, kinds: Vec<EventKind>| {
        if !kinds.is_empty() {
            what.push(format!("{name}: {kinds:?}"));
        }
    };
    s.get_receipt_config().unwrap();
    s.find_message("i1").unwrap();
    s.get_message_list("C2Cbob", None, None).unwrap();
    s.get_conversation("C2Cbob").unwrap();
    s.get_message_read_receipt_list(std::slice::from_ref(&g.id))
        .unwrap();
    s.get_group_message_read_member_list(&g.id, MemberFilter::Read, "", 10)
        .unwrap();
    step("getters", drain(&sub));
    s.save_messages(std::slice::from_ref(&msg)).unwrap();
    step("re-save identical", drain(&sub));
    s.mark_message_sent(&g.id, 1, 100).unwrap();
    step("repeat markMessageSent", drain(&sub));
    s.set_message_read("C2Cbob", None).unwrap();
    step("setMessageRead on read", drain(&sub));
    s.apply_receipt_notifications(&[note]).unwrap();
    step("repeat notification", drain(&sub));
    s.apply_snapshot(&snap).unwrap();
    step("repeat snapshot", drain(&sub));
    s.set_group("g", GroupType::Work, &members(&[OWNER, "bob"]))
        .unwrap();
    step("same setGroup", drain(&sub));
    s.send_message_read_receipt(&ids(&["i1"])).unwrap();
    drain(&sub);
    s.send_message_read_receipt(&ids(&["i1"])).unwrap();
    step("repeat sendMessageReadReceipt", drain(&sub));
    assert!(what.is_empty(), "no-op calls emitted events: {what:#?}");
}

/// Saving an `out` message with receipt figures merges them as a lattice:
/// readCount takes the max, unreadCount the min (PROTOCOL.md, Merge rules).
#[test]
fn saved_receipt_figures_merge_as_lattice() {
    let s = mem();
    s.set_group("g", GroupType::Work, &members(&[OWNER, "b", "c", "d", "e"]))
        .unwrap();
    let out = |rc: u64, uc: u64| IncomingMessage {
        id: "o".into(),
        conversation_id: Some("GROUPg".into()),
        from: OWNER.into(),
        to: "g".into(),
        time: 10,
        sequence: 1,
        need_read_receipt: true,
        read_receipt_info: Some(IncomingReceiptInfo {
            read_count: Some(rc),
            unread_count: Some(uc),
            is_peer_read: None,
            ..Default::default()
        }),
        ..Default::default()
    };
    s.save_messages(&[out(2, 2)]).unwrap();
    assert_eq!(info(&s, "o"), (2, Some(2), false));
    s.save_messages(&[out(1, 3)]).unwrap();
    assert_eq!(
        info(&s, "o"),
        (2, Some(2), false),
        "stale figures change nothing"
    );
    s.save_messages(&[out(3, 1)]).unwrap();
    assert_eq!(info(&s, "o"), (3, Some(1), false));
}

/// A member page keeps its head (the message, its receipt and group rows)
/// for the next page while nothing was written (docs/DESIGN.md): a recall
/// between two pages must still fail the second, whether this store or
/// another store on the same file wrote it.
#[test]
fn member_page_after_a_recall_is_message_recalled() {
    let dir = temp_dir();
    let path = path_in(&dir, "s.db");
    let s = Store::open(&path, OWNER).unwrap();
    let other = Store::open(&path, OWNER).unwrap();
    s.set_group(
        "g",
        GroupType::Work,
        &members(&[OWNER, "bob", "carol", "dave"]),
    )
    .unwrap();
    for (k, writer) in [(1, &s), (2, &other)] {
        let msg = owner_group_msg(&format!("m{k}"), "g", 100, k);
        s.save_messages(std::slice::from_ref(&msg)).unwrap();
        readers_arrive(&s, &msg.id, &ids(&["bob", "carol", "dave"]));
        let page = |cursor: &str| {
            s.get_group_message_read_member_list(&msg.id, MemberFilter::Read, cursor, 1)
        };
        let first = page("").unwrap();
        assert_eq!(first.read_user_id_list, Some(ids(&["bob"])));
        assert_eq!(
            page("").unwrap().cursor,
            first.cursor,
            "the same page twice"
        );
        writer
            .save_messages(&[IncomingMessage {
                is_revoked: true,
                ..msg.clone()
            }])
            .unwrap();
        assert_err(page(&first.cursor), "MESSAGE_RECALLED", 2012);
    }
}
