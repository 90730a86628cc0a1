//! Creating a store where the app already made an empty file, and paths
//! that are not regular files.
//!
//! Two `receiptdb rpc` processes started together on a pre-created empty
//! file must end up on the same store: every write either acknowledged is
//! there after both exit. A FIFO, a directory or a device is refused and
//! left as it was; a symlink to an empty file is followed and stays a
//! symlink.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};

use common::{rpc_command, temp_dir, OWNER};
use receiptdb::{Error, Store};
use serde_json::{json, Value};

const TRIALS: usize = 40;
const WRITES: usize = 20;

fn spawn_writer(path: &Path, tag: &str) -> Child {
    let mut child = rpc_command(path, OWNER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn receiptdb rpc");
    let mut input = String::new();
    for i in 0..WRITES {
        let m = json!({"ID": format!("{tag}{i}"), "conversationType": "C2C", "from": "bob",
                       "to": OWNER, "time": i + 1, "sequence": i + 1});
        let req = json!({"jsonrpc": "2.0", "id": i, "method": "saveMessages",
                         "params": {"messages": [m]}});
        input.push_str(&req.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    // Written from a thread so a full pipe cannot stall the other process.
    std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    child
}

/// The IDs whose `saveMessages` the process acknowledged with `saved: 1`.
fn acknowledged(child: Child, tag: &str) -> Vec<String> {
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ids = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        if v["result"]["saved"] == 1 {
            ids.push(format!("{tag}{}", v["id"]));
        }
    }
    ids
}

/// Two processes open one pre-created empty file at once, many times:
/// after both exit, every acknowledged write is in the store at the path.
#[test]
fn two_processes_creating_on_an_empty_file_lose_nothing() {
    let dir = temp_dir();
    let mut acked_total = 0;
    for t in 0..TRIALS {
        let path = dir.path().join(format!("race{t}.db"));
        std::fs::File::create(&path).expect("touch");
        let a = spawn_writer(&path, "a");
        let b = spawn_writer(&path, "b");
        let mut acked = acknowledged(a, "a");
        acked.extend(acknowledged(b, "b"));
        acked_total += acked.len();
        let store = Store::open(&path, OWNER).expect("reopen");
        for id in &acked {
            assert!(
                store.find_message(id).expect("find").is_some(),
                "trial {t}: acknowledged write {id} lost"
            );
        }
        assert_eq!(store.integrity_check().unwrap(), vec!["ok".to_string()]);
    }
    // Both processes did work in every trial (else the test proves nothing).
    assert_eq!(acked_total, TRIALS * 2 * WRITES);
}

fn assert_refused_untouched(path: &Path, what: &str) {
    let before = std::fs::symlink_metadata(path).expect("exists");
    match Store::open(path, OWNER) {
        Err(Error::StoreCorrupt(m)) => assert!(m.contains(what), "{what}: {m}"),
        Err(e) => panic!("{what}: expected STORE_CORRUPT, got {} {e}", e.name()),
        Ok(_) => panic!("{what}: opened"),
    }
    let after = std::fs::symlink_metadata(path).expect("still exists");
    assert_eq!(
        before.file_type(),
        after.file_type(),
        "{what}: type changed"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(before.ino(), after.ino(), "{what}: replaced");
}

/// A FIFO is refused without blocking and left in place.
#[test]
fn fifo_is_refused_and_left_alone() {
    let dir = temp_dir();
    let path = dir.path().join("pipe.db");
    let st = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    assert_refused_untouched(&path, "FIFO");
    let (lines, status) = common::rpc_open_failure(&path, OWNER);
    assert_eq!(status.code(), Some(2), "{lines:?}");
    assert!(lines[0].contains("STORE_CORRUPT"), "{lines:?}");
}

/// A directory and a character device are refused and left in place.
#[test]
fn directory_and_device_are_refused() {
    let dir = temp_dir();
    let sub = dir.path().join("sub.db");
    std::fs::create_dir(&sub).unwrap();
    assert_refused_untouched(&sub, "directory");
    // A symlink to /dev/null: followed, and the device is refused.
    let dev = dir.path().join("null.db");
    std::os::unix::fs::symlink("/dev/null", &dev).unwrap();
    assert_refused_untouched(&dev, "device");
}

/// A symlink to an empty file: the store is made in the file it names and
/// the link stays a link.
#[test]
fn symlink_to_an_empty_file_is_followed() {
    let dir = temp_dir();
    let target = dir.path().join("real.db");
    std::fs::File::create(&target).unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    {
        let s = Store::open(&link, OWNER).expect("open through the link");
        s.save_messages(&[
            serde_json::from_value(json!({"ID": "m1", "conversationType": "C2C",
            "from": "bob", "to": OWNER, "time": 1, "sequence": 1}))
            .unwrap(),
        ])
        .unwrap();
    }
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let s = Store::open(&target, OWNER).expect("the target is the store");
    assert!(s.find_message("m1").unwrap().is_some());
    // A dangling symlink is refused, and nothing is created.
    let dangling = dir.path().join("dangling.db");
    std::os::unix::fs::symlink(dir.path().join("nowhere.db"), &dangling).unwrap();
    assert!(Store::open(&dangling, OWNER).is_err());
    assert!(!dir.path().join("nowhere.db").exists());
}

/// A header value that reaches an index: a negative or zero
/// `user_version` on a receiptdb file is STORE_CORRUPT, never a panic, the
/// file is left unchanged, and `receiptdb check` fails it too.
#[test]
fn bad_user_version_is_corrupt_not_a_panic() {
    let dir = temp_dir();
    for v in [-1i64, i64::from(i32::MIN), 0] {
        let path = dir.path().join(format!("v{v}.db"));
        drop(Store::open(&path, OWNER).unwrap());
        common::set_user_version(&path, v);
        let before = common::file_bytes(&path);
        match Store::open(&path, OWNER) {
            Err(Error::StoreCorrupt(_)) => {}
            Err(e) => panic!("version {v}: {} {e}", e.name()),
            Ok(_) => panic!("version {v}: opened"),
        }
        common::assert_open_failure(&path, OWNER, 2006, "STORE_CORRUPT");
        common::assert_file_unchanged(&path, &before, "refused open");
        let out = std::process::Command::new(common::receiptdb_bin())
            .args(["check", "--db"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "check passed version {v}");
    }
}

/// `receiptdb check` runs the same checks as opening: a file with the
/// right application ID and version but no tables fails it.
#[test]
fn check_fails_a_store_without_tables() {
    let dir = temp_dir();
    let path = dir.path().join("hollow.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "application_id", 0x5243_5054)
            .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    common::assert_open_failure(&path, OWNER, 2006, "STORE_CORRUPT");
    let out = std::process::Command::new(common::receiptdb_bin())
        .args(["check", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("STORE_CORRUPT"), "{text}");
}
