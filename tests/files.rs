//! Damaged and foreign files: random bytes, another app's SQLite
//! file, a truncated store and a store with a flipped page. Each gives a
//! clear STORE_CORRUPT (2006) — at open (leaving the file byte-for-byte
//! unchanged) or at the first call that reads the damaged page — never a
//! panic, and `receiptdb rpc` answers with an error instead of crashing.
//! `receiptdb check --db PATH` runs the full integrity check: exit 0 and
//! "ok" for a sound store, non-zero and a report for damaged files.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    assert_file_unchanged, assert_open_failure, file_bytes, path_in, random_bytes, temp_dir,
    write_foreign_sqlite, Rpc, OWNER,
};
use receiptdb::{ConversationType, Error, GroupType, IncomingMessage, Member, Store};
use serde_json::json;

const CORRUPT: i64 = 2006;
const CORRUPT_NAME: &str = "STORE_CORRUPT";
const CONVERSATIONS: usize = 20;
const MESSAGES: usize = 4_000;

/// `receiptdb check --db PATH`: (exit code, stdout + stderr).
fn check_cmd(path: &Path) -> (Option<i32>, String) {
    let out = Command::new(common::receiptdb_bin())
        .args(["check", "--db"])
        .arg(path)
        .output()
        .expect("run receiptdb check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Checks `receiptdb check` refuses the file with a non-zero status and a
/// report that names the problem, and leaves it byte-for-byte unchanged.
fn assert_check_fails(path: &Path, what: &str) {
    let before = file_bytes(path);
    let (code, text) = check_cmd(path);
    assert!(
        matches!(code, Some(c) if c != 0),
        "{what}: receiptdb check exit status {code:?}: {text}"
    );
    assert!(
        !text.trim().is_empty() && !text.trim_start().starts_with("ok"),
        "{what}: receiptdb check must report the damage: {text:?}"
    );
    assert!(
        text.contains("CORRUPT") || text.to_lowercase().contains("corrupt"),
        "{what}: the report says the store is corrupt: {text:?}"
    );
    assert_file_unchanged(path, &before, &format!("{what}: receiptdb check"));
}

/// Store::open refuses with STORE_CORRUPT and leaves the file unchanged;
/// so does `receiptdb rpc` (one error line, exit 2).
fn assert_open_refused(path: &Path, what: &str) {
    let before = file_bytes(path);
    match Store::open(path, OWNER) {
        Err(e @ Error::StoreCorrupt(_)) => {
            assert_eq!((e.code(), e.name()), (CORRUPT, CORRUPT_NAME));
        }
        Err(e) => panic!("{what}: expected STORE_CORRUPT, got {} ({e})", e.name()),
        Ok(_) => panic!("{what}: the store opened"),
    }
    assert_file_unchanged(path, &before, &format!("{what}: Store::open"));
    assert_open_failure(path, OWNER, CORRUPT, CORRUPT_NAME);
    assert_file_unchanged(path, &before, &format!("{what}: receiptdb rpc"));
    let no_wal = {
        let mut w = path.as_os_str().to_owned();
        w.push("-wal");
        !Path::new(&w).exists()
    };
    assert!(no_wal, "{what}: a refused open left a -wal file");
}

/// A real store with data spread over many pages: a group, thousands of
/// messages with payloads in many conversations, readers, an outbox.
fn build_store(path: &Path) -> Vec<String> {
    let s = Store::open(path, OWNER).expect("create");
    let members: Vec<Member> = (0..50)
        .map(|i| Member::new(format!("u{i:02}")))
        .chain([Member::new(OWNER)])
        .collect();
    s.set_group("g", GroupType::Work, &members).unwrap();
    let mut ids = Vec::new();
    for chunk in 0..(MESSAGES / 1000) {
        let msgs: Vec<IncomingMessage> = (0..1000)
            .map(|k| {
                let i = chunk * 1000 + k;
                IncomingMessage {
                    id: format!("msg-{i:05}"),
                    conversation_type: Some(ConversationType::C2C),
                    from: format!("peer{}", i % CONVERSATIONS),
                    to: OWNER.into(),
                    time: i as i64,
                    sequence: i as i64,
                    need_read_receipt: true,
                    payload: Some(json!({"text": format!("message number {i} with some text")})),
                    ..Default::default()
                }
            })
            .collect();
        ids.extend(msgs.iter().map(|m| m.id.clone()));
        s.save_messages(&msgs).unwrap();
    }
    // Queued receipts: the first 30 messages of peer0.
    let peer0: Vec<String> = ids
        .iter()
        .step_by(CONVERSATIONS)
        .take(30)
        .cloned()
        .collect();
    s.send_message_read_receipt(&peer0).unwrap();
    let out = s
        .create_message("g", ConversationType::Group, &json!({"t": 1}), true)
        .unwrap();
    s.mark_message_sent(&out.id, 1, 1).unwrap();
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
    drop(s);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(!Path::new(&wal).exists(), "a closed store leaves no -wal");
    ids
}

/// Page size and page count from the header.
fn geometry(bytes: &[u8]) -> (usize, usize) {
    let ps = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65536,
        n => n as usize,
    };
    (ps, bytes.len() / ps)
}

/// Pages (1-based) of a table or index, from SQLite's dbstat.
fn pages_of(path: &Path, name: &str, leaf: bool) -> Vec<usize> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut st = c
        .prepare("SELECT pageno FROM dbstat WHERE name = ?1 AND pagetype = ?2 ORDER BY pageno")
        .unwrap();
    st.query_map(
        rusqlite::params![name, if leaf { "leaf" } else { "internal" }],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
    .map(|r| r.unwrap() as usize)
    .collect()
}

/// Overwrites `len` bytes in the middle of page `page` (1-based) with
/// seeded random bytes.
fn flip_page(path: &Path, page: usize, len: usize, seed: u64) {
    let mut b = file_bytes(path);
    let (ps, _) = geometry(&b);
    assert!(page > 1, "never page 1");
    let start = (page - 1) * ps + ps / 2 - len / 2;
    let junk = random_bytes(len, seed);
    b[start..start + len].copy_from_slice(&junk);
    std::fs::write(path, b).unwrap();
}

/// A file of random bytes: STORE_CORRUPT at open (Store and rpc), file
/// unchanged; `receiptdb check` fails with a report.
#[test]
fn random_bytes_file() {
    let dir = temp_dir();
    for (i, n) in [16usize, 100, 4096, 100_000].into_iter().enumerate() {
        let path = path_in(&dir, &format!("random{i}.db"));
        std::fs::write(&path, random_bytes(n, 42 + i as u64)).unwrap();
        assert_open_refused(&path, &format!("{n} random bytes"));
        assert_check_fails(&path, &format!("{n} random bytes"));
    }
    // Random bytes behind a valid SQLite header (not ours).
    let path = path_in(&dir, "header.db");
    let mut b = b"SQLite format 3\0".to_vec();
    b.extend(random_bytes(8192, 7));
    std::fs::write(&path, &b).unwrap();
    assert_open_refused(&path, "SQLite magic then random bytes");
    assert_check_fails(&path, "SQLite magic then random bytes");
}

/// Another application's SQLite file: STORE_CORRUPT at open, unchanged;
/// `receiptdb check` refuses it too.
#[test]
fn foreign_sqlite_file() {
    let dir = temp_dir();
    let path = path_in(&dir, "notes.db");
    write_foreign_sqlite(&path);
    assert_open_refused(&path, "foreign SQLite");
    assert_check_fails(&path, "foreign SQLite");
}

/// A real store cut in half (no -wal beside it): STORE_CORRUPT at open,
/// unchanged; `receiptdb check` fails with a report.
#[test]
fn truncated_store() {
    let dir = temp_dir();
    let path = path_in(&dir, "cut.db");
    build_store(&path);
    let b = file_bytes(&path);
    let (ps, pages) = geometry(&b);
    assert!(pages > 20, "the store spans many pages ({pages})");
    // Half, on a page boundary and not.
    for cut in [(pages / 2) * ps, b.len() / 2 + 123] {
        std::fs::write(&path, &b[..cut]).unwrap();
        assert_open_refused(&path, &format!("store cut at {cut} of {}", b.len()));
        assert_check_fails(&path, &format!("store cut at {cut}"));
    }
}

/// A sound store passes `receiptdb check`: exit 0 and "ok"; the check
/// writes nothing.
#[test]
fn check_ok_for_a_sound_store() {
    let dir = temp_dir();
    let path = path_in(&dir, "sound.db");
    build_store(&path);
    let before = file_bytes(&path);
    let (code, text) = check_cmd(&path);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok"), "{text}");
    assert_file_unchanged(&path, &before, "receiptdb check on a sound store");
}

/// What happened when a damaged store was used.
#[derive(Debug, Default)]
struct Sweep {
    corrupt: usize,
    other_errors: Vec<String>,
}

/// Reads everything through the Rust API: every message, every page of
/// every conversation, the member lists, the outbox, then the integrity
/// check. Counts STORE_CORRUPT answers and collects any other error.
fn sweep(s: &Store, ids: &[String]) -> (Sweep, Vec<String>) {
    let mut r = Sweep::default();
    let mut note = |e: Error, what: &str| match e {
        Error::StoreCorrupt(_) => r.corrupt += 1,
        e => r.other_errors.push(format!("{what}: {} {e}", e.name())),
    };
    for id in ids {
        if let Err(e) = s.find_message(id) {
            note(e, "findMessage");
        }
    }
    for c in 0..CONVERSATIONS {
        let conv = format!("C2Cpeer{c}");
        let mut next: Option<String> = None;
        for _ in 0..100 {
            match s.get_message_list(&conv, next.as_deref(), Some(100)) {
                Ok(p) if !p.is_completed => next = Some(p.next_req_message_id),
                Ok(_) => break,
                Err(e) => {
                    note(e, "getMessageList");
                    break;
                }
            }
        }
        if let Err(e) = s.get_conversation(&conv) {
            note(e, "getConversation");
        }
    }
    for chunk in ids.chunks(100) {
        // Chunks span conversations: MIXED_CONVERSATIONS is expected.
        if let Err(e) = s.get_message_read_receipt_list(chunk) {
            if !matches!(e, Error::MixedConversations) {
                note(e, "getMessageReadReceiptList");
            }
        }
    }
    let integrity = match s.integrity_check() {
        Ok(lines) => lines,
        Err(e) => {
            note(e, "integrity_check");
            vec!["error".into()]
        }
    };
    (r, integrity)
}

/// A store whose page in the middle of the `messages` table (not page 1)
/// is overwritten: `receiptdb check` reports it; opening and reading give
/// STORE_CORRUPT (at open or at the first read of that page), never
/// another error, never a panic; `receiptdb rpc` answers every call.
#[test]
fn flipped_page_in_messages_table() {
    flipped_page("messages", true);
}

/// Same, for a leaf page of the index on conversations.
#[test]
fn flipped_page_in_conversation_index() {
    flipped_page("messages_by_conv", true);
}

fn flipped_page(object: &str, leaf: bool) {
    let dir = temp_dir();
    let path = path_in(&dir, "flip.db");
    let ids = build_store(&path);
    let pages = pages_of(&path, object, leaf);
    assert!(pages.len() > 4, "{object} spans {} pages", pages.len());
    let page = pages[pages.len() / 2];
    flip_page(&path, page, 512, 99);
    let what = format!("page {page} of {object} overwritten");
    assert_check_fails(&path, &what);

    let before = file_bytes(&path);
    match Store::open(&path, OWNER) {
        Err(e) => {
            assert!(
                matches!(e, Error::StoreCorrupt(_)),
                "{what}: open gave {} {e}",
                e.name()
            );
            assert_file_unchanged(&path, &before, &what);
        }
        Ok(s) => {
            let (r, integrity) = sweep(&s, &ids);
            assert!(
                r.other_errors.is_empty(),
                "{what}: errors other than STORE_CORRUPT: {:?}",
                r.other_errors
            );
            assert!(r.corrupt > 0, "{what}: no call reported STORE_CORRUPT");
            assert_ne!(integrity, vec!["ok".to_string()], "{what}: integrity_check");
        }
    }
    rpc_on_damaged_store(&path, &ids, &what, true);
}

/// Serves a damaged store with `receiptdb rpc` and reads everything:
/// every call is answered with a result or STORE_CORRUPT (2006), the
/// server stays up and exits cleanly; when `must_see` at least one
/// STORE_CORRUPT comes back (or the open itself is refused).
fn rpc_on_damaged_store(path: &Path, ids: &[String], what: &str, must_see: bool) {
    let (lines, status) = common::rpc_open_failure(path, OWNER);
    if status.code() == Some(2) {
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["error"]["code"], CORRUPT, "{what}: {v}");
        return;
    }
    let mut rpc = Rpc::spawn(path, OWNER);
    let mut corrupt = 0;
    let mut check = |r: common::Reply, what: &str| {
        if let Some(e) = r.response.get("error") {
            assert_eq!(e["code"], CORRUPT, "{what}: {}", r.response);
            assert_eq!(e["data"]["name"], CORRUPT_NAME, "{what}");
            corrupt += 1;
        }
    };
    for id in ids.iter().step_by(7) {
        let r = rpc.call("findMessage", json!({ "messageID": id }));
        check(r, what);
    }
    for c in 0..CONVERSATIONS {
        let mut next = String::new();
        for _ in 0..100 {
            let r = rpc.call(
                "getMessageList",
                json!({"conversationID": format!("C2Cpeer{c}"), "nextReqMessageID": next, "count": 100}),
            );
            let page = r.response["result"].clone();
            check(r, what);
            if page.is_null() || page["isCompleted"] == true {
                break;
            }
            next = page["nextReqMessageID"].as_str().unwrap().to_string();
        }
    }
    // Writes touching the damage answer too.
    let r = rpc.call(
        "sendMessageReadReceipt",
        json!({"messageIDs": [ids[ids.len() / 2]]}),
    );
    check(r, what);
    if must_see {
        assert!(corrupt > 0, "{what}: rpc never answered STORE_CORRUPT");
    }
    assert!(rpc.close().success(), "{what}: receiptdb rpc exit status");
}

/// Many smaller and larger overwrites at seeded spots of many pages (not
/// page 1): whatever SQLite can or cannot detect, no call panics and no
/// call fails with anything but STORE_CORRUPT; `receiptdb check` never
/// crashes. (A few flipped bytes inside a text value are undetectable.)
#[test]
fn many_flipped_pages_never_panic_nor_internal_error() {
    let dir = temp_dir();
    let base = path_in(&dir, "base.db");
    let ids = build_store(&base);
    let clean = file_bytes(&base);
    let (_, n_pages) = geometry(&clean);
    let path = path_in(&dir, "flip.db");
    let mut detected = 0;
    let mut cases = 0;
    let mut others: Vec<String> = Vec::new();
    for (k, page) in (2..=n_pages).step_by(n_pages / 12).enumerate() {
        for (j, len) in [8usize, 64, 1024].into_iter().enumerate() {
            std::fs::write(&path, &clean).unwrap();
            flip_page(&path, page, len, 1_000 + (k * 3 + j) as u64);
            let what = format!("page {page}, {len} bytes");
            cases += 1;
            let (code, text) = check_cmd(&path);
            assert!(
                matches!(code, Some(0..=2)),
                "{what}: check crashed: {code:?} {text}"
            );
            match Store::open(&path, OWNER) {
                Err(e) => {
                    assert!(
                        matches!(e, Error::StoreCorrupt(_)),
                        "{what}: open gave {} {e}",
                        e.name()
                    );
                    detected += 1;
                }
                Ok(s) => {
                    let (r, integrity) = sweep(&s, &ids);
                    // Undetectable damage may garble an ID into another
                    // one: "not found" is then the honest answer.
                    for e in r
                        .other_errors
                        .iter()
                        .filter(|e| !e.contains("MESSAGE_NOT_FOUND"))
                    {
                        others.push(format!("{what}: {e}"));
                    }
                    if r.corrupt > 0 || integrity != vec!["ok".to_string()] {
                        detected += 1;
                    }
                }
            }
        }
    }
    assert!(
        detected * 2 > cases,
        "only {detected} of {cases} damages detected"
    );
    assert!(
        others.is_empty(),
        "{} calls failed with errors other than STORE_CORRUPT, e.g. {:?}",
        others.len(),
        &others[..others.len().min(6)]
    );
}
