//! Helpers shared by the integration tests: temp stores, a logical dump of a
//! store file (for "a failed call changes nothing"), deterministic random
//! bytes, and a driver for `receiptdb rpc` over pipes.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

mod bin;
pub use bin::receiptdb_bin;

/// The user every test store belongs to.
pub const OWNER: &str = "alice";

/// How long the driver waits for a line before declaring the server hung.
/// A guard against hangs only; no test asserts anything about time.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A fresh temporary directory (removed on drop).
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("receiptdb-test")
        .tempdir()
        .expect("create temp dir")
}

/// `dir/name`.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// The file's bytes.
pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

/// `n` pseudo-random bytes from a fixed seed (xorshift64*), so failures replay.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Creates an SQLite file that belongs to some other application.
pub fn write_foreign_sqlite(path: &Path) {
    let c = Connection::open(path).expect("open foreign db");
    c.execute_batch(
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO notes(body) VALUES ('shopping list'), ('not a receipt store');",
    )
    .expect("fill foreign db");
}

/// Sets `PRAGMA user_version` of a closed store file.
pub fn set_user_version(path: &Path, v: i64) {
    let c = Connection::open(path).expect("open store with rusqlite");
    c.pragma_update(None, "user_version", v)
        .expect("bump user_version");
}

/// A logical dump of every table (and the header pragmas) of a store file,
/// read through a separate read-only connection. Two equal dumps mean the
/// data did not change; usable while the store (or an rpc server) is open.
pub fn dump_db(path: &Path) -> Vec<String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open store read-only for dump");
    let mut out = Vec::new();
    for p in ["user_version", "application_id"] {
        let v: i64 = c
            .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .unwrap();
        out.push(format!("{p}={v}"));
    }
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let mut rows: Vec<String> = st
            .query_map([], |r| {
                let mut s = format!("{t}:");
                for i in 0..n {
                    let v = match r.get_ref(i)? {
                        ValueRef::Null => "NULL".to_string(),
                        ValueRef::Integer(i) => i.to_string(),
                        ValueRef::Real(f) => f.to_string(),
                        ValueRef::Text(b) => format!("{:?}", String::from_utf8_lossy(b)),
                        ValueRef::Blob(b) => format!("blob{b:?}"),
                    };
                    s.push_str(&v);
                    s.push('|');
                }
                Ok(s)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.push(format!("table {t}: {} rows", rows.len()));
        out.extend(rows);
    }
    out
}

/// The file mode bits (permissions) of a path.
#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Checks a list is strictly ascending (so sorted and without duplicates).
pub fn assert_strictly_ascending(list: &[String], what: &str) {
    for w in list.windows(2) {
        assert!(
            w[0] < w[1],
            "{what}: {:?} then {:?} is not strictly ascending",
            w[0],
            w[1]
        );
    }
}

/// Checks the result of paging a member list while it changed:
/// `pages` concatenated are strictly ascending (sorted, no one twice), every
/// user in `whole_time` (in the list for the whole paging) appears, and every
/// user returned was in `ever` (in the list at some time during the paging).
pub fn check_paged_list(
    pages: &[Vec<String>],
    whole_time: &BTreeSet<String>,
    ever: &BTreeSet<String>,
    what: &str,
) {
    for (i, p) in pages.iter().enumerate() {
        assert!(p.len() <= 100, "{what}: page {i} has {} > 100", p.len());
        assert_strictly_ascending(p, &format!("{what} page {i}"));
    }
    let all: Vec<String> = pages.concat();
    assert_strictly_ascending(&all, &format!("{what} (all pages)"));
    let got: BTreeSet<String> = all.iter().cloned().collect();
    let skipped: Vec<_> = whole_time.difference(&got).collect();
    assert!(
        skipped.is_empty(),
        "{what}: skipped users that were listed for the whole paging: {skipped:?}"
    );
    let stray: Vec<_> = got.difference(ever).collect();
    assert!(
        stray.is_empty(),
        "{what}: returned users never in the list: {stray:?}"
    );
}

/// The owner's message `id` to group `group`, needing receipts, as the
/// server hands it back (an `out` group message).
pub fn owner_group_msg(
    id: &str,
    group: &str,
    time: i64,
    sequence: i64,
) -> receiptdb::IncomingMessage {
    receiptdb::IncomingMessage {
        id: id.into(),
        conversation_type: Some(receiptdb::ConversationType::Group),
        from: OWNER.into(),
        to: group.into(),
        time,
        sequence,
        need_read_receipt: true,
        ..Default::default()
    }
}

/// `u000`..`u{n-1}`: sortable member IDs.
pub fn user_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("u{i:03}")).collect()
}

// ---------------------------------------------------------------------------
// `receiptdb rpc` driver
// ---------------------------------------------------------------------------

/// What one request produced: the notifications written before its
/// response, and the response.
#[derive(Debug)]
pub struct Reply {
    /// Notification lines (no `id`) written before the response.
    pub events: Vec<Value>,
    /// The response object.
    pub response: Value,
}

impl Reply {
    /// Only the `MESSAGE_READ_RECEIPT_RECEIVED` notifications.
    pub fn receipt_events(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["method"] == "MESSAGE_READ_RECEIPT_RECEIVED")
            .collect()
    }

    /// All items of all `MESSAGE_READ_RECEIPT_RECEIVED` notifications.
    pub fn receipt_items(&self) -> Vec<Value> {
        self.receipt_events()
            .iter()
            .flat_map(|e| {
                e["params"]["data"]
                    .as_array()
                    .expect("params.data is an array")
                    .clone()
            })
            .collect()
    }
}

/// A running `receiptdb rpc --db PATH --user USER`.
pub struct Rpc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
    /// The store file.
    pub path: PathBuf,
}

/// The command for `receiptdb rpc` on `path` for `user`.
pub fn rpc_command(path: &Path, user: &str) -> Command {
    let mut c = Command::new(receiptdb_bin());
    c.arg("rpc").arg("--db").arg(path).arg("--user").arg(user);
    c
}

/// Runs `receiptdb rpc` expecting the store not to open: returns its stdout
/// lines and exit status (stdin is closed from the start).
pub fn rpc_open_failure(path: &Path, user: &str) -> (Vec<String>, ExitStatus) {
    let out = rpc_command(path, user)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run receiptdb rpc");
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let lines = text.lines().map(str::to_string).collect();
    (lines, out.status)
}

/// Checks an open failure: one response line, `id: null`, the error's code
/// and name, exit status 2.
pub fn assert_open_failure(path: &Path, user: &str, code: i64, name: &str) {
    let (lines, status) = rpc_open_failure(path, user);
    assert_eq!(
        lines.len(),
        1,
        "exactly one line on an open error: {lines:?}"
    );
    let v: Value = serde_json::from_str(&lines[0]).expect("the line is JSON");
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert!(v.get("id").is_some(), "the response has an id member: {v}");
    assert_eq!(v["id"], Value::Null, "{v}");
    assert!(v.get("result").is_none(), "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["error"]["data"]["name"], name, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert_eq!(status.code(), Some(2), "exit status on an open error");
}

impl Rpc {
    /// Starts the server.
    pub fn spawn(path: &Path, user: &str) -> Rpc {
        Rpc::spawn_command(rpc_command(path, user), path)
    }

    /// Starts the server from a prepared command (another working folder,
    /// another user) for the store at `path`.
    pub fn spawn_command(mut command: Command, path: &Path) -> Rpc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn receiptdb rpc");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Rpc {
            child,
            stdin,
            lines: rx,
            next_id: 1,
            path: path.to_path_buf(),
        }
    }

    fn next_line(&self) -> Option<String> {
        match self.lines.recv_timeout(HANG_GUARD) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("receiptdb rpc wrote nothing (hung?)"),
        }
    }

    /// Writes raw bytes to the server's input without reading anything.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write request");
        stdin.flush().expect("flush");
    }

    /// Reads up to (and including) the next response line.
    pub fn read_reply(&mut self) -> Reply {
        let mut events = Vec::new();
        loop {
            let l = self
                .next_line()
                .expect("server closed stdout before responding");
            let v: Value = serde_json::from_str(&l)
                .unwrap_or_else(|e| panic!("server wrote a non-JSON line {l:?}: {e}"));
            assert_eq!(v["jsonrpc"], "2.0", "every line is JSON-RPC 2.0: {l}");
            if v.get("id").is_some() {
                return Reply {
                    events,
                    response: v,
                };
            }
            assert!(
                v["method"].is_string(),
                "a line without id is a notification: {l}"
            );
            events.push(v);
        }
    }

    /// Writes one raw line and reads up to (and including) the next response.
    pub fn send_line(&mut self, line: &str) -> Reply {
        self.write_raw(format!("{line}\n").as_bytes());
        self.read_reply()
    }

    /// Sends a request (with a fresh numeric id) and returns what it produced.
    pub fn call(&mut self, method: &str, params: Value) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = self.send_line(&req.to_string());
        assert_eq!(r.response["id"], id, "response id matches: {}", r.response);
        r
    }

    /// Calls and expects success; returns `result`.
    pub fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params.clone());
        assert!(
            r.response.get("error").is_none(),
            "{method} {params} failed: {}",
            r.response
        );
        r.response["result"].clone()
    }

    /// Calls and expects the error `code`/`name`, with no event before it;
    /// returns the error object.
    pub fn err(&mut self, method: &str, params: Value, code: i64, name: &str) -> Value {
        let r = self.call(method, params.clone());
        assert_error(&r, code, name, &format!("{method} {params}"));
        r.response["error"].clone()
    }

    /// Calls and expects an error, and checks that the store file did not
    /// change (a logical dump of every table before and after).
    pub fn err_unchanged(&mut self, method: &str, params: Value, code: i64, name: &str) -> Value {
        let before = dump_db(&self.path);
        let e = self.err(method, params.clone(), code, name);
        let after = dump_db(&self.path);
        assert_eq!(
            before, after,
            "failed call {method} {params} changed the store"
        );
        e
    }

    /// Kills the server with SIGKILL (a crash) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill receiptdb rpc");
        let _ = self.child.wait();
    }

    /// Closes stdin and waits for the server to exit; returns its status.
    pub fn close(mut self) -> ExitStatus {
        drop(self.stdin.take());
        let extra: Vec<String> = std::iter::from_fn(|| self.next_line()).collect();
        assert!(extra.is_empty(), "unexpected lines at close: {extra:?}");
        self.child.wait().expect("wait for receiptdb rpc")
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            // Input is closed; the server ends on its own. Reap it.
            let _ = self.child.wait();
        }
    }
}

/// Checks a reply is the error `code`/`name` and that no event came before it.
pub fn assert_error(r: &Reply, code: i64, name: &str, what: &str) {
    let e = &r.response["error"];
    assert!(
        r.response.get("result").is_none(),
        "{what}: expected error {name}, got {}",
        r.response
    );
    assert_eq!(e["code"], code, "{what}: {}", r.response);
    assert_eq!(e["data"]["name"], name, "{what}: {}", r.response);
    assert!(e["message"].is_string(), "{what}: {}", r.response);
    assert!(
        r.events.is_empty(),
        "{what}: a failed call emitted events: {:?}",
        r.events
    );
}

// ---------------------------------------------------------------------------
// Member-list paging while readers arrive (PROTOCOL.md, Methods)
// ---------------------------------------------------------------------------

/// What the paging scenario needs from a store (the Rust API or rpc).
pub trait MemberListDriver {
    /// One page of the list (`read`: filter 0, else filter 1) after `cursor`,
    /// 100 at a time: `(users, next cursor, isCompleted)`.
    fn page(&mut self, read: bool, cursor: &str) -> (Vec<String>, String, bool);
    /// The server says `users` read the message.
    fn read_by(&mut self, users: &[String]);
}

/// Pages the read (`read`) or unread list 100 at a time, letting readers
/// arrive between pages (below the last user returned, the last user
/// itself, just above it, and at the end), and checks the paging rules of PROTOCOL.md, Methods
/// promises. `readers` is the set of readers at the start and `audience`
/// the message's audience; returns the readers at the end.
pub fn page_while_readers_arrive(
    d: &mut dyn MemberListDriver,
    read: bool,
    readers: &BTreeSet<String>,
    audience: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut readers = readers.clone();
    let start_readers = readers.clone();
    let unread_at =
        |r: &BTreeSet<String>| -> BTreeSet<String> { audience.difference(r).cloned().collect() };
    let start_unread = unread_at(&readers);
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut cursor = String::new();
    let mut arrivals_below = 0;
    let mut arrivals_above = 0;
    loop {
        assert!(pages.len() < 10, "paging does not end");
        let (users, next, done) = d.page(read, &cursor);
        assert!(
            users.len() == 100 || done,
            "a page short of 100 must be the last"
        );
        if done {
            assert_eq!(next, "", "a completed page has an empty cursor");
            pages.push(users);
            break;
        }
        assert!(!next.is_empty(), "an incomplete page hands out a cursor");
        let last = users
            .last()
            .expect("an incomplete page is not empty")
            .clone();
        pages.push(users);
        // Readers arrive between pages.
        let unread: Vec<String> = unread_at(&readers).into_iter().collect();
        let mut arriving: Vec<String> = Vec::new();
        if let Some(low) = unread.iter().find(|u| **u < last) {
            arriving.push(low.clone());
            arrivals_below += 1;
        }
        arriving.push(last.clone()); // may already be a reader: then a no-op
        if let Some(high) = unread.iter().find(|u| **u > last) {
            arriving.push(high.clone());
            arrivals_above += 1;
        }
        if let Some(top) = unread.last() {
            if *top > last {
                arriving.push(top.clone());
            }
        }
        arriving.sort();
        arriving.dedup();
        d.read_by(&arriving);
        readers.extend(arriving);
        cursor = next;
    }
    assert!(pages.len() >= 3, "the scenario pages at least 3 times");
    assert!(
        arrivals_below > 0 && arrivals_above > 0,
        "readers arrived on both sides of the cursor"
    );
    let end_unread = unread_at(&readers);
    let what = if read { "read list" } else { "unread list" };
    if read {
        // Readers only grow: everyone who read at the start was a reader throughout.
        check_paged_list(&pages, &start_readers, &readers, what);
    } else {
        // Unread only shrinks: everyone unread at the end was unread throughout.
        check_paged_list(&pages, &end_unread, &start_unread, what);
    }
    // With nothing arriving, paging returns exactly the list.
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (users, next, done) = d.page(read, &cursor);
        all.extend(users);
        if done {
            break;
        }
        cursor = next;
    }
    let expect: Vec<String> = if read {
        readers.iter().cloned().collect()
    } else {
        end_unread.iter().cloned().collect()
    };
    assert_eq!(all, expect, "{what} paged with no arrivals");
    readers
}

/// Checks a file still holds exactly `before` (reports the first difference
/// instead of dumping the bytes).
pub fn assert_file_unchanged(path: &Path, before: &[u8], what: &str) {
    let now = file_bytes(path);
    if now != before {
        let at = now
            .iter()
            .zip(before)
            .position(|(a, b)| a != b)
            .unwrap_or(now.len().min(before.len()));
        panic!(
            "{what}: {} changed ({} bytes before, {} now, first difference at byte {at})",
            path.display(),
            before.len(),
            now.len()
        );
    }
}

/// splitmix64: a tiny seeded PRNG, so every seeded test replays exactly.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform index in `0..n` (0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.index(v.len())]
    }
}

/// How many columns schema 4 appended to a table (at their defaults on an
/// upgraded store).
pub fn columns_added_since_v3(table: &str) -> usize {
    match table {
        "read_reports" => 2,
        "messages" => 2,
        "conversations" => 5,
        "readers" => 1,
        _ => 0,
    }
}

/// A `dump_db` row without its last `n` fields (each ends in `|`).
pub fn without_last_fields(row: &str, n: usize) -> String {
    let mut s = row.to_string();
    if !s.ends_with('|') {
        // A "table T: N rows" line.
        return s;
    }
    for _ in 0..n {
        s.pop();
        match s.rfind('|') {
            Some(i) => s.truncate(i + 1),
            None => s.truncate(s.find(':').map_or(0, |i| i + 1)),
        }
    }
    s
}

/// The passphrase of the suites that also run on encrypted stores (the
/// crash matrix and the power-loss suite): `scripts/test.sh` runs them a
/// second time with `RECEIPTDB_TEST_KEY` set. `None`: plain stores.
pub fn test_key() -> Option<String> {
    std::env::var("RECEIPTDB_TEST_KEY")
        .ok()
        .filter(|k| !k.is_empty())
}

/// `opts` with the test key, when there is one.
pub fn keyed(opts: receiptdb::OpenOptions) -> receiptdb::OpenOptions {
    match test_key() {
        Some(k) => opts.key(k),
        None => opts,
    }
}

/// `Store::open`, with the test key when there is one.
pub fn open_store(path: &Path, user: &str) -> receiptdb::Result<receiptdb::Store> {
    receiptdb::Store::open_with(path, user, keyed(receiptdb::OpenOptions::new()))
}

/// A raw connection to a store file, keyed with the test key when there is one.
pub fn raw_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(path, flags)?;
    if let Some(k) = test_key() {
        c.pragma_update(None, "key", k)?;
    }
    Ok(c)
}

/// Encrypts a plain store file (a committed fixture) with the test key,
/// when there is one.
pub fn encrypt_if_keyed(path: &Path, user: &str) {
    if let Some(k) = test_key() {
        receiptdb::change_key(path, user, None, Some(&k)).expect("encrypt the fixture");
    }
}
