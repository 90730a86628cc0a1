//! The store writes only to the file at its path (README.md, Guarantees): a file moved,
//! deleted or replaced under an open store gives `STORE_MOVED` and the file
//! now at the path is left as it is; a path is a file name, never a URI;
//! pre-created files become private; a file or folder that cannot be
//! written opens read-only (`READ_ONLY`), and a missing folder says so.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    assert_file_unchanged, file_bytes, mode_of, path_in, rpc_command, temp_dir, Rpc, OWNER,
};
use receiptdb::{ConversationType, Error, IncomingMessage, MessageStatus, Store};
use serde_json::{json, Value};

fn msg(id: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: "bob".into(),
        to: OWNER.into(),
        time: 1000 + seq,
        sequence: seq,
        status: Some(MessageStatus::Success),
        need_read_receipt: true,
        ..Default::default()
    }
}

fn msg_json(id: &str, seq: i64) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": "bob", "to": OWNER,
           "time": 1000 + seq, "sequence": seq, "needReadReceipt": true, "payload": {}})
}

fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

/// A closed store of `user` at `path` holding the messages `ids`.
fn make_store(path: &Path, user: &str, ids: &[&str]) {
    let s = Store::open(path, user).expect("open");
    let msgs: Vec<IncomingMessage> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| IncomingMessage {
            to: user.into(),
            ..msg(id, i as i64 + 1)
        })
        .collect();
    s.save_messages(&msgs).expect("save");
    drop(s);
    assert!(
        !sidecar(path, "-wal").exists(),
        "a closed store leaves no -wal"
    );
}

fn holds(path: &Path, user: &str, id: &str) -> bool {
    let s = Store::open(path, user).expect("reopen");
    assert_eq!(s.integrity_check().expect("integrity"), vec!["ok"]);
    s.find_message(id).expect("find").is_some()
}

#[test]
fn a_file_renamed_over_the_open_store_is_store_moved_and_left_untouched() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let restored = path_in(&dir, "restored.db");
    make_store(&restored, OWNER, &["r1", "r2"]);
    let mut rpc = Rpc::spawn(&path, OWNER);
    rpc.ok("saveMessages", json!({"messages": [msg_json("a1", 1)]}));
    // A backup restore renames a closed store over the path.
    let before = file_bytes(&restored);
    std::fs::rename(&restored, &path).expect("rename over");
    for k in 0..2 {
        rpc.err(
            "saveMessages",
            json!({"messages": [msg_json(&format!("late{k}"), 10 + k)]}),
            2010,
            "STORE_MOVED",
        );
    }
    // Reads still answer, from the file the store has open.
    let m = rpc.ok("findMessage", json!({"messageID": "a1"}));
    assert_eq!(m["ID"], "a1", "{m}");
    assert!(rpc.close().success());
    assert_file_unchanged(&path, &before, "the restored file after STORE_MOVED");
    assert!(holds(&path, OWNER, "r1"), "the restored store's data");
    assert!(!holds(&path, OWNER, "a1"), "none of the old store's data");
    assert!(!holds(&path, OWNER, "late1"), "no refused write");
}

#[test]
fn a_file_moved_away_keeps_every_acknowledged_write() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let away = path_in(&dir, "away.db");
    let s = Store::open(&path, OWNER).expect("open");
    s.save_messages(&[msg("m1", 1)]).expect("save m1");
    s.save_messages(&[msg("m2", 2)]).expect("save m2");
    std::fs::rename(&path, &away).expect("mv away");
    for id in ["m3", "m4"] {
        match s.save_messages(&[msg(id, 3)]) {
            Err(Error::StoreMoved) => {}
            other => panic!("a write after the move: {other:?}"),
        }
    }
    assert_eq!(
        s.find_message("m2").expect("read").map(|m| m.id),
        Some("m2".into())
    );
    drop(s);
    assert!(!path.exists(), "no file is made at the old path");
    // The acknowledged commits went into the moved file, not the old -wal.
    assert!(holds(&away, OWNER, "m1"));
    assert!(holds(&away, OWNER, "m2"));
    assert!(!holds(&away, OWNER, "m3"));
}

#[test]
fn a_deleted_file_is_store_moved_and_not_recreated() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let s = Store::open(&path, OWNER).expect("open");
    s.save_messages(&[msg("m1", 1)]).expect("save");
    std::fs::remove_file(&path).expect("delete");
    assert!(matches!(
        s.save_messages(&[msg("m2", 2)]),
        Err(Error::StoreMoved)
    ));
    assert_eq!(
        s.save_messages(&[msg("m3", 3)]).map_err(|e| e.name()),
        Err("STORE_MOVED")
    );
    drop(s);
    assert!(!path.exists(), "the deleted store is not recreated");
}

#[test]
fn a_path_starting_with_file_colon_is_a_file_name() {
    let dir = temp_dir();
    let target = path_in(&dir, "target.db");
    make_store(&target, "bob", &["b1"]);
    let before = file_bytes(&target);
    let literal = path_in(&dir, "file:target.db");
    make_store(&literal, OWNER, &["a0"]);
    // Alice opens `file:target.db` relative to the folder.
    let mut cmd = rpc_command(Path::new("file:target.db"), OWNER);
    cmd.current_dir(dir.path());
    let mut rpc = Rpc::spawn_command(cmd, &literal);
    let m = rpc.ok("findMessage", json!({"messageID": "a0"}));
    assert_eq!(m["ID"], "a0", "alice's own file is the one opened: {m}");
    let none = rpc.ok("findMessage", json!({"messageID": "b1"}));
    assert_eq!(none, Value::Null, "bob's messages are not visible");
    rpc.ok("saveMessages", json!({"messages": [msg_json("a1", 2)]}));
    assert!(rpc.close().success());
    assert_file_unchanged(&target, &before, "bob's target.db");
    assert!(holds(&literal, OWNER, "a1"));

    // And a new store at such a path is created under that literal name.
    let fresh = tempfile::tempdir().expect("dir");
    let mut cmd = rpc_command(Path::new("file:new.db?mode=memory"), OWNER);
    cmd.current_dir(fresh.path());
    let mut rpc = Rpc::spawn_command(cmd, &fresh.path().join("file:new.db?mode=memory"));
    rpc.ok("saveMessages", json!({"messages": [msg_json("a1", 1)]}));
    assert!(rpc.close().success());
    let made = fresh.path().join("file:new.db?mode=memory");
    assert!(made.is_file(), "the literal file exists");
    assert!(holds(&made, OWNER, "a1"));
}

#[test]
fn a_pre_created_world_readable_file_becomes_private() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    std::fs::write(&path, b"").expect("touch");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let s = Store::open(&path, OWNER).expect("open");
    s.save_messages(&[msg("m1", 1)]).expect("save");
    for p in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
        assert_eq!(mode_of(&p), 0o600, "{}", p.display());
    }
}

/// Runs the command as `nobody` when the tests run as root (root writes
/// through any mode bits), else as it is.
fn unprivileged(cmd: Command, bin: &Path) -> Command {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc_getuid() } != 0 {
        return cmd;
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    c.arg(bin).args(cmd.get_args());
    c
}

/// A copy of the `receiptdb` binary that `nobody` can run wherever the
/// checkout lives (a clone under /root is not reachable for other users),
/// in a folder removed when the returned guard drops.
fn shared_binary() -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    chmod(dir.path(), 0o755);
    let bin = dir.path().join("receiptdb");
    std::fs::copy(common::receiptdb_bin(), &bin).expect("copy the binary");
    chmod(&bin, 0o755);
    (dir, bin)
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

/// Hands the folder and its files to the unprivileged user.
fn give_away(dir: &Path) {
    if unsafe { libc_getuid() } != 0 {
        return;
    }
    std::os::unix::fs::chown(dir, Some(65534), Some(65534)).expect("chown dir");
    for e in std::fs::read_dir(dir).expect("ls") {
        let p = e.expect("entry").path();
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown");
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Reads answer, every write is `READ_ONLY`, nothing on disk changes.
fn assert_read_only(dir: &Path, path: &Path) {
    let (_bin_dir, bin) = shared_binary();
    let before = file_bytes(path);
    let listing = || {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        v.sort();
        v
    };
    let files = listing();
    let mut rpc = Rpc::spawn_command(unprivileged(rpc_command(path, OWNER), &bin), path);
    let m = rpc.ok("findMessage", json!({"messageID": "m1"}));
    assert_eq!(m["ID"], "m1", "reads answer: {m}");
    rpc.ok("getConversation", json!({"conversationID": "C2Cbob"}));
    let e = rpc.err(
        "saveMessages",
        json!({"messages": [msg_json("m9", 9)]}),
        2011,
        "READ_ONLY",
    );
    assert!(e["message"].is_string(), "{e}");
    rpc.err(
        "setMessageRead",
        json!({"conversationID": "C2Cbob"}),
        2011,
        "READ_ONLY",
    );
    assert!(rpc.close().success());
    assert_file_unchanged(path, &before, "a read-only store");
    assert_eq!(listing(), files, "no file created beside it");
}

#[test]
fn a_read_only_file_opens_read_only() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    make_store(&path, OWNER, &["m1"]);
    give_away(dir.path());
    chmod(&path, 0o400);
    assert_read_only(dir.path(), &path);
}

#[test]
fn a_store_in_a_read_only_folder_opens_read_only() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    make_store(&path, OWNER, &["m1"]);
    give_away(dir.path());
    chmod(dir.path(), 0o555);
    assert_read_only(dir.path(), &path);
    chmod(dir.path(), 0o755);
}

/// The rpc's one open-failure line and exit status.
fn open_failure(cmd: Command) -> (Value, Option<i32>) {
    let mut cmd = cmd;
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rpc");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(v["id"], Value::Null, "{v}");
    (v["error"].clone(), out.status.code())
}

#[test]
fn a_read_only_store_that_needs_an_upgrade_or_creation_is_read_only() {
    let (_bin_dir, bin) = shared_binary();
    let dir = temp_dir();
    let v1 = path_in(&dir, "v1.db");
    std::fs::copy("tests/fixtures/v1.db", &v1).expect("copy fixture");
    give_away(dir.path());
    chmod(&v1, 0o400);
    let before = file_bytes(&v1);
    let (e, code) = open_failure(unprivileged(rpc_command(&v1, OWNER), &bin));
    assert_eq!(
        (e["code"].clone(), e["data"]["name"].clone()),
        (json!(2011), json!("READ_ONLY")),
        "{e}"
    );
    assert!(
        e["message"].as_str().unwrap_or("").contains("upgrade"),
        "{e}"
    );
    assert_eq!(code, Some(2));
    assert_file_unchanged(&v1, &before, "the v1 fixture");

    chmod(dir.path(), 0o555);
    let (e, _) = open_failure(unprivileged(
        rpc_command(&path_in(&dir, "new.db"), OWNER),
        &bin,
    ));
    assert_eq!(e["data"]["name"], "READ_ONLY", "{e}");
    assert!(!path_in(&dir, "new.db").exists());
    chmod(dir.path(), 0o755);
}

#[test]
fn a_missing_folder_says_so() {
    let dir = temp_dir();
    let path = dir.path().join("no-such-folder").join("store.db");
    match Store::open(&path, OWNER) {
        Err(Error::Io(m, _)) => assert!(m.contains("folder does not exist"), "{m}"),
        other => panic!("open in a missing folder: {:?}", other.map(|_| ())),
    }
    let (e, code) = open_failure(rpc_command(&path, OWNER));
    assert_eq!(e["data"]["name"], "IO_ERROR", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("folder does not exist"),
        "{e}"
    );
    assert_eq!(code, Some(2));
}
