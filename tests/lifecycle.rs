//! A store's life through the public API: a backup taken while other
//! connections write is a consistent store of the same user and loses none
//! of their writes; restore brings a copy back through SQLite, refuses a
//! foreign, newer or non-store copy changing nothing, and keeps batch
//! numbers and message IDs from repeating; deleting a store is refused
//! while any connection (this process or another) has it open; compaction
//! shrinks the file after large deletions.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::{assert_error, path_in, temp_dir, Rpc, OWNER};
use receiptdb::{ConversationType, Error, Event, EventKind, Filter, IncomingMessage, Store};
use serde_json::json;

fn c2c_in(id: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_id: None,
        conversation_type: Some(ConversationType::C2C),
        from: "bob".into(),
        to: OWNER.into(),
        time: seq,
        sequence: seq,
        status: None,
        need_read_receipt: true,
        payload: None,
        is_peer_read: false,
        read_receipt_info: None,
        is_revoked: false,
    }
}

fn with_payload(mut m: IncomingMessage, payload: serde_json::Value) -> IncomingMessage {
    m.payload = Some(payload);
    m
}

fn count_messages(store: &Store, ids: &[String]) -> usize {
    ids.iter()
        .filter(|id| store.find_message(id).ok().flatten().is_some())
        .count()
}

/// A backup taken while a second store on the same file keeps saving:
/// everything saved before the backup started is in the copy, the copy is
/// a sound store of the same user, and after the backup every save of the
/// writer is still in the live store (the backup lost none).
#[test]
fn backup_under_concurrent_writes_is_consistent_and_loses_nothing() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    let before: Vec<String> = (0..500).map(|i| format!("pre{i}")).collect();
    let msgs: Vec<_> = before
        .iter()
        .enumerate()
        .map(|(i, id)| c2c_in(id, i as i64 + 1))
        .collect();
    store.save_messages(&msgs).expect("save");

    let writer = Store::open(&path, OWNER).expect("second store");
    let stop = Arc::new(AtomicBool::new(false));
    let saved = Arc::new(AtomicUsize::new(0));
    let handle = {
        let (stop, saved) = (Arc::clone(&stop), Arc::clone(&saved));
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Acquire) || i < 50 {
                let id = format!("during{i}");
                writer
                    .save_messages(&[c2c_in(&id, 10_000 + i as i64)])
                    .expect("save during the backup");
                i += 1;
                saved.store(i, Ordering::Release);
            }
            i
        })
    };
    while saved.load(Ordering::Acquire) < 5 {
        std::thread::yield_now();
    }
    let report = store.backup("copy.db").expect("backup");
    stop.store(true, Ordering::Release);
    let n = handle.join().expect("writer");
    let copy_path = path_in(&dir, "copy.db");
    assert_eq!(report.path, copy_path.display().to_string());
    assert!(report.bytes > 0);

    let copy = Store::open(&copy_path, OWNER).expect("the copy opens as alice's store");
    assert_eq!(count_messages(&copy, &before), before.len());
    assert!(copy.verify().expect("verify").mismatches.is_empty());
    assert_eq!(copy.integrity_check().expect("check"), vec!["ok"]);
    let during: Vec<String> = (0..n).map(|i| format!("during{i}")).collect();
    assert_eq!(
        count_messages(&store, &during),
        n,
        "a write during the backup was lost"
    );
    // The copy holds a prefix of the writer's saves: a consistent moment.
    let in_copy = count_messages(&copy, &during);
    assert!((0..in_copy).all(|i| copy.find_message(&during[i]).ok().flatten().is_some()));
    assert!(matches!(
        Store::open(&copy_path, "mallory"),
        Err(Error::OwnerMismatch)
    ));
}

/// A backup never writes over a file, the store's own included.
#[test]
fn backup_refuses_an_existing_file() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    std::fs::write(path_in(&dir, "taken.db"), b"keep me").expect("write");
    for target in ["taken.db", "store.db"] {
        let e = store.backup(target).expect_err("refused");
        assert_eq!(e.name(), "IO_ERROR", "{target}: {e}");
    }
    assert_eq!(
        std::fs::read(path_in(&dir, "taken.db")).expect("read"),
        b"keep me"
    );
    assert!(store.verify().expect("verify").mismatches.is_empty());
}

/// Restore: the copy's contents come back (later messages go), the
/// outbox's batch numbers and the message counter do not go back, and
/// STORE_RESTORED plus the new total reach a subscriber after the commit.
#[test]
fn restore_brings_the_copy_back_and_keeps_ids_unique() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    store
        .save_messages(&[c2c_in("a1", 1), c2c_in("a2", 2)])
        .expect("save");
    store.backup("copy.db").expect("backup");
    let created = store
        .create_message("bob", ConversationType::C2C, &json!({}), true)
        .expect("create");
    store
        .save_messages(&[c2c_in("a3", 3), c2c_in("a4", 4)])
        .expect("save later");
    store
        .send_message_read_receipt(&["a3".to_string()])
        .expect("receipt");
    let handed = store.get_pending_receipts(None).expect("pending");
    let old_batch = handed[0].batch_id.clone();

    let sub = store.subscribe(Filter::All);
    let report = store.restore("copy.db").expect("restore");
    assert_eq!(report.total_unread_count, 2);
    assert!(store.find_message("a1").expect("find").is_some());
    assert!(store.find_message("a3").expect("find").is_none());
    assert!(store.find_message(&created.id).expect("find").is_none());
    assert!(store.verify().expect("verify").mismatches.is_empty());
    let kinds: Vec<EventKind> = sub.receiver().try_iter().map(|e: Event| e.kind).collect();
    assert!(kinds.contains(&EventKind::StoreRestored), "{kinds:?}");
    assert!(
        kinds.contains(&EventKind::TotalUnreadChanged(2)),
        "{kinds:?}"
    );

    // New IDs never repeat what the live store handed out before.
    let again = store
        .create_message("bob", ConversationType::C2C, &json!({}), true)
        .expect("create after");
    assert_ne!(again.id, created.id);
    store
        .send_message_read_receipt(&["a1".to_string()])
        .expect("receipt");
    let fresh = store.get_pending_receipts(None).expect("pending");
    assert_eq!(fresh.len(), 1);
    assert_ne!(fresh[0].batch_id, old_batch, "a batch number came back");
}

/// A copy of another user, of a newer schema, a file that is not a store,
/// a missing file and the store's own file are refused, changing nothing.
#[test]
fn restore_refuses_foreign_newer_and_damaged_copies() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    store.save_messages(&[c2c_in("keep", 1)]).expect("save");
    {
        let other = Store::open(path_in(&dir, "bob.db"), "bob").expect("bob");
        other.save_messages(&[c2c_in("b1", 1)]).expect("save");
    }
    {
        let newer = Store::open(path_in(&dir, "newer.db"), OWNER).expect("newer");
        drop(newer);
        common::set_user_version(&path_in(&dir, "newer.db"), receiptdb::SCHEMA_VERSION + 1);
    }
    common::write_foreign_sqlite(&path_in(&dir, "foreign.db"));
    std::fs::write(path_in(&dir, "junk.db"), common::random_bytes(8192, 7)).expect("junk");
    let cases = [
        ("bob.db", "OWNER_MISMATCH"),
        ("newer.db", "SCHEMA_TOO_NEW"),
        ("foreign.db", "STORE_CORRUPT"),
        ("junk.db", "STORE_CORRUPT"),
        ("missing.db", "IO_ERROR"),
        ("store.db", "INVALID_PARAMS"),
    ];
    for (file, name) in cases {
        let e = store.restore(file).expect_err(file);
        assert_eq!(e.name(), name, "{file}: {e}");
        assert!(
            store.find_message("keep").expect("find").is_some(),
            "{file}"
        );
    }
    assert!(store.verify().expect("verify").mismatches.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restore-"))
        .collect();
    assert!(leftovers.is_empty(), "scratch copies left: {leftovers:?}");
}

/// A copy of an older schema (the v3 fixture) restores, upgraded.
#[test]
fn restore_upgrades_an_older_copy() {
    let dir = temp_dir();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3.db");
    let copy = path_in(&dir, "v3.db");
    std::fs::copy(&fixture, &copy).expect("copy fixture");
    let owner = {
        let conn = rusqlite::Connection::open(&copy).expect("open");
        conn.query_row("SELECT value FROM meta WHERE key = 'owner'", [], |r| {
            r.get::<_, String>(0)
        })
        .expect("owner")
    };
    let store = Store::open(path_in(&dir, "store.db"), &owner).expect("open");
    store.restore("v3.db").expect("restore an older copy");
    assert!(store.verify().expect("verify").mismatches.is_empty());
    let reopened = Store::open(&copy, &owner).expect("the fixture opens");
    let want = reopened
        .get_conversation_list(None, Some(100))
        .expect("list");
    let got = store.get_conversation_list(None, Some(100)).expect("list");
    assert_eq!(
        serde_json::to_value(&got).expect("json"),
        serde_json::to_value(&want).expect("json")
    );
}

/// Delete is refused while a store has the file open in this process,
/// allowed once it is closed, and removes the database, -wal and -shm.
#[test]
fn delete_is_refused_while_open_in_this_process() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    store.save_messages(&[c2c_in("m", 1)]).expect("save");
    let e = receiptdb::delete_store(&path, OWNER).expect_err("open here");
    assert!(matches!(e, Error::StoreBusy), "{e}");
    assert!(store.find_message("m").expect("still usable").is_some());
    store
        .save_messages(&[c2c_in("m2", 2)])
        .expect("still writable");
    assert!(matches!(
        receiptdb::delete_store(&path, "bob"),
        Err(Error::OwnerMismatch)
    ));
    drop(store);
    assert!(receiptdb::delete_store(&path, OWNER).expect("closed: deleted"));
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", path.display());
        assert!(!std::path::Path::new(&p).exists(), "{p} left");
    }
    assert!(!receiptdb::delete_store(&path, OWNER).expect("nothing left"));
    // A new store at the path starts empty.
    let fresh = Store::open(&path, OWNER).expect("reopen");
    assert!(fresh.find_message("m").expect("find").is_none());
}

/// Delete is refused while another process (a `receiptdb rpc`) has the
/// store open, and a session asking to delete its own store is refused.
#[test]
fn delete_is_refused_while_another_process_has_it_open() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let mut rpc = Rpc::spawn(&path, OWNER);
    rpc.ok(
        "saveMessages",
        json!({"messages": [{"ID": "m", "conversationType": "C2C",
        "from": "bob", "to": OWNER, "time": 1, "sequence": 1}]}),
    );
    let e = receiptdb::delete_store(&path, OWNER).expect_err("open elsewhere");
    assert!(matches!(e, Error::StoreBusy), "{e}");
    let r = rpc.call("deleteStore", json!({"path": "store.db"}));
    assert_error(&r, 2009, "STORE_BUSY", "its own store");
    rpc.ok("findMessage", json!({"messageID": "m"}));
    drop(rpc);
    assert!(receiptdb::delete_store(&path, OWNER).expect("closed"));
}

/// After deleting most of the messages' worth of rows (here: a big
/// payload per message, then a restore of a small copy), compaction
/// reports what it freed and the file on disk is smaller.
#[test]
fn compaction_shrinks_the_file() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    store.save_messages(&[c2c_in("small", 1)]).expect("save");
    store.backup("small.db").expect("backup");
    let big: Vec<_> = (0..400)
        .map(|i| {
            with_payload(
                c2c_in(&format!("big{i}"), i + 2),
                json!({"text": "x".repeat(4000)}),
            )
        })
        .collect();
    store.save_messages(&big).expect("save big");
    store.restore("small.db").expect("restore small");
    // On disk: the database and its WAL.
    let footprint = || {
        ["", "-wal"]
            .iter()
            .map(|s| {
                std::fs::metadata(format!("{}{s}", path.display()))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    let file_before = footprint();
    let report = store.compact().expect("compact");
    assert!(report.reclaimed_bytes > 1_000_000, "{report:?}");
    assert_eq!(
        report.bytes_before - report.bytes_after,
        report.reclaimed_bytes
    );
    let file_after = footprint();
    assert!(
        file_after + 1_000_000 < file_before,
        "{file_before} -> {file_after}"
    );
    assert!(store.verify().expect("verify").mismatches.is_empty());
    assert!(store.find_message("small").expect("find").is_some());
}

/// Clearing a conversation's history is a large deletion compaction gives
/// back to the file system, and the cleared history stays cleared: saving
/// the same messages again (a stale sync) saves none of them, while the
/// other conversation is untouched.
#[test]
fn cleared_history_shrinks_with_compaction_and_stays_cleared() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open(&path, OWNER).expect("open");
    let mut carol = c2c_in("carol1", 1);
    carol.from = "carol".into();
    store.save_messages(&[carol]).expect("save carol");
    let big: Vec<_> = (0..400)
        .map(|i| {
            with_payload(
                c2c_in(&format!("big{i}"), i + 1),
                json!({"text": "x".repeat(4000)}),
            )
        })
        .collect();
    store.save_messages(&big).expect("save big");
    let report = store.clear_history("C2Cbob").expect("clear");
    assert_eq!((report.deleted, report.cleared_sequence), (400, 400));
    let bytes = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    let before = bytes(&path) + bytes(&wal);
    let compacted = store.compact().expect("compact");
    assert!(compacted.reclaimed_bytes > 1_000_000, "{compacted:?}");
    let after = bytes(&path) + bytes(&wal);
    assert!(after + 1_000_000 < before, "{before} -> {after}");
    assert_eq!(store.save_messages(&big).expect("stale save"), 0);
    assert_eq!(store.get_total_unread_message_count().expect("total"), 1);
    assert!(store.find_message("carol1").expect("find").is_some());
    assert!(store.verify().expect("verify").mismatches.is_empty());
}
