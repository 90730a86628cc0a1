//! Crash matrix: for every method that writes, a child
//! `receiptdb rpc` is killed with SIGKILL at seeded random moments while it
//! serves a pipelined stream of that method's requests. After each kill the
//! store is reopened with `Store::open` and checked:
//!
//! - the durable state is exactly the state after some prefix of the request
//!   stream (requests run one by one, each in one transaction) and that prefix
//!   covers every call whose success response was read (nothing confirmed is
//!   lost, nothing half-done is visible);
//! - `integrity_check()` is `["ok"]`;
//! - the outbox holds each pending ID once (batches have no duplicate IDs and
//!   list exactly the messages whose receipt is pending).
//!
//! 16 methods × 12 kill points = 192 kill points. `scripts/test.sh` runs
//! the suite a second time on encrypted stores (`RECEIPTDB_TEST_KEY`).

mod common;
use common::Rng;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use receiptdb::{
    ConversationType, GroupType, IncomingMessage, Member, MemberFilter, MessageStatus,
    ReceiptConfig, ReceiptSentState, Store,
};
use serde_json::{json, Value};

const OWNER: &str = "alice";
/// Kill points per method.
const KILLS: u64 = 12;
/// Guard against a hung child; no assertion is about time.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// What one killed run produced.
struct Run {
    /// The store file the child wrote (in `_dir`).
    path: PathBuf,
    _dir: tempfile::TempDir,
    /// Results of the calls answered with success, in request order
    /// (`results[i]` answers request `i`).
    results: Vec<Value>,
}

impl Run {
    /// How many calls returned success before the kill.
    fn confirmed(&self) -> usize {
        self.results.len()
    }
}

/// Copies a closed store (and its WAL, if any) to a fresh directory.
fn copy_store(template: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("receiptdb-crash")
        .tempdir()
        .expect("tempdir");
    let path = dir.path().join("store.db");
    std::fs::copy(template, &path).expect("copy template");
    for ext in ["-wal", "-shm"] {
        let mut from = template.as_os_str().to_owned();
        from.push(ext);
        if Path::new(&from).exists() {
            let mut to = path.as_os_str().to_owned();
            to.push(ext);
            std::fs::copy(&from, &to).expect("copy template sidecar");
        }
    }
    (dir, path)
}

/// Runs `receiptdb rpc` on a copy of `template`, writes every request at
/// once (ids 0..n), waits for a seeded number of responses plus a seeded
/// delay, then kills it with SIGKILL. Every response read must be a success.
fn kill_run(template: &Path, requests: &[(String, Value)], rng: &mut Rng) -> Run {
    let (dir, path) = copy_store(template);
    // Sometimes kill before the first response (while the store opens),
    // otherwise after a random number of responses, then a random delay.
    let wait_for = if rng.below(8) == 0 {
        0
    } else {
        1 + rng.below(requests.len() as u64 * 2 / 3) as usize
    };
    let delay = Duration::from_micros(rng.below(3_000));

    let mut child = rpc_child(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn receiptdb rpc");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");

    let (tx, rx) = mpsc::channel::<usize>();
    let reader = std::thread::spawn(move || {
        let mut results: Vec<Value> = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The kill may cut a line short: only whole JSON lines count.
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let Some(id) = v.get("id") else { continue }; // an event
            assert_eq!(
                id.as_u64(),
                Some(results.len() as u64),
                "responses come in request order: {line}"
            );
            assert!(
                v.get("error").is_none(),
                "request {} failed (the scenario only sends valid calls): {line}",
                results.len()
            );
            results.push(v["result"].clone());
            let _ = tx.send(results.len());
        }
        results
    });
    let lines: Vec<String> = requests
        .iter()
        .enumerate()
        .map(|(i, (m, p))| {
            json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}).to_string() + "\n"
        })
        .collect();
    let writer = std::thread::spawn(move || {
        for l in lines {
            if stdin.write_all(l.as_bytes()).is_err() {
                break;
            }
        }
        let _ = stdin.flush();
        // Keep stdin open until the kill: the child must not end on its own.
        std::thread::park_timeout(HANG_GUARD);
        drop(stdin);
    });
    let mut seen = 0;
    while seen < wait_for {
        match rx.recv_timeout(HANG_GUARD) {
            Ok(n) => seen = n,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("receiptdb rpc hung"),
            // The reader ended: every request was answered (or the child died).
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL receiptdb rpc");
    let status = child.wait().expect("reap");
    writer.thread().unpark();
    let _ = writer.join();
    let results = match reader.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    };
    assert!(
        status.code().is_none(),
        "the child must die of SIGKILL, not exit on its own ({status})"
    );
    Run {
        path,
        _dir: dir,
        results,
    }
}

/// `receiptdb rpc` on `path` (with the test key, through the environment,
/// when there is one).
fn rpc_child(path: &Path) -> Command {
    let mut c = Command::new(common::receiptdb_bin());
    c.arg("rpc").arg("--db").arg(path).args(["--user", OWNER]);
    if common::test_key().is_some() {
        c.args(["--key-env", "RECEIPTDB_TEST_KEY"]);
    }
    c
}

/// Opens a killed store and runs the checks common to all methods.
fn reopen(run: &Run, what: &str) -> Store {
    let store = common::open_store(&run.path, OWNER)
        .unwrap_or_else(|e| panic!("{what}: reopen after SIGKILL failed: {e}"));
    assert_eq!(
        store.integrity_check().expect("integrity_check"),
        vec!["ok".to_string()],
        "{what}: integrity check after SIGKILL"
    );
    let r = store.verify().expect("verify");
    assert!(
        r.is_ok(),
        "{what}: the deep check after SIGKILL: {:?}",
        r.mismatches
    );
    store
}

/// Checks the outbox holds each pending ID exactly once: the pending count,
/// the batches (no ID twice), and the messages in `candidates` whose
/// receipt is pending agree. Returns the batches.
fn check_outbox(store: &Store, candidates: &[String], what: &str) -> Vec<receiptdb::Batch> {
    let pending: BTreeSet<String> = candidates
        .iter()
        .filter(|id| {
            store
                .find_message(id)
                .expect("find")
                .and_then(|m| m.receipt_sent_state)
                == Some(ReceiptSentState::Pending)
        })
        .cloned()
        .collect();
    assert_eq!(
        store.pending_receipt_count().expect("count"),
        pending.len() as u64,
        "{what}: pending count vs messages whose receipt is pending"
    );
    let batches = store.get_pending_receipts(Some(100)).expect("batches");
    let mut seen = BTreeSet::new();
    for b in &batches {
        assert!(b.message_ids.len() <= 30, "{what}: batch over 30 IDs");
        for id in &b.message_ids {
            assert!(seen.insert(id.clone()), "{what}: {id} is in two batches");
            assert!(
                pending.contains(id),
                "{what}: {id} is in a batch but not pending"
            );
        }
    }
    if batches.len() < 100 {
        assert_eq!(seen, pending, "{what}: batches vs pending receipts");
    }
    batches
}

/// Builds a template store at `dir/template.db` with `setup`, closed.
fn template(dir: &tempfile::TempDir, setup: impl FnOnce(&Store)) -> PathBuf {
    let path = dir.path().join("template.db");
    let store = common::open_store(&path, OWNER).expect("create template");
    setup(&store);
    drop(store);
    path
}

/// Runs `KILLS` kill points over `requests`; `check` gets the reopened
/// store and the run and returns the length of the prefix the durable state
/// shows. Asserts that prefix covers every confirmed call, and that kills
/// landed mid-stream.
fn matrix(
    name: &str,
    seed: u64,
    template: &Path,
    requests: &[(String, Value)],
    check: impl Fn(&Store, &Run, &str) -> usize,
) {
    let mut rng = Rng(seed);
    let mut mid_stream = 0;
    for k in 0..KILLS {
        let run = kill_run(template, requests, &mut rng);
        let what = format!("{name} kill {k} (seed {seed})");
        let store = reopen(&run, &what);
        let done = check(&store, &run, &what);
        assert!(
            done >= run.confirmed(),
            "{what}: {} calls returned success but the store shows only {done}",
            run.confirmed()
        );
        assert!(done <= requests.len(), "{what}: more done than sent");
        // Whatever the method, the outbox holds each pending ID once.
        let batches = store.get_pending_receipts(Some(100)).expect("batches");
        let mut seen = BTreeSet::new();
        for b in &batches {
            for id in &b.message_ids {
                assert!(seen.insert(id.clone()), "{what}: {id} in two batches");
            }
        }
        assert!(seen.len() as u64 <= store.pending_receipt_count().unwrap());
        if done < requests.len() {
            mid_stream += 1;
        }
    }
    // Kills that land after the whole stream prove nothing.
    assert!(
        mid_stream * 2 >= KILLS,
        "{name}: only {mid_stream} of {KILLS} kills landed mid-stream"
    );
}

fn req(method: &str, params: Value) -> (String, Value) {
    (method.to_string(), params)
}

fn in_c2c(id: &str, from: &str, seq: i64, need: bool) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: from.into(),
        to: OWNER.into(),
        time: 1_000 + seq,
        sequence: seq,
        need_read_receipt: need,
        ..Default::default()
    }
}

fn in_c2c_json(id: &str, from: &str, seq: i64, need: bool) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": from, "to": OWNER,
           "time": 1_000 + seq, "sequence": seq, "needReadReceipt": need})
}

fn held(store: &Store, id: &str) -> bool {
    store.find_message(id).expect("find").is_some()
}

fn sent_state(store: &Store, id: &str) -> Option<ReceiptSentState> {
    store
        .find_message(id)
        .expect("find")
        .unwrap_or_else(|| panic!("{id} is held"))
        .receipt_sent_state
}

/// The length of the longest prefix of `0..n` for which `f` holds, and
/// checks `f` fails for everything after it (the state is a prefix).
fn prefix_len(n: usize, what: &str, f: impl Fn(usize) -> bool) -> usize {
    let p = (0..n).position(|i| !f(i)).unwrap_or(n);
    if let Some(j) = (p..n).find(|&j| f(j)) {
        panic!("{what}: request {j} took effect but request {p} before it did not");
    }
    p
}

/// Every member of an `out` group message's unread list (the audience,
/// when nobody has read it).
fn unread_list(store: &Store, id: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = store
            .get_group_message_read_member_list(id, MemberFilter::Unread, &cursor, 100)
            .expect("member list");
        all.extend(p.unread_user_id_list.unwrap_or_default());
        if p.is_completed {
            return all;
        }
        cursor = p.cursor;
    }
}

fn read_list(store: &Store, id: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = store
            .get_group_message_read_member_list(id, MemberFilter::Read, &cursor, 100)
            .expect("member list");
        all.extend(p.read_user_id_list.unwrap_or_default());
        if p.is_completed {
            return all;
        }
        cursor = p.cursor;
    }
}

/// The audience of group `g` now: a fresh `out` message's unread list.
fn audience_now(store: &Store, g: &str) -> Vec<String> {
    let m = store
        .create_message(g, ConversationType::Group, &json!({}), true)
        .expect("probe message");
    store
        .mark_message_sent(&m.id, 1_000_000, 2_000_000_000)
        .expect("probe sent");
    unread_list(store, &m.id)
}

fn unread(store: &Store, conv: &str) -> u64 {
    store.get_conversation(conv).expect("conv").unread_count
}

// ---------------------------------------------------------------------------

fn config_of(j: usize) -> ReceiptConfig {
    let all = [GroupType::Meeting, GroupType::Public, GroupType::Work];
    let bits = (j / 2) % 8;
    ReceiptConfig {
        enabled: j % 2 == 0,
        group_types: all
            .iter()
            .enumerate()
            .filter(|(b, _)| bits & (1 << b) != 0)
            .map(|(_, t)| *t)
            .collect(),
        delivery_receipts: false,
        private_reading: false,
    }
}

fn type_names(c: &ReceiptConfig) -> Vec<String> {
    c.group_types
        .iter()
        .map(|t| {
            serde_json::to_value(t)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// setReceiptConfig, interleaved with marker saves that show how far the
/// stream got: the config is the last one before (or right after) the last
/// durable marker.
#[test]
fn crash_set_receipt_config() {
    let dir = common_dir();
    let tpl = template(&dir, |_| {});
    let n = 300;
    let mut requests = Vec::new();
    for j in 0..n {
        let c = config_of(j);
        requests.push(req(
            "setReceiptConfig",
            json!({"enabled": c.enabled, "groupTypes": type_names(&c)}),
        ));
        requests.push(req(
            "saveMessages",
            json!({"messages": [in_c2c_json(&format!("mk{j}"), "bob", j as i64, false)]}),
        ));
    }
    matrix("setReceiptConfig", 11, &tpl, &requests, |store, _, what| {
        let marks = prefix_len(n, what, |j| held(store, &format!("mk{j}")));
        let mut got = store.get_receipt_config().expect("config");
        got.group_types.sort_by_key(|t| format!("{t:?}"));
        let norm = |mut c: ReceiptConfig| {
            c.group_types.sort_by_key(|t| format!("{t:?}"));
            c
        };
        let before = if marks == 0 {
            norm(ReceiptConfig::default())
        } else {
            norm(config_of(marks - 1))
        };
        if marks < n && got == norm(config_of(marks)) {
            2 * marks + 1
        } else {
            assert_eq!(got, before, "{what}: config after {marks} markers");
            2 * marks
        }
    });
}

fn common_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("receiptdb-crash-tpl")
        .tempdir()
        .expect("tempdir")
}

/// setGroup: request j creates group g{j} with its own member list; the
/// groups present are a prefix and each has exactly its members.
#[test]
fn crash_set_group() {
    let dir = common_dir();
    let tpl = template(&dir, |_| {});
    let n = 300;
    let members_of =
        |j: usize| -> Vec<String> { (0..=(j % 5)).map(|k| format!("u{j:03}_{k}")).collect() };
    let requests: Vec<_> = (0..n)
        .map(|j| {
            let mut ms: Vec<Value> = members_of(j)
                .iter()
                .map(|u| json!({"userID": u, "joinTime": 10}))
                .collect();
            ms.push(json!({"userID": OWNER}));
            req(
                "setGroup",
                json!({"groupID": format!("g{j}"), "groupType": "Work", "members": ms}),
            )
        })
        .collect();
    matrix("setGroup", 12, &tpl, &requests, |store, _, what| {
        let p = prefix_len(n, what, |j| {
            store.add_group_members(&format!("g{j}"), &[]).is_ok()
        });
        for j in 0..p {
            assert_eq!(
                audience_now(store, &format!("g{j}")),
                members_of(j),
                "{what}: members of g{j}"
            );
        }
        p
    });
}

/// addGroupMembers: request j adds u{j}; the members are a prefix.
#[test]
fn crash_add_group_members() {
    let dir = common_dir();
    let tpl = template(&dir, |s| {
        s.set_group("g", GroupType::Work, &[Member::new(OWNER)])
            .unwrap();
    });
    let n = 400;
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "addGroupMembers",
                json!({"groupID": "g", "members": [{"userID": format!("u{j:04}")}]}),
            )
        })
        .collect();
    matrix("addGroupMembers", 13, &tpl, &requests, |store, _, what| {
        let got = audience_now(store, "g");
        let p = got.len();
        let want: Vec<String> = (0..p).map(|j| format!("u{j:04}")).collect();
        assert_eq!(got, want, "{what}: members are a prefix of the additions");
        p
    });
}

/// removeGroupMembers: request j removes u{j}; the removals are a prefix.
#[test]
fn crash_remove_group_members() {
    let dir = common_dir();
    let n = 400;
    let tpl = template(&dir, |s| {
        let mut ms: Vec<Member> = (0..n).map(|j| Member::new(format!("u{j:04}"))).collect();
        ms.push(Member::new(OWNER));
        s.set_group("g", GroupType::Work, &ms).unwrap();
    });
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "removeGroupMembers",
                json!({"groupID": "g", "userIDs": [format!("u{j:04}")]}),
            )
        })
        .collect();
    matrix(
        "removeGroupMembers",
        14,
        &tpl,
        &requests,
        |store, _, what| {
            let got = audience_now(store, "g");
            let p = n - got.len();
            let want: Vec<String> = (p..n).map(|j| format!("u{j:04}")).collect();
            assert_eq!(got, want, "{what}: removals are a prefix");
            p
        },
    );
}

/// createMessage: request j creates an `out` message with payload n=j; the
/// conversation holds exactly messages 0..P, each once, and every returned
/// ID is held with its payload.
#[test]
fn crash_create_message() {
    let dir = common_dir();
    let tpl = template(&dir, |_| {});
    let n = 400;
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "createMessage",
                json!({"to": "bob", "conversationType": "C2C", "payload": {"n": j},
                       "needReadReceipt": j % 2 == 0}),
            )
        })
        .collect();
    matrix("createMessage", 15, &tpl, &requests, |store, run, what| {
        let mut ns = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = store
                .get_message_list("C2Cbob", next.as_deref(), Some(100))
                .expect("list");
            let mut p: Vec<u64> = page
                .message_list
                .iter()
                .map(|m| m.payload["n"].as_u64().expect("payload n"))
                .collect();
            p.extend(ns);
            ns = p;
            if page.is_completed {
                break;
            }
            next = Some(page.next_req_message_id);
        }
        let want: Vec<u64> = (0..ns.len() as u64).collect();
        assert_eq!(ns, want, "{what}: messages created are a prefix, each once");
        for (j, r) in run.results.iter().enumerate() {
            let m = store
                .find_message(r["ID"].as_str().expect("ID"))
                .expect("find")
                .unwrap_or_else(|| panic!("{what}: confirmed message {j} lost"));
            assert_eq!(m.payload, json!({"n": j}), "{what}");
            assert_eq!(m.status, MessageStatus::UnSend);
        }
        ns.len()
    });
}

/// markMessageSent: request j marks message j sent; the sent ones are a
/// prefix with their sequence and time and the group's audience counted.
#[test]
fn crash_mark_message_sent() {
    let dir = common_dir();
    let n = 300;
    let ids = std::cell::RefCell::new(Vec::new());
    let tpl = template(&dir, |s| {
        s.set_group(
            "g",
            GroupType::Work,
            &[Member::new(OWNER), Member::new("bob"), Member::new("carol")],
        )
        .unwrap();
        for j in 0..n {
            let m = s
                .create_message("g", ConversationType::Group, &json!({"n": j}), true)
                .unwrap();
            ids.borrow_mut().push(m.id);
        }
    });
    let ids = ids.into_inner();
    let requests: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(j, id)| {
            req(
                "markMessageSent",
                json!({"ID": id, "sequence": 1_000 + j, "time": 5_000 + j}),
            )
        })
        .collect();
    matrix("markMessageSent", 16, &tpl, &requests, |store, _, what| {
        let msgs: Vec<_> = ids
            .iter()
            .map(|id| store.find_message(id).unwrap().expect("held"))
            .collect();
        let p = prefix_len(n, what, |j| msgs[j].status == MessageStatus::Success);
        for (j, m) in msgs.iter().enumerate() {
            if j < p {
                assert_eq!((m.sequence, m.time), (1_000 + j as i64, 5_000 + j as i64));
                assert_eq!(m.read_receipt_info.unwrap().unread_count, Some(2), "{what}");
            } else {
                assert_eq!(m.status, MessageStatus::UnSend, "{what}");
            }
        }
        p
    });
}

/// saveMessages: request j saves three new `in` messages and re-saves one
/// of the previous request; the saved ones are a prefix and the unread
/// count is exactly the number held.
#[test]
fn crash_save_messages() {
    let dir = common_dir();
    let tpl = template(&dir, |_| {});
    let n = 400;
    let id = |j: usize, k: usize| format!("s{j}_{k}");
    let requests: Vec<_> = (0..n)
        .map(|j| {
            let mut ms: Vec<Value> = (0..3)
                // Sequences from 1: a message at sequence 0 is never unread (PROTOCOL.md, Audience).
                .map(|k| in_c2c_json(&id(j, k), "bob", (j * 3 + k + 1) as i64, true))
                .collect();
            if j > 0 {
                ms.push(in_c2c_json(&id(j - 1, 0), "bob", (j * 3 - 2) as i64, true));
            }
            req("saveMessages", json!({ "messages": ms }))
        })
        .collect();
    matrix("saveMessages", 17, &tpl, &requests, |store, _, what| {
        let p = prefix_len(n, what, |j| held(store, &id(j, 0)));
        for j in 0..n {
            for k in 1..3 {
                assert_eq!(held(store, &id(j, k)), j < p, "{what}: {}", id(j, k));
            }
        }
        assert_eq!(
            unread(store, "C2Cbob"),
            3 * p as u64,
            "{what}: unread count"
        );
        p
    });
}

/// setMessageRead: request j reads conversation C2Cp{j}; the read ones are
/// a prefix, the rest keep their two unread messages.
#[test]
fn crash_set_message_read() {
    let dir = common_dir();
    let n = 400;
    let tpl = template(&dir, |s| {
        let msgs: Vec<IncomingMessage> = (0..n)
            .flat_map(|j| {
                // Sequences from 1: a message at sequence 0 is never unread (PROTOCOL.md, Audience).
                (0..2).map(move |k| in_c2c(&format!("r{j}_{k}"), &format!("p{j}"), k + 1, false))
            })
            .collect();
        for c in msgs.chunks(1000) {
            s.save_messages(c).unwrap();
        }
    });
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "setMessageRead",
                json!({"conversationID": format!("C2Cp{j}")}),
            )
        })
        .collect();
    matrix("setMessageRead", 18, &tpl, &requests, |store, _, what| {
        let counts: Vec<u64> = (0..n).map(|j| unread(store, &format!("C2Cp{j}"))).collect();
        let p = prefix_len(n, what, |j| counts[j] == 0);
        assert!(counts[p..].iter().all(|c| *c == 2), "{what}: {counts:?}");
        // Read reports survive the kill: exactly the read conversations, at 2.
        let mut want: Vec<(String, i64)> = (0..p).map(|j| (format!("C2Cp{j}"), 2)).collect();
        want.sort();
        let got: Vec<(String, i64)> = store
            .get_pending_read_reports()
            .unwrap()
            .into_iter()
            .map(|r| (r.conversation_id, r.read_sequence))
            .collect();
        assert_eq!(got, want, "{what}: read reports");
        p
    });
}

/// sendMessageReadReceipt: request j queues receipts for its 1..4 messages
/// of one of three conversations; the queued ones are a prefix, each once
/// in the outbox, and each response listed exactly its messages.
#[test]
fn crash_send_message_read_receipt() {
    let dir = common_dir();
    let n = 400;
    let groups: Vec<Vec<String>> = (0..n)
        .map(|j| (0..1 + j % 4).map(|k| format!("q{j}_{k}")).collect())
        .collect();
    let peer = |j: usize| ["bob", "carol", "dave"][j % 3];
    let all: Vec<String> = groups.concat();
    let tpl = template(&dir, |s| {
        let msgs: Vec<IncomingMessage> = groups
            .iter()
            .enumerate()
            .flat_map(|(j, ids)| {
                ids.iter()
                    .map(move |id| in_c2c(id, peer(j), j as i64, true))
                    .collect::<Vec<_>>()
            })
            .collect();
        for c in msgs.chunks(1000) {
            s.save_messages(c).unwrap();
        }
    });
    let requests: Vec<_> = groups
        .iter()
        .map(|ids| req("sendMessageReadReceipt", json!({ "messageIDs": ids })))
        .collect();
    matrix(
        "sendMessageReadReceipt",
        19,
        &tpl,
        &requests,
        |store, run, what| {
            for (j, r) in run.results.iter().enumerate() {
                assert_eq!(r["queued"], json!(groups[j]), "{what}: response {j}");
            }
            let p = prefix_len(n, what, |j| {
                sent_state(store, &groups[j][0]) == Some(ReceiptSentState::Pending)
            });
            for (j, ids) in groups.iter().enumerate() {
                for id in ids {
                    let want = if j < p {
                        ReceiptSentState::Pending
                    } else {
                        ReceiptSentState::None
                    };
                    assert_eq!(sent_state(store, id), Some(want), "{what}: {id}");
                }
            }
            check_outbox(store, &all, what);
            p
        },
    );
}

/// How many batches have been handed out, read with a side connection.
fn batch_rows(path: &Path) -> usize {
    let c = common::raw_connection(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("side connection");
    c.query_row("SELECT COUNT(*) FROM batches", [], |r| r.get::<_, i64>(0))
        .expect("count batches") as usize
}

/// 3,000 pending receipts in five conversations: exactly 100 batches of 30.
fn pending_template(s: &Store) -> Vec<String> {
    let mut all = Vec::new();
    for c in 0..5 {
        let msgs: Vec<IncomingMessage> = (0..600)
            .map(|i| in_c2c(&format!("w{c}_{i:03}"), &format!("peer{c}"), i, true))
            .collect();
        s.save_messages(&msgs).unwrap();
        for chunk in msgs.chunks(30) {
            let ids: Vec<String> = chunk.iter().map(|m| m.id.clone()).collect();
            s.send_message_read_receipt(&ids).unwrap();
            all.extend(ids);
        }
    }
    all
}

/// getPendingReceipts: request j asks for j+1 batches, so each call hands
/// out one new batch; every batch in a confirmed response is found again
/// with the same ID and contents, and the outbox holds each ID once.
#[test]
fn crash_get_pending_receipts() {
    let dir = common_dir();
    let all = std::cell::RefCell::new(Vec::new());
    let tpl = template(&dir, |s| *all.borrow_mut() = pending_template(s));
    let all = all.into_inner();
    let n = 100;
    let requests: Vec<_> = (0..n)
        .map(|j| req("getPendingReceipts", json!({"limit": j + 1})))
        .collect();
    matrix(
        "getPendingReceipts",
        20,
        &tpl,
        &requests,
        |store, run, what| {
            // Request j leaves j+1 batches: the durable prefix is the number of
            // batches before this check hands out the rest (read on the side).
            let p = batch_rows(&run.path);
            let batches = check_outbox(store, &all, what);
            assert_eq!(batches.len(), 100, "{what}: 3,000 receipts are 100 batches");
            let now: BTreeMap<String, (String, Vec<String>)> = batches
                .iter()
                .map(|b| {
                    (
                        b.batch_id.clone(),
                        (b.conversation_id.clone(), b.message_ids.clone()),
                    )
                })
                .collect();
            let mut handed: BTreeMap<String, Value> = BTreeMap::new();
            for (j, r) in run.results.iter().enumerate() {
                let list = r["batches"].as_array().expect("batches");
                assert_eq!(list.len(), j + 1, "{what}: response {j}");
                for b in list {
                    let id = b["batchID"].as_str().expect("batchID").to_string();
                    if let Some(prev) = handed.insert(id.clone(), b.clone()) {
                        assert_eq!(&prev, b, "{what}: batch {id} changed between calls");
                    }
                    let (conv, ids) = now
                        .get(&id)
                        .unwrap_or_else(|| panic!("{what}: handed-out batch {id} lost"));
                    assert_eq!(b["conversationID"], json!(conv), "{what}: batch {id}");
                    assert_eq!(b["messageIDs"], json!(ids), "{what}: batch {id}");
                }
            }
            p
        },
    );
}

/// ackReceipts: 100 batches handed out; request j acks batch j (rejecting
/// one message of every third); the acked batches are a prefix, their
/// messages `acked` (rejected ones `none`), the rest keep their batches.
#[test]
fn crash_ack_receipts() {
    let dir = common_dir();
    let state = std::cell::RefCell::new((Vec::new(), Vec::new()));
    let tpl = template(&dir, |s| {
        let all = pending_template(s);
        let batches = s.get_pending_receipts(Some(100)).unwrap();
        *state.borrow_mut() = (all, batches);
    });
    let (all, batches) = state.into_inner();
    assert_eq!(batches.len(), 100);
    let rejected =
        |j: usize| -> Option<&String> { (j % 3 == 0).then(|| &batches[j].message_ids[0]) };
    let requests: Vec<_> = batches
        .iter()
        .enumerate()
        .map(|(j, b)| {
            let rej: Vec<Value> = rejected(j)
                .map(|id| json!({"messageID": id, "code": 1}))
                .into_iter()
                .collect();
            req(
                "ackReceipts",
                json!({"batchID": b.batch_id, "rejected": rej}),
            )
        })
        .collect();
    matrix("ackReceipts", 21, &tpl, &requests, |store, run, what| {
        for r in &run.results {
            assert_eq!(r["acked"], json!(true), "{what}");
        }
        let last = |j: usize| batches[j].message_ids.last().unwrap().clone();
        let p = prefix_len(100, what, |j| {
            sent_state(store, &last(j)) == Some(ReceiptSentState::Acked)
        });
        for (j, b) in batches.iter().enumerate() {
            for id in &b.message_ids {
                let want = if j >= p {
                    ReceiptSentState::Pending
                } else if rejected(j) == Some(id) {
                    ReceiptSentState::None
                } else {
                    ReceiptSentState::Acked
                };
                assert_eq!(sent_state(store, id), Some(want), "{what}: {id}");
            }
        }
        let now = check_outbox(store, &all, what);
        assert_eq!(now, batches[p..].to_vec(), "{what}: unacked batches intact");
        p
    });
}

/// applyReceiptNotifications: request j says reader u{j/20} read message
/// o{j%20}; the readers held are exactly those of a prefix, and the counts
/// agree with them.
#[test]
fn crash_apply_receipt_notifications() {
    let dir = common_dir();
    let msgs = 20;
    let users = 30;
    let ids = std::cell::RefCell::new(Vec::new());
    let tpl = template(&dir, |s| {
        let mut ms: Vec<Member> = (0..users)
            .map(|u| Member::new(format!("u{u:02}")))
            .collect();
        ms.push(Member::new(OWNER));
        s.set_group("g", GroupType::Work, &ms).unwrap();
        for i in 0..msgs {
            let m = s
                .create_message("g", ConversationType::Group, &json!({}), true)
                .unwrap();
            s.mark_message_sent(&m.id, i as i64 + 1, 100).unwrap();
            ids.borrow_mut().push(m.id);
        }
    });
    let ids = ids.into_inner();
    let n = msgs * users;
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "applyReceiptNotifications",
                json!({"notifications": [{"messageID": ids[j % msgs], "groupID": "g",
                        "readerIDs": [format!("u{:02}", j / msgs)]}]}),
            )
        })
        .collect();
    matrix(
        "applyReceiptNotifications",
        22,
        &tpl,
        &requests,
        |store, run, what| {
            for (j, r) in run.results.iter().enumerate() {
                assert_eq!(r["changed"], json!([ids[j % msgs]]), "{what}: response {j}");
            }
            let lists: Vec<Vec<String>> = ids.iter().map(|id| read_list(store, id)).collect();
            let p: usize = lists.iter().map(Vec::len).sum();
            for (i, id) in ids.iter().enumerate() {
                let want: Vec<String> = (0..p)
                    .filter(|j| j % msgs == i)
                    .map(|j| format!("u{:02}", j / msgs))
                    .collect();
                assert_eq!(lists[i], want, "{what}: readers of message {i}");
                let info = store
                    .find_message(id)
                    .unwrap()
                    .unwrap()
                    .read_receipt_info
                    .unwrap();
                assert_eq!(info.read_count, want.len() as u64, "{what}");
                assert_eq!(
                    info.unread_count,
                    Some((users - want.len()) as u64),
                    "{what}"
                );
            }
            p
        },
    );
}

/// applySnapshot: request j brings in message s{j}, marks the owner's
/// pending receipt for q{j} read (selfRead) and says the peer read o{j%50};
/// the effects are a prefix and the outbox holds exactly q{P..}.
#[test]
fn crash_apply_snapshot() {
    let dir = common_dir();
    let n = 400;
    let outs = std::cell::RefCell::new(Vec::new());
    let qs: Vec<String> = (0..n).map(|j| format!("q{j:03}")).collect();
    let tpl = template(&dir, |s| {
        let msgs: Vec<IncomingMessage> = qs
            .iter()
            .enumerate()
            // Sequences from 1: a message at sequence 0 is at the read position 0, never unread.
            .map(|(j, id)| in_c2c(id, "bob", j as i64 + 1, true))
            .collect();
        s.save_messages(&msgs).unwrap();
        for c in qs.chunks(30) {
            s.send_message_read_receipt(c).unwrap();
        }
        for i in 0..50 {
            let m = s
                .create_message("bob", ConversationType::C2C, &json!({}), true)
                .unwrap();
            s.mark_message_sent(&m.id, 10_000 + i, 100).unwrap();
            outs.borrow_mut().push(m.id);
        }
    });
    let outs = outs.into_inner();
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "applySnapshot",
                json!({"conversationID": "C2Cbob",
                       "messages": [in_c2c_json(&format!("s{j}"), "bob", 20_000 + j as i64, true)],
                       "receipts": [{"messageID": outs[j % 50], "isPeerRead": true}],
                       "selfRead": [qs[j]]}),
            )
        })
        .collect();
    matrix("applySnapshot", 23, &tpl, &requests, |store, _, what| {
        let p = prefix_len(n, what, |j| held(store, &format!("s{j}")));
        for (j, q) in qs.iter().enumerate() {
            let want = if j < p {
                ReceiptSentState::Acked
            } else {
                ReceiptSentState::Pending
            };
            assert_eq!(sent_state(store, q), Some(want), "{what}: {q}");
        }
        for (i, o) in outs.iter().enumerate() {
            let info = store
                .find_message(o)
                .unwrap()
                .unwrap()
                .read_receipt_info
                .unwrap();
            assert_eq!(info.is_peer_read, i < p, "{what}: out message {i}");
        }
        assert_eq!(
            unread(store, "C2Cbob"),
            (n + p) as u64,
            "{what}: unread count"
        );
        let batches = check_outbox(store, &qs, what);
        let in_batches: Vec<String> = batches.iter().flat_map(|b| b.message_ids.clone()).collect();
        assert_eq!(in_batches, qs[p..].to_vec(), "{what}: outbox");
        p
    });
}

/// Killed while it creates a new store (file creation, migration, WAL
/// switch): the file is then either absent, empty, or a sound store for
/// its owner; `Store::open` always succeeds on it afterwards.
#[test]
fn crash_while_creating_the_store() {
    let mut rng = Rng(0xC4EA7E);
    // How long a first response takes, to spread the kills over it.
    let dir = common_dir();
    let t = std::time::Instant::now();
    let probe = dir.path().join("probe.db");
    let out = rpc_child(&probe)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success());
    let span = t.elapsed().as_micros() as u64 + 1_000;
    for k in 0..100 {
        let path = dir.path().join(format!("new{k}.db"));
        let mut child = rpc_child(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_micros(rng.below(span)));
        let _ = child.kill();
        let _ = child.wait();
        let what = format!("kill {k} while creating");
        let store = common::open_store(&path, OWNER)
            .unwrap_or_else(|e| panic!("{what}: reopen failed: {} {e}", e.name()));
        assert_eq!(
            store.integrity_check().unwrap(),
            vec!["ok".to_string()],
            "{what}"
        );
        store
            .set_message_read("C2Cbob", None)
            .unwrap_or_else(|e| panic!("{what}: write failed: {e}"));
    }
}

/// Every delivery ack queued, in the batches handed out now: each message
/// once. Returns the message IDs.
fn delivery_acks(store: &Store, what: &str) -> BTreeSet<String> {
    let pending = store.get_pending(Some(100)).expect("pending");
    let mut seen = BTreeSet::new();
    for b in &pending.delivery_batches {
        assert!(b.batch_id.starts_with('d'), "{what}: {}", b.batch_id);
        for id in &b.message_ids {
            assert!(seen.insert(id.clone()), "{what}: {id} acked twice");
        }
    }
    seen
}

fn acks_on(s: &Store) {
    s.patch_receipt_config(&receiptdb::ReceiptConfigPatch {
        delivery_receipts: Some(true),
        ..Default::default()
    })
    .expect("delivery acks on");
}

/// saveMessages with delivery acks on: request j saves three new `in`
/// messages that need a receipt (and one of request j-1 again); the held
/// messages are a prefix, and each has exactly one delivery ack queued —
/// none lost, none twice, none for a message the kill undid.
#[test]
fn crash_save_messages_with_delivery_acks() {
    let dir = common_dir();
    let tpl = template(&dir, acks_on);
    let n = 300;
    let id = |j: usize, k: usize| format!("d{j}_{k}");
    let requests: Vec<_> = (0..n)
        .map(|j| {
            let mut ms: Vec<Value> = (0..3)
                .map(|k| in_c2c_json(&id(j, k), "bob", (j * 3 + k + 1) as i64, true))
                .collect();
            if j > 0 {
                ms.push(in_c2c_json(&id(j - 1, 0), "bob", (j * 3 - 2) as i64, true));
            }
            req("saveMessages", json!({ "messages": ms }))
        })
        .collect();
    matrix(
        "saveMessages+acks",
        31,
        &tpl,
        &requests,
        |store, _, what| {
            let p = prefix_len(n, what, |j| held(store, &id(j, 0)));
            let want: BTreeSet<String> =
                (0..p).flat_map(|j| (0..3).map(move |k| id(j, k))).collect();
            assert_eq!(delivery_acks(store, what), want, "{what}: delivery acks");
            p
        },
    );
}

/// ackDeliveryReceipts: 100 batches handed out, request j acks batch j; the
/// acked ones are a prefix, the rest are handed out again unchanged.
#[test]
fn crash_ack_delivery_receipts() {
    let dir = common_dir();
    let batches = std::cell::RefCell::new(Vec::new());
    let tpl = template(&dir, |s| {
        acks_on(s);
        let msgs: Vec<IncomingMessage> = (0..3000)
            .map(|i| in_c2c(&format!("a{i:04}"), &format!("p{}", i / 30), 1, true))
            .collect();
        for chunk in msgs.chunks(1000) {
            s.save_messages(chunk).expect("save");
        }
        *batches.borrow_mut() = s.get_pending(Some(100)).unwrap().delivery_batches;
    });
    let batches = batches.into_inner();
    assert_eq!(batches.len(), 100);
    let requests: Vec<_> = batches
        .iter()
        .map(|b| req("ackDeliveryReceipts", json!({"batchID": b.batch_id})))
        .collect();
    matrix(
        "ackDeliveryReceipts",
        37,
        &tpl,
        &requests,
        |store, run, what| {
            for r in &run.results {
                assert_eq!(r["acked"], json!(true), "{what}");
            }
            let now = store
                .get_pending(Some(100))
                .expect("pending")
                .delivery_batches;
            let p = 100 - now.len();
            assert_eq!(now, batches[p..].to_vec(), "{what}: unacked batches intact");
            p
        },
    );
}

/// deleteMessages: request j deletes d{j}_0 (its receipt queued) and
/// d{j}_1 of C2Cbob; the deleted ones are a prefix, and the unread count
/// and the outbox follow it exactly (the deep check on reopen recounts both).
#[test]
fn crash_delete_messages() {
    let dir = common_dir();
    let n = 400;
    let id = |j: usize, k: usize| format!("d{j}_{k}");
    let tpl = template(&dir, |s| {
        let ms: Vec<IncomingMessage> = (0..n)
            .flat_map(|j| (0..3).map(move |k| (j, k)))
            .map(|(j, k)| in_c2c(&id(j, k), "bob", (j * 3 + k + 1) as i64, true))
            .collect();
        for chunk in ms.chunks(1000) {
            s.save_messages(chunk).expect("save");
        }
        let firsts: Vec<String> = (0..n).map(|j| id(j, 0)).collect();
        for chunk in firsts.chunks(30) {
            s.send_message_read_receipt(chunk).expect("queue");
        }
    });
    let requests: Vec<_> = (0..n)
        .map(|j| {
            req(
                "deleteMessages",
                json!({"messageIDs": [id(j, 0), id(j, 1)]}),
            )
        })
        .collect();
    matrix("deleteMessages", 41, &tpl, &requests, |store, _, what| {
        let p = prefix_len(n, what, |j| !held(store, &id(j, 0)));
        for j in 0..n {
            assert_eq!(held(store, &id(j, 1)), j >= p, "{what}: {}", id(j, 1));
            assert!(held(store, &id(j, 2)), "{what}: {} kept", id(j, 2));
        }
        assert_eq!(
            unread(store, "C2Cbob"),
            (3 * n - 2 * p) as u64,
            "{what}: unread count"
        );
        assert_eq!(
            store.pending_receipt_count().expect("pending"),
            (n - p) as u64,
            "{what}: queued receipts of the deleted are withdrawn, the rest stay"
        );
        p
    });
}
