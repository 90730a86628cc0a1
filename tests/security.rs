//! Security: new files are private (mode 0600, also the WAL and
//! shared-memory files), a store opens only for its owner (and a refusal
//! writes nothing), every value reaches SQL as a bound parameter
//! (SQL-looking and wildcard IDs and payloads round-trip exactly and leave
//! the tables intact), and error messages name no more of a path than the
//! user gave.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    assert_file_unchanged, assert_open_failure, file_bytes, mode_of, path_in, temp_dir, Rpc, OWNER,
};
use receiptdb::{check_file, Error, Store};
use serde_json::{json, Value};

/// IDs that would break string-built SQL: quotes, comments, statement
/// separators, LIKE/GLOB wildcards, placeholders, and unicode.
const NASTY: &[&str] = &[
    "x'); DROP TABLE messages;--",
    "\"; DELETE FROM outbox; --",
    "' OR '1'='1",
    "%",
    "_",
    "%_%",
    "*",
    "[a-z]",
    "\\",
    "?1",
    ":name",
    "@p",
    "$1",
    "NULL",
    "🙂漢字",
    "a b",
];

fn sidecar(path: &Path, ext: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(ext);
    p.into()
}

fn tables(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut st = c
        .prepare("SELECT type || ' ' || name FROM sqlite_master ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A store created by `Store::open` or `receiptdb rpc` is mode 0600, and
/// so are its -wal and -shm files while it is open.
#[test]
fn new_files_are_mode_0600() {
    let dir = temp_dir();
    let path = path_in(&dir, "api.db");
    let s = Store::open(&path, OWNER).unwrap();
    s.set_message_read("C2Cbob", None).unwrap();
    s.create_message("bob", receiptdb::ConversationType::C2C, &json!({}), false)
        .unwrap();
    for p in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
        assert!(p.exists(), "{} exists while open", p.display());
        assert_eq!(mode_of(&p), 0o600, "{}", p.display());
    }
    drop(s);
    assert_eq!(mode_of(&path), 0o600);

    let path = path_in(&dir, "rpc.db");
    let mut rpc = Rpc::spawn(&path, OWNER);
    rpc.ok(
        "createMessage",
        json!({"to": "bob", "conversationType": "C2C", "payload": {}}),
    );
    for p in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
        assert_eq!(mode_of(&p), 0o600, "{}", p.display());
    }
    assert!(rpc.close().success());
}

/// A refused open creates nothing: `receiptdb check` on a missing file,
/// and an invalid user ID, leave no file behind.
#[test]
fn refusals_create_no_file() {
    let dir = temp_dir();
    let path = path_in(&dir, "missing.db");
    let out = Command::new(common::receiptdb_bin())
        .args(["check", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!path.exists(), "check created the file");
    assert!(matches!(
        Store::open(&path, ""),
        Err(Error::InvalidParams(_))
    ));
    assert!(
        !path.exists(),
        "an open with an empty user created the file"
    );
}

/// The owner check: a store made for alice refuses every other user ID —
/// case, spaces, look-alikes, SQL — with OWNER_MISMATCH (2005), through
/// the API, `receiptdb rpc` and `receiptdb check --user`, and the file and
/// its directory are left as they were. Alice still opens it.
#[test]
fn only_the_owner_opens_the_store() {
    let dir = temp_dir();
    let path = path_in(&dir, "owned.db");
    {
        let s = Store::open(&path, OWNER).unwrap();
        s.create_message("bob", receiptdb::ConversationType::C2C, &json!({}), false)
            .unwrap();
    }
    let before = file_bytes(&path);
    let others = [
        "Alice",
        "ALICE",
        "alice ",
        " alice",
        "alic",
        "alicee",
        "ａlice",
        "alice' OR '1'='1",
        "' OR 1=1 --",
        "%",
        "bob",
    ];
    for u in others {
        match Store::open(&path, u) {
            Err(e @ Error::OwnerMismatch) => {
                assert_eq!((e.name(), e.code()), ("OWNER_MISMATCH", 2005));
            }
            Err(e) => panic!("{u:?}: expected OWNER_MISMATCH, got {} {e}", e.name()),
            Ok(_) => panic!("{u:?} opened alice's store"),
        }
        assert_file_unchanged(&path, &before, &format!("open as {u:?}"));
        assert!(matches!(
            check_file(&path, Some(u)),
            Err(Error::OwnerMismatch)
        ));
    }
    assert_open_failure(&path, "mallory", 2005, "OWNER_MISMATCH");
    let out = Command::new(common::receiptdb_bin())
        .args(["check", "--user", "mallory", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "check --user mallory passed");
    assert!(String::from_utf8_lossy(&out.stdout).contains("OWNER_MISMATCH"));
    assert_file_unchanged(&path, &before, "refused opens");
    assert_eq!(check_file(&path, Some(OWNER)).unwrap(), vec!["ok"]);
    Store::open(&path, OWNER).expect("the owner opens it");
}

/// All SQL takes bound parameters: SQL-looking, wildcard and unicode
/// strings as peer, group, member, reader and message IDs and as payload
/// keys and values round-trip exactly through every method, match only
/// themselves (no LIKE/GLOB), and the schema and other rows are intact.
#[test]
fn sql_looking_ids_and_payloads_round_trip() {
    let dir = temp_dir();
    let path = path_in(&dir, "sql.db");
    let mut rpc = Rpc::spawn(&path, OWNER);
    rpc.ok("getReceiptConfig", json!({}));
    let schema = tables(&path);

    let payload: Value = NASTY
        .iter()
        .map(|s| (s.to_string(), json!(s)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    // A group per nasty ID, with every nasty ID as a member.
    let mut members: Vec<Value> = NASTY.iter().map(|u| json!({"userID": u})).collect();
    members.push(json!({"userID": OWNER}));
    for g in NASTY {
        rpc.ok(
            "setGroup",
            json!({"groupID": g, "groupType": "Work", "members": members}),
        );
    }
    // In messages from every nasty peer, with nasty IDs and payloads.
    for (i, peer) in NASTY.iter().enumerate() {
        let msgs: Vec<Value> = (0..2)
            .map(|k| {
                json!({"ID": format!("{peer}#{k}"), "conversationType": "C2C", "from": peer,
                       // Sequences from 1: sequence 0 is at the read position 0, never unread.
                       "to": OWNER, "time": i, "sequence": k + 1, "needReadReceipt": true,
                       "payload": payload})
            })
            .collect();
        rpc.ok("saveMessages", json!({ "messages": msgs }));
    }
    for (i, peer) in NASTY.iter().enumerate() {
        let conv = format!("C2C{peer}");
        let id = format!("{peer}#0");
        let m = rpc.ok("findMessage", json!({ "messageID": id }));
        assert_eq!(m["ID"], json!(id));
        assert_eq!(m["from"], json!(peer));
        assert_eq!(m["conversationID"], json!(conv));
        assert_eq!(m["payload"], payload);
        // Only this conversation's two messages, whatever the wildcards.
        let list = rpc.ok(
            "getMessageList",
            json!({"conversationID": conv, "count": 100}),
        );
        let ids: Vec<&str> = list["messageList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["ID"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            vec![format!("{peer}#0"), format!("{peer}#1")],
            "{conv}"
        );
        let c = rpc.ok("getConversation", json!({ "conversationID": conv }));
        assert_eq!(c["unreadCount"], 2, "{conv}");
        // Receipts: queue, hand out, check the batch.
        let q = rpc.ok(
            "sendMessageReadReceipt",
            json!({"messageIDs": [format!("{peer}#0"), format!("{peer}#1")]}),
        );
        assert_eq!(q["queued"].as_array().unwrap().len(), 2, "{conv}");
        if i % 2 == 0 {
            rpc.ok("setMessageRead", json!({ "conversationID": conv }));
        }
    }
    let batches = rpc.ok("getPendingReceipts", json!({"limit": 100}));
    let batches = batches["batches"].as_array().unwrap();
    assert_eq!(batches.len(), NASTY.len());
    for b in batches {
        let conv = b["conversationID"].as_str().unwrap();
        let peer = conv.strip_prefix("C2C").unwrap();
        assert!(NASTY.contains(&peer), "{conv}");
        assert_eq!(
            b["messageIDs"],
            json!([format!("{peer}#0"), format!("{peer}#1")])
        );
    }
    // Ack half, rejecting one message with a nasty ID.
    for b in batches.iter().step_by(2) {
        let rej = b["messageIDs"][0].clone();
        let a = rpc.ok(
            "ackReceipts",
            json!({"batchID": b["batchID"], "rejected": [{"messageID": rej, "code": 1}]}),
        );
        assert_eq!(a["acked"], true);
    }
    // Out group messages; nasty readers arrive; member lists are exact.
    for g in NASTY {
        let m = rpc.ok(
            "createMessage",
            json!({"to": g, "conversationType": "GROUP", "payload": payload,
                   "needReadReceipt": true}),
        );
        let id = m["ID"].as_str().unwrap().to_string();
        assert_eq!(m["conversationID"], json!(format!("GROUP{g}")));
        rpc.ok(
            "markMessageSent",
            json!({"ID": id, "sequence": 1, "time": 1}),
        );
        let readers: Vec<&str> = NASTY.iter().step_by(2).copied().collect();
        rpc.ok(
            "applyReceiptNotifications",
            json!({"notifications": [{"messageID": id, "groupID": g, "readerIDs": readers}]}),
        );
        let mut want_read: Vec<String> = readers.iter().map(|s| s.to_string()).collect();
        want_read.sort();
        let mut want_unread: Vec<String> = NASTY
            .iter()
            .skip(1)
            .step_by(2)
            .map(|s| s.to_string())
            .collect();
        want_unread.sort();
        for (filter, want, key) in [
            (0, &want_read, "readUserIDList"),
            (1, &want_unread, "unreadUserIDList"),
        ] {
            let page = rpc.ok(
                "getGroupMessageReadMemberList",
                json!({"messageID": id, "filter": filter, "cursor": "", "count": 100}),
            );
            assert_eq!(page[key], json!(want), "group {g:?} filter {filter}");
        }
        let info = rpc.ok("getMessageReadReceiptList", json!({"messageIDs": [id]}));
        let info = &info["messageList"][0]["readReceiptInfo"];
        assert_eq!(info["readCount"], want_read.len());
        assert_eq!(info["unreadCount"], want_unread.len());
    }
    // Snapshots with nasty selfRead IDs and conversation IDs.
    for peer in NASTY {
        rpc.ok(
            "applySnapshot",
            json!({"conversationID": format!("C2C{peer}"), "selfRead": [format!("{peer}#1")]}),
        );
    }
    assert!(rpc.close().success());

    assert_eq!(tables(&path), schema, "the schema is intact");
    let s = Store::open(&path, OWNER).unwrap();
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
    for peer in NASTY {
        for k in 0..2 {
            let m = s.find_message(&format!("{peer}#{k}")).unwrap().unwrap();
            assert_eq!(m.payload, payload);
        }
    }
    // Nothing matched a wildcard: unknown IDs stay unknown.
    for probe in ["%#0", "_#0", "*#0", "' OR '1'='1' --"] {
        if !NASTY.iter().any(|p| format!("{p}#0") == probe) {
            assert!(s.find_message(probe).unwrap().is_none(), "{probe}");
        }
    }
}

/// Runs `receiptdb ARGS` in `cwd`; returns stdout + stderr and the status.
fn run_in(cwd: &Path, args: &[&str]) -> (String, Option<i32>) {
    let out = Command::new(common::receiptdb_bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        out.status.code(),
    )
}

/// Errors name no more of a path than the user gave: with relative paths
/// (missing directory, a directory, a corrupt file, another owner), no
/// message of `receiptdb rpc` or `receiptdb check` contains the absolute
/// directory the paths resolve in.
#[test]
fn errors_do_not_reveal_absolute_paths() {
    let dir = temp_dir();
    let root = dir.path();
    let canon = root.canonicalize().unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/junk.db"), common::random_bytes(5000, 3)).unwrap();
    {
        Store::open(root.join("sub/owned.db"), OWNER).unwrap();
    }
    let cases: &[&[&str]] = &[
        &["rpc", "--db", "missing/dir/x.db", "--user", OWNER],
        &["rpc", "--db", "sub", "--user", OWNER],
        &["rpc", "--db", "sub/junk.db", "--user", OWNER],
        &["rpc", "--db", "sub/owned.db", "--user", "mallory"],
        &["rpc", "--db", "sub/owned.db", "--user", ""],
        &["check", "--db", "missing/dir/x.db"],
        &["check", "--db", "sub"],
        &["check", "--db", "sub/junk.db"],
        &["check", "--db", "sub/owned.db", "--user", "mallory"],
    ];
    for args in cases {
        let (text, code) = run_in(root, args);
        assert_ne!(code, Some(0), "{args:?} should fail: {text}");
        for abs in [root.to_string_lossy(), canon.to_string_lossy()] {
            assert!(
                !text.contains(abs.as_ref()),
                "{args:?}: the message reveals {abs}: {text}"
            );
        }
        if args[0] == "rpc" {
            let line = text.lines().next().unwrap_or("");
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("{args:?}: one JSON error line: {text}"));
            assert!(v["error"]["code"].is_i64(), "{args:?}: {v}");
            assert_eq!(code, Some(2), "{args:?}");
        }
    }
    // The user's own relative path may appear; nothing more.
    let (text, _) = run_in(root, &["check", "--db", "sub/junk.db"]);
    assert!(!text.contains(&*root.to_string_lossy()), "{text}");
}

/// A refused open (another owner, a newer schema) writes nothing at all:
/// no -wal or -shm file appears beside the store.
#[test]
fn refused_open_creates_no_sidecar_files() {
    let dir = temp_dir();
    let path = path_in(&dir, "owned.db");
    {
        Store::open(&path, OWNER).unwrap();
    }
    let listing = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(listing(), vec!["owned.db".to_string()]);
    assert!(matches!(
        Store::open(&path, "mallory"),
        Err(Error::OwnerMismatch)
    ));
    assert_eq!(
        listing(),
        vec!["owned.db".to_string()],
        "after OWNER_MISMATCH"
    );
    common::set_user_version(&path, 99);
    let before = file_bytes(&path);
    assert!(matches!(
        Store::open(&path, OWNER),
        Err(Error::SchemaTooNew { .. })
    ));
    assert_file_unchanged(&path, &before, "SCHEMA_TOO_NEW");
    assert_eq!(
        listing(),
        vec!["owned.db".to_string()],
        "after SCHEMA_TOO_NEW"
    );
}
