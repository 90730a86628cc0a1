//! Old stores upgrade with nothing lost, and the migrations check
//! themselves (in the spirit of rusqlite_migration's `validate()`): the
//! whole chain applies on an empty store and on every committed fixture
//! (`tests/fixtures/vN.db`, written by the code that shipped schema N),
//! each upgrade is one transaction (a store is at its old version or the
//! newest, never between), and every result passes the deep check.
//! The v1 upgrade's row-by-row test is `tests/conversations.rs`
//! (`upgrade_from_schema_1_keeps_everything`).

mod common;

use std::path::{Path, PathBuf};

use common::{dump_db, path_in, temp_dir, OWNER};
use receiptdb::{Store, SCHEMA_VERSION};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("user_version")
}

/// Every fixture there is, with its schema version from its name.
fn fixtures() -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(fixture(""))
        .expect("fixtures")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let n = p.file_name()?.to_str()?;
            let v = n.strip_prefix('v')?.strip_suffix(".db")?.parse().ok()?;
            Some((v, p))
        })
        .collect();
    v.sort();
    v
}

fn assert_verified(s: &Store, what: &str) {
    let r = s.verify().expect("verify");
    assert!(r.is_ok(), "{what}: the deep check: {:?}", r.mismatches);
}

#[test]
fn there_is_a_fixture_for_every_old_schema() {
    let have: Vec<i64> = fixtures().iter().map(|f| f.0).collect();
    let want: Vec<i64> = (1..SCHEMA_VERSION).collect();
    assert_eq!(
        have, want,
        "a committed fixture per schema before {SCHEMA_VERSION}"
    );
    for (v, p) in fixtures() {
        assert_eq!(user_version(&p), v, "{} is at its schema", p.display());
    }
}

#[test]
fn the_chain_applies_on_an_empty_store_and_every_fixture() {
    let dir = temp_dir();
    let fresh = path_in(&dir, "fresh.db");
    let s = Store::open(&fresh, OWNER).expect("a new store");
    assert_eq!(user_version(&fresh), SCHEMA_VERSION);
    assert_verified(&s, "a new store");
    drop(s);
    for (v, src) in fixtures() {
        let path = path_in(&dir, &format!("v{v}.db"));
        std::fs::copy(&src, &path).expect("copy");
        let s = Store::open(&path, OWNER).unwrap_or_else(|e| panic!("upgrade from v{v}: {e}"));
        assert_eq!(user_version(&path), SCHEMA_VERSION, "v{v}");
        assert_verified(&s, &format!("upgraded from v{v}"));
        assert_eq!(s.integrity_check().expect("integrity"), vec!["ok"]);
        drop(s);
        // Reopening the upgraded store changes nothing.
        let once = dump_db(&path);
        drop(Store::open(&path, OWNER).expect("reopen"));
        assert_eq!(dump_db(&path), once, "v{v}: a second open is a no-op");
    }
}

/// An upgrade that cannot finish (another connection holds the file's lock
/// past the busy timeout) leaves the old store at its version, unchanged,
/// and it upgrades at the next open. Kills mid-upgrade are in
/// `tests/power_loss.rs` (`full_durability_upgrade_from_v1_survives_cuts`).
#[test]
fn an_upgrade_that_cannot_finish_leaves_the_old_store_as_it_was() {
    for (v, src) in fixtures() {
        let dir = temp_dir();
        let path = path_in(&dir, "old.db");
        std::fs::copy(&src, &path).expect("copy");
        let before = dump_db(&path);
        let holder = rusqlite::Connection::open(&path).expect("holder");
        holder
            .execute_batch("BEGIN EXCLUSIVE")
            .expect("lock the file");
        let r = Store::open_with(
            &path,
            OWNER,
            receiptdb::OpenOptions::new().busy_timeout_ms(50),
        );
        assert!(r.is_err(), "v{v}: the upgrade cannot take the lock");
        holder.execute_batch("ROLLBACK").expect("unlock");
        drop(holder);
        assert_eq!(user_version(&path), v, "v{v}: still at its version");
        assert_eq!(dump_db(&path), before, "v{v}: nothing changed");
        // And it upgrades once the lock is free.
        let s = Store::open(&path, OWNER).expect("upgrade");
        assert_verified(&s, &format!("v{v} after a refused upgrade"));
    }
}

#[test]
fn upgrade_from_schema_2_keeps_the_read_state() {
    let dir = temp_dir();
    let path = path_in(&dir, "v2.db");
    std::fs::copy(fixture("v2.db"), &path).expect("copy");
    let before = dump_db(&path);
    let s = Store::open(&path, OWNER).expect("upgrade");
    for (c, unread, read, peer) in [
        ("C2Cbob", 2, 3, Some(10)),
        ("C2Ccarol", 1, 1, Some(3)),
        ("GROUPteam", 2, 3, None),
        ("GROUPtown", 1, 0, None),
    ] {
        let conv = s.get_conversation(c).expect("conversation");
        assert_eq!(
            (
                conv.unread_count,
                conv.read_sequence,
                conv.peer_read_sequence
            ),
            (unread, read, peer),
            "{c}"
        );
    }
    assert_eq!(s.get_total_unread_message_count().expect("total"), 6);
    // The pending read report survives; the acked one stays acked.
    let reports = s.get_pending_read_reports().expect("reports");
    let pending: Vec<(String, i64)> = reports
        .iter()
        .map(|r| (r.conversation_id.clone(), r.read_sequence))
        .collect();
    assert_eq!(pending, vec![("GROUPteam".to_string(), 3)]);
    // Peer reads: a1 (seq 10) and a2 at or below bob's position, a3 below carol's.
    for id in ["a1", "a2", "a3"] {
        let m = s.find_message(id).expect("find").expect(id);
        assert!(m.is_peer_read, "{id} is peer-read");
    }
    // Every message, batch, outbox entry and early receipt is still there.
    for id in [
        "b1", "b2", "b3", "b4", "b5", "a1", "a2", "a3", "c1", "c2", "g1", "g2", "g3", "g4", "g5",
        "t1",
    ] {
        assert!(s.find_message(id).expect("find").is_some(), "{id}");
    }
    assert_eq!(s.pending_receipt_count().expect("outbox"), 4);
    drop(s);
    let after = dump_db(&path);
    let rows = |d: &[String], table: &str| -> Vec<String> {
        d.iter()
            .filter(|l| l.starts_with(&format!("{table}:")))
            .cloned()
            .collect()
    };
    for table in [
        "messages",
        "readers",
        "outbox",
        "batches",
        "members",
        "groups",
        "read_reports",
        "conversations",
    ] {
        // Later schemas append columns (with their defaults): compare the old ones.
        let added = common::columns_added_since_v3(table);
        let after_rows: Vec<String> = rows(&after, table)
            .iter()
            .map(|r| common::without_last_fields(r, added))
            .collect();
        assert_eq!(rows(&before, table), after_rows, "{table}");
        assert!(
            !rows(&before, table).is_empty(),
            "{table}: the fixture holds some"
        );
    }
}

/// The v3 fixture (former members, early receipts addressed to a
/// conversation, failed messages, a group without messages, batches handed
/// out) upgrades with each of those answers unchanged, and the state schema 4
/// adds starts empty: nothing recalled, no unread mark.
#[test]
fn upgrade_from_schema_3_keeps_everything() {
    let dir = temp_dir();
    let path = path_in(&dir, "v3.db");
    std::fs::copy(fixture("v3.db"), &path).expect("copy");
    let s = Store::open(&path, OWNER).expect("upgrade");
    // bob left `team` after reading g1: still in its read list.
    let page = s
        .get_group_message_read_member_list("g1", receipt_filter(0), "", 100)
        .expect("read list");
    assert_eq!(page.read_user_id_list, Some(vec!["bob".to_string()]));
    // Failed messages are not unread; C2Ccarol's count is what v2 left.
    assert_eq!(
        s.get_conversation("C2Ccarol").expect("conv").unread_count,
        1
    );
    assert_eq!(s.get_total_unread_message_count().expect("total"), 6);
    // The early receipt for later2 applies when later2 arrives in GROUPteam.
    s.save_messages(&[receiptdb::IncomingMessage {
        id: "later2".into(),
        conversation_type: Some(receiptdb::ConversationType::Group),
        from: OWNER.into(),
        to: "team".into(),
        time: 700,
        sequence: 9,
        need_read_receipt: true,
        ..Default::default()
    }])
    .expect("save later2");
    let info = s
        .find_message("later2")
        .expect("find")
        .expect("later2")
        .read_receipt_info
        .expect("receipt info");
    assert_eq!(info.read_count, 2);
    // The group set up without messages is listed, last.
    let list = s.get_conversation_list(None, Some(100)).expect("list");
    let ids: Vec<&str> = list
        .conversation_list
        .iter()
        .map(|c| c.conversation_id.as_str())
        .collect();
    assert_eq!(ids.last(), Some(&"GROUPempty"), "{ids:?}");
    // Batches handed out keep their IDs and contents.
    let batches = s.get_pending_receipts(None).expect("batches");
    assert!(!batches.is_empty());
    assert!(batches.iter().all(|b| b.batch_id.starts_with('b')));
    // Nothing recalled, no conversation marked.
    for id in ["b1", "g1", "g3", "f1", "c3"] {
        let m = s.find_message(id).expect("find").expect(id);
        assert!(!m.is_revoked, "{id}");
    }
    assert_verified(&s, "v3 upgraded");
}

fn receipt_filter(code: i64) -> receiptdb::MemberFilter {
    receiptdb::MemberFilter::from_code(code).expect("filter")
}

/// The v4 fixture (delivery acks queued and handed out, deliveries, a read
/// time, an unread mark, private reading, a recall) upgrades with each of
/// those answers unchanged, and nothing is deleted or cleared: schema 5's
/// tombstones start empty, so every message saved again is saved.
#[test]
fn upgrade_from_schema_4_keeps_everything() {
    let dir = temp_dir();
    let path = path_in(&dir, "v4.db");
    std::fs::copy(fixture("v4.db"), &path).expect("copy");
    let s = Store::open(&path, OWNER).expect("upgrade");
    // Delivery acks handed out as d1 and d2 are still owed, as they were.
    let pending = s.get_pending(None).expect("pending");
    let d: Vec<(String, Vec<String>)> = pending
        .delivery_batches
        .iter()
        .map(|b| (b.batch_id.clone(), b.message_ids.clone()))
        .collect();
    assert_eq!(
        d,
        vec![
            ("d1".to_string(), vec!["g7".to_string()]),
            ("d2".to_string(), vec!["b7".to_string()])
        ]
    );
    // g8: delivered to carol and dave, carol read it at 900.
    let page = s
        .get_group_message_read_member_list_with_read_times("g8", receipt_filter(0), "", 100)
        .expect("read list");
    let readers: Vec<(String, Option<i64>)> = page
        .read_member_list
        .expect("with read times")
        .iter()
        .map(|r| (r.user_id.clone(), r.read_time))
        .collect();
    assert_eq!(readers, vec![("carol".to_string(), Some(900))]);
    let delivered = s
        .get_group_message_read_member_list("g8", receipt_filter(2), "", 100)
        .expect("delivered list");
    assert_eq!(
        delivered.delivered_user_id_list,
        Some(vec!["carol".to_string(), "dave".to_string()])
    );
    // The mark, private reading and the recall.
    assert!(s.get_conversation("C2Ccarol").expect("carol").marked_unread);
    assert!(
        s.get_conversation("GROUPteam")
            .expect("team")
            .private_reading
    );
    assert!(s.find_message("g2").expect("find").expect("g2").is_revoked);
    assert_eq!(s.get_pending_mark_reports().expect("marks").len(), 1);
    // Nothing cleared: an old message saved again is saved.
    let again = s
        .save_messages(&[receiptdb::IncomingMessage {
            id: "b1".into(),
            conversation_type: Some(receiptdb::ConversationType::C2C),
            from: "bob".into(),
            to: OWNER.into(),
            time: 1001,
            sequence: 1,
            need_read_receipt: true,
            ..Default::default()
        }])
        .expect("save b1");
    assert_eq!(again, 1);
    assert_verified(&s, "v4 upgraded");
}
