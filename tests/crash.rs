//! Crash tests: a child `receiptdb rpc` is killed with SIGKILL at seeded
//! random moments while it queues receipts; after reopening, every receipt
//! whose call returned success is pending, in exactly one batch, and the
//! store passes `PRAGMA integrity_check`.

mod common;
use common::Rng;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use receiptdb::{ConversationType, IncomingMessage, ReceiptSentState, Store};
use serde_json::{json, Value};

const MESSAGES: usize = 1500;

fn conv_of(i: usize) -> usize {
    i % 3
}

fn prepare(path: &std::path::Path) {
    let store = Store::open(path, "alice").expect("open");
    let msgs: Vec<IncomingMessage> = (0..MESSAGES)
        .map(|i| {
            let peer = ["bob", "carol", "dave"][conv_of(i)];
            IncomingMessage {
                id: format!("m{i}"),
                conversation_type: Some(ConversationType::C2C),
                from: peer.into(),
                to: "alice".into(),
                time: i as i64,
                sequence: i as i64,
                need_read_receipt: true,
                ..Default::default()
            }
        })
        .collect();
    for chunk in msgs.chunks(500) {
        store.save_messages(chunk).expect("seed");
    }
}

/// Runs one kill point; returns how many receipts were confirmed before the kill.
fn crash_once(seed: u64) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    prepare(&path);
    let mut rng = Rng(seed);

    // Requests: receipts for 1..5 messages of one conversation, in random order.
    let mut todo: Vec<usize> = (0..MESSAGES).collect();
    for i in (1..todo.len()).rev() {
        todo.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut requests = Vec::new();
    let mut by_conv: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in todo {
        let c = by_conv.entry(conv_of(i)).or_default();
        c.push(i);
        if c.len() as u64 > rng.below(5) {
            requests.push(std::mem::take(c));
        }
    }
    requests.extend(by_conv.into_values().filter(|v| !v.is_empty()));

    let mut child = Command::new(common::receiptdb_bin())
        .args(["rpc", "--db"])
        .arg(&path)
        .args(["--user", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let sent: Arc<Mutex<HashMap<u64, Vec<usize>>>> = Arc::default();
    let confirmed: Arc<Mutex<BTreeSet<usize>>> = Arc::default();

    let reader = {
        let sent = Arc::clone(&sent);
        let confirmed = Arc::clone(&confirmed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let (Some(id), Some(result)) =
                    (v.get("id").and_then(Value::as_u64), v.get("result"))
                else {
                    continue;
                };
                assert!(result.get("queued").is_some(), "unexpected response {line}");
                if let Some(ids) = sent.lock().expect("lock").get(&id) {
                    confirmed.lock().expect("lock").extend(ids.iter().copied());
                }
            }
        })
    };
    // Kill after a random delay while the writer keeps sending.
    // Kill after a seeded number of confirmed requests plus a short seeded
    // delay: the kill lands mid-stream however loaded the machine is.
    let target = 1 + rng.below(requests.len() as u64 / 2) as usize;
    let delay = Duration::from_micros(rng.below(2_000));
    let responses = Arc::clone(&confirmed);
    let writer = std::thread::spawn(move || {
        for (n, req) in requests.into_iter().enumerate() {
            let ids: Vec<String> = req.iter().map(|i| format!("m{i}")).collect();
            sent.lock().expect("lock").insert(n as u64, req);
            let line = json!({"jsonrpc":"2.0","id": n,"method":"sendMessageReadReceipt","params":{"messageIDs": ids}});
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
            let _ = stdin.flush();
        }
    });
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while responses.lock().expect("lock").len() < target && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    let _ = writer.join();
    let _ = reader.join();
    let confirmed = confirmed.lock().expect("lock").clone();

    let store = Store::open(&path, "alice").expect("reopen after kill");
    assert_eq!(
        store.integrity_check().expect("check"),
        vec!["ok".to_string()]
    );
    let batches = store.get_pending_receipts(Some(100)).expect("pending");
    let mut in_batches: HashMap<String, usize> = HashMap::new();
    for b in &batches {
        for id in &b.message_ids {
            *in_batches.entry(id.clone()).or_default() += 1;
        }
    }
    for i in &confirmed {
        let id = format!("m{i}");
        assert_eq!(
            in_batches.get(&id),
            Some(&1),
            "seed {seed}: confirmed receipt {id} not in exactly one batch"
        );
        let m = store.find_message(&id).expect("find").expect("held");
        assert_eq!(m.receipt_sent_state, Some(ReceiptSentState::Pending));
    }
    // Nothing is in a batch twice, confirmed or not.
    assert!(in_batches.values().all(|n| *n == 1));
    confirmed.len()
}

/// Twelve seeded kill points over the same workload.
#[test]
fn killed_rpc_keeps_every_confirmed_receipt() {
    let mut mid_stream = 0;
    for seed in 1..=12u64 {
        let n = crash_once(seed * 7919);
        if n > 0 && n < MESSAGES {
            mid_stream += 1;
        }
    }
    // The kills must land mid-stream, or the test proves nothing.
    assert!(mid_stream >= 3, "only {mid_stream} kills landed mid-stream");
}
