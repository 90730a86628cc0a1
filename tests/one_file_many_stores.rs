//! One file opened by several stores in one process while other processes
//! come and go. POSIX record locks belong to the process and the file:
//! closing any descriptor of the file drops all of the process's locks on
//! it, so a store must never open or close the file outside SQLite. Were
//! it to, a visiting process would take the exclusive lock on close,
//! checkpoint and delete the `-wal`/`-shm` the holder still writes to, and
//! the holder's later acknowledged writes would be invisible to others and
//! lost at kill -9.
//!
//! The holder runs in a child process (this test binary re-run with
//! `HOLDER_PATH` set): two stores on the file, a refused open as another
//! user now and then, and a stream of acknowledged saves printed to stdout.
//! The parent sends visitors (`receiptdb rpc`) that open, check the newest
//! acknowledged save is visible, save one message of their own and close;
//! then it kills the holder with SIGKILL and checks every acknowledged save.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{path_in, temp_dir, Rpc, OWNER};
use receiptdb::{ConversationType, IncomingMessage, Store};
use serde_json::json;

const TRIALS: usize = 10;
const VISITORS: usize = 4;

fn message(id: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.to_string(),
        conversation_type: Some(ConversationType::C2C),
        from: "bob".to_string(),
        to: OWNER.to_string(),
        time: seq,
        sequence: seq,
        ..Default::default()
    }
}

/// The child's role: runs only when the parent sets `HOLDER_PATH`.
#[test]
fn holder_role() {
    let Ok(path) = std::env::var("HOLDER_PATH") else {
        return;
    };
    let a = Store::open(&path, OWNER).expect("open a");
    a.save_messages(&[message("h0", 1)]).expect("first save");
    // The second store opens while the first holds the file with its WAL open.
    let b = Store::open(&path, OWNER).expect("open b");
    let mut out = std::io::stdout();
    writeln!(out, "ack h0").expect("stdout");
    for i in 1..1_000_000i64 {
        if i % 7 == 0 {
            assert!(
                Store::open(&path, "mallory").is_err(),
                "another user's open is refused"
            );
        }
        let s = if i % 2 == 0 { &a } else { &b };
        s.save_messages(&[message(&format!("h{i}"), i + 1)])
            .expect("save");
        writeln!(out, "ack h{i}").expect("stdout");
        out.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn two_stores_in_one_process_lose_nothing_while_others_come_and_go() {
    let exe = std::env::current_exe().expect("test binary");
    let mut lost_trials = Vec::new();
    for trial in 0..TRIALS {
        let dir = temp_dir();
        let path = path_in(&dir, "shared.db");
        drop(Store::open(&path, OWNER).expect("create"));
        let mut holder = Command::new(&exe)
            .args(["--exact", "holder_role", "--nocapture", "--test-threads=1"])
            .env("HOLDER_PATH", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn holder");
        let stdout = holder.stdout.take().expect("holder stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if let Some(id) = line.strip_prefix("ack ") {
                    if tx.send(id.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut acked: Vec<String> = Vec::new();
        let drain = |acked: &mut Vec<String>, wait: Duration| {
            let deadline = Instant::now() + wait;
            while let Ok(id) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                acked.push(id);
                if Instant::now() >= deadline {
                    break;
                }
            }
        };
        drain(&mut acked, Duration::from_millis(300));
        assert!(
            !acked.is_empty(),
            "trial {trial}: the holder acknowledged nothing"
        );
        let mut visitor_ids = Vec::new();
        let mut invisible = Vec::new();
        for v in 0..VISITORS {
            drain(&mut acked, Duration::from_millis(60));
            let newest = acked.last().cloned().expect("an ack");
            let mut rpc = Rpc::spawn(&path, OWNER);
            let found = rpc.ok("findMessage", json!({"messageID": newest}));
            if found.is_null() {
                invisible.push(newest);
            }
            let id = format!("v{trial}_{v}");
            let seq = 1_000_000 + v as i64;
            rpc.ok(
                "saveMessages",
                json!({"messages": [{"ID": id, "conversationType": "C2C", "from": "bob",
                        "to": OWNER, "time": seq, "sequence": seq}]}),
            );
            assert!(rpc.close().success(), "visitor exit status");
            visitor_ids.push(id);
        }
        drain(&mut acked, Duration::from_millis(100));
        let _ = holder.kill(); // SIGKILL
        let _ = holder.wait();
        // Lines already read are acknowledged writes; take the rest too.
        drain(&mut acked, Duration::from_millis(50));
        let store = Store::open(&path, OWNER).expect("reopen after kill");
        let missing: Vec<&String> = acked
            .iter()
            .chain(&visitor_ids)
            .filter(|id| store.find_message(id).expect("find").is_none())
            .collect();
        let report = store.integrity_check().expect("check");
        assert_eq!(report, vec!["ok".to_string()], "trial {trial}: integrity");
        if !missing.is_empty() || !invisible.is_empty() {
            lost_trials.push(format!(
                "trial {trial}: {} of {} acknowledged saves missing after reopen \
                 (first {:?}); newest ack invisible to {} visitor(s)",
                missing.len(),
                acked.len() + visitor_ids.len(),
                missing.first(),
                invisible.len()
            ));
        }
    }
    assert!(lost_trials.is_empty(), "{lost_trials:#?}");
}
