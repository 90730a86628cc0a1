//! Two processes on one store file: two `receiptdb rpc`
//! processes writing at once lose no update (every saved message present,
//! unread counts exact, each receipt queued by exactly one of them and in
//! the outbox once, handed-out batches stable), and the file stays sound.
//! A lock held past the busy timeout gives STORE_BUSY (2009); once it is
//! released, the same call succeeds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{path_in, temp_dir, Rpc, OWNER};
use receiptdb::{ConversationType, Error, IncomingMessage, OpenOptions, ReceiptSentState, Store};
use serde_json::{json, Value};

const PEERS: [&str; 3] = ["bob", "carol", "dave"];
const ROUNDS: usize = 200;

fn in_json(id: &str, from: &str, seq: usize) -> Value {
    json!({"ID": id, "conversationType": "C2C", "from": from, "to": OWNER,
           "time": seq, "sequence": seq, "needReadReceipt": true})
}

/// The shared messages both processes send receipts for, five a round,
/// each round's five in one conversation.
fn shared_ids(round: usize) -> Vec<String> {
    (0..5).map(|k| format!("s{round:03}_{k}")).collect()
}

/// What one process did.
#[derive(Default)]
struct Log {
    queued: Vec<String>,
    batches: BTreeMap<String, Value>,
    saved: Vec<(String, usize)>,
}

/// One process's workload (after both are up): each round saves one message of its own and
/// one that the other process saves too (same ID), queues receipts for
/// the round's shared messages, and every tenth round asks for batches.
fn workload(mut rpc: Rpc, me: &'static str, start: &Barrier) -> Log {
    let mut log = Log::default();
    rpc.ok("getReceiptConfig", json!({}));
    start.wait();
    for i in 0..ROUNDS {
        // The two walk the shared messages from opposite ends, so they
        // contend for the same receipts in the middle.
        let r = if me == "a" { i } else { ROUNDS - 1 - i };
        let peer = r % 3;
        let own = format!("{me}{r:03}");
        let both = format!("n{r:03}");
        rpc.ok(
            "saveMessages",
            json!({"messages": [in_json(&own, PEERS[peer], 10_000 + r),
                                in_json(&both, PEERS[peer], 20_000 + r)]}),
        );
        log.saved.push((own, peer));
        log.saved.push((both, peer));
        let q = rpc.ok(
            "sendMessageReadReceipt",
            json!({"messageIDs": shared_ids(r)}),
        );
        for id in q["queued"].as_array().unwrap() {
            log.queued.push(id.as_str().unwrap().to_string());
        }
        if r % 10 == 9 {
            let b = rpc.ok("getPendingReceipts", json!({"limit": 100}));
            for batch in b["batches"].as_array().unwrap() {
                let id = batch["batchID"].as_str().unwrap().to_string();
                if let Some(prev) = log.batches.insert(id.clone(), batch.clone()) {
                    assert_eq!(&prev, batch, "{me}: batch {id} changed");
                }
            }
        }
    }
    assert!(rpc.close().success(), "{me}: receiptdb rpc exit status");
    log
}

/// Two `receiptdb rpc` processes write to one file at once: no lost
/// update, no double-queued receipt, batches stable, integrity ok.
#[test]
fn two_rpc_processes_write_at_once() {
    let dir = temp_dir();
    let path = path_in(&dir, "shared.db");
    {
        let s = Store::open(&path, OWNER).unwrap();
        let msgs: Vec<IncomingMessage> = (0..ROUNDS)
            .flat_map(|r| {
                shared_ids(r).into_iter().map(move |id| IncomingMessage {
                    id,
                    conversation_type: Some(ConversationType::C2C),
                    from: PEERS[r % 3].into(),
                    to: OWNER.into(),
                    time: r as i64,
                    sequence: r as i64 + 1, // from 1: sequence 0 is never unread (PROTOCOL.md, Audience)
                    need_read_receipt: true,
                    ..Default::default()
                })
            })
            .collect();
        s.save_messages(&msgs).unwrap();
    }
    let a = Rpc::spawn(&path, OWNER);
    let b = Rpc::spawn(&path, OWNER);
    let start = Arc::new(Barrier::new(2));
    let sa = Arc::clone(&start);
    let ta = std::thread::spawn(move || workload(a, "a", &sa));
    let tb = std::thread::spawn(move || workload(b, "b", &start));
    let la = ta.join().expect("process a's driver");
    let lb = tb.join().expect("process b's driver");

    let s = Store::open(&path, OWNER).unwrap();
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);

    // Every saved message is there; unread counts are exact.
    let mut per_peer: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 3];
    for r in 0..ROUNDS {
        per_peer[r % 3].extend(shared_ids(r));
    }
    for (id, peer) in la.saved.iter().chain(&lb.saved) {
        assert!(s.find_message(id).unwrap().is_some(), "{id} lost");
        per_peer[*peer].insert(id.clone());
    }
    for (p, ids) in per_peer.iter().enumerate() {
        let conv = format!("C2C{}", PEERS[p]);
        assert_eq!(
            s.get_conversation(&conv).unwrap().unread_count,
            ids.len() as u64,
            "{conv}: unread count"
        );
    }

    // Each shared receipt was queued by exactly one process.
    let qa: BTreeSet<&String> = la.queued.iter().collect();
    let qb: BTreeSet<&String> = lb.queued.iter().collect();
    assert_eq!(qa.len(), la.queued.len(), "a queued an ID twice");
    assert_eq!(qb.len(), lb.queued.len(), "b queued an ID twice");
    assert!(
        qa.is_disjoint(&qb),
        "a receipt was queued by both processes"
    );
    let all: BTreeSet<String> = (0..ROUNDS).flat_map(shared_ids).collect();
    let union: BTreeSet<String> = qa.union(&qb).map(|s| s.to_string()).collect();
    assert_eq!(union, all, "every shared receipt queued");
    assert!(
        !qa.is_empty() && !qb.is_empty(),
        "both processes queued some (they ran at once)"
    );

    // The outbox holds each ID once; batches handed out by either process
    // are unchanged and not handed out twice under different IDs.
    assert_eq!(s.pending_receipt_count().unwrap(), all.len() as u64);
    for id in &all {
        let m = s.find_message(id).unwrap().unwrap();
        assert_eq!(m.receipt_sent_state, Some(ReceiptSentState::Pending));
    }
    let batches = s.get_pending_receipts(Some(100)).unwrap();
    let mut seen = BTreeSet::new();
    for b in &batches {
        for id in &b.message_ids {
            assert!(seen.insert(id.clone()), "{id} is in two batches");
        }
    }
    assert_eq!(seen, all, "the batches hold every pending receipt");
    let now: BTreeMap<&str, &receiptdb::Batch> =
        batches.iter().map(|b| (b.batch_id.as_str(), b)).collect();
    for (id, handed) in la.batches.iter().chain(&lb.batches) {
        let b = now
            .get(id.as_str())
            .unwrap_or_else(|| panic!("batch {id} lost"));
        assert_eq!(handed["messageIDs"], json!(b.message_ids), "batch {id}");
        assert_eq!(handed["conversationID"], json!(b.conversation_id));
    }
}

fn seed(path: &Path) {
    let s = Store::open(path, OWNER).unwrap();
    let msgs: Vec<IncomingMessage> = (1..=3)
        .map(|i| IncomingMessage {
            id: format!("m{i}"),
            conversation_type: Some(ConversationType::C2C),
            from: "bob".into(),
            to: OWNER.into(),
            time: i,
            sequence: i,
            need_read_receipt: true,
            ..Default::default()
        })
        .collect();
    s.save_messages(&msgs).unwrap();
}

/// A raw connection holding `BEGIN IMMEDIATE` on the file.
fn hold_write_lock(path: &Path) -> rusqlite::Connection {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    raw
}

/// A write lock held past the busy timeout (200 ms): reads still work, a
/// write fails with StoreBusy (STORE_BUSY, 2009) and changes nothing;
/// after the lock is released the same call succeeds.
#[test]
fn lock_past_busy_timeout_is_store_busy_then_retry_succeeds() {
    let dir = temp_dir();
    let path = path_in(&dir, "busy.db");
    seed(&path);
    let opts = OpenOptions::new().busy_timeout_ms(200);
    let s = Store::open_with(&path, OWNER, opts).unwrap();
    let raw = hold_write_lock(&path);
    busy_then_retry(&s, raw);
}

/// The brief's order: the lock is taken first, then the store is opened
/// (opening an up-to-date store needs no write lock), then as above.
#[test]
fn open_while_another_holds_the_write_lock() {
    let dir = temp_dir();
    let path = path_in(&dir, "busy-open.db");
    seed(&path);
    let raw = hold_write_lock(&path);
    let opts = OpenOptions::new().busy_timeout_ms(200);
    let s = Store::open_with(&path, OWNER, opts).expect("open while another holds the lock");
    busy_then_retry(&s, raw);
}

fn busy_then_retry(s: &Store, raw: rusqlite::Connection) {
    assert!(
        s.find_message("m1").unwrap().is_some(),
        "reads are not blocked"
    );
    let ids = vec!["m1".to_string(), "m2".to_string()];
    let t = Instant::now();
    match s.send_message_read_receipt(&ids) {
        Err(e @ Error::StoreBusy) => {
            assert_eq!((e.name(), e.code()), ("STORE_BUSY", 2009));
        }
        other => panic!("expected StoreBusy, got {other:?}"),
    }
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "it waited for the busy timeout first"
    );
    assert_eq!(s.pending_receipt_count().unwrap(), 0);
    raw.execute_batch("COMMIT").unwrap();
    assert_eq!(s.send_message_read_receipt(&ids).unwrap(), ids);
    assert_eq!(s.pending_receipt_count().unwrap(), 2);
    assert_eq!(s.integrity_check().unwrap(), vec!["ok".to_string()]);
}

/// Same while the store is already open when the lock is taken, for the
/// other write paths too (config, groups, messages, batches).
#[test]
fn every_write_is_store_busy_under_a_held_lock() {
    let dir = temp_dir();
    let path = path_in(&dir, "busy2.db");
    seed(&path);
    let opts = OpenOptions::new().busy_timeout_ms(100);
    let s = Store::open_with(&path, OWNER, opts).unwrap();
    s.send_message_read_receipt(&["m3".to_string()]).unwrap();
    let raw = hold_write_lock(&path);
    let busy = |r: Result<(), Error>, what: &str| match r {
        Err(Error::StoreBusy) => {}
        other => panic!("{what}: expected StoreBusy, got {other:?}"),
    };
    busy(
        s.set_receipt_config(&Default::default()),
        "setReceiptConfig",
    );
    busy(
        s.set_group("g", receiptdb::GroupType::Work, &[]),
        "setGroup",
    );
    busy(
        s.create_message("bob", ConversationType::C2C, &json!({}), false)
            .map(|_| ()),
        "createMessage",
    );
    busy(
        s.set_message_read("C2Cbob", None).map(|_| ()),
        "setMessageRead",
    );
    busy(
        s.get_pending_receipts(None).map(|_| ()),
        "getPendingReceipts",
    );
    raw.execute_batch("ROLLBACK").unwrap();
    s.set_message_read("C2Cbob", None).unwrap();
    assert_eq!(s.get_pending_receipts(None).unwrap().len(), 1);
}

/// Through `receiptdb rpc` (5 s busy timeout): a lock released within the
/// timeout only delays the call; a lock held past it gives an error with
/// code 2009 and data.name STORE_BUSY, and the retry succeeds.
#[test]
fn rpc_waits_for_a_short_lock_and_reports_store_busy_for_a_long_one() {
    let dir = temp_dir();
    let path = path_in(&dir, "busy3.db");
    seed(&path);
    let mut rpc = Rpc::spawn(&path, OWNER);
    rpc.ok("getReceiptConfig", json!({}));

    // Short: released after 300 ms.
    let raw = hold_write_lock(&path);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        raw.execute_batch("COMMIT").unwrap();
    });
    let q = rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["m1"]}));
    assert_eq!(q["queued"], json!(["m1"]));
    releaser.join().unwrap();

    // Long: held past the 5 s default.
    let raw = hold_write_lock(&path);
    let e = rpc.err_unchanged(
        "sendMessageReadReceipt",
        json!({"messageIDs": ["m2"]}),
        2009,
        "STORE_BUSY",
    );
    assert!(e["message"].is_string());
    raw.execute_batch("COMMIT").unwrap();
    let q = rpc.ok("sendMessageReadReceipt", json!({"messageIDs": ["m2"]}));
    assert_eq!(q["queued"], json!(["m2"]));
    assert!(rpc.close().success());
}
