//! Costs that must grow linearly with the input (issue 14): 10× the input
//! costs at most 12× the time. Each case runs at n and 10·n beside a
//! raw-rusqlite baseline doing the comparable SQL in the same run, and
//! prints the growth ratios at the end (see BENCHMARKS.md).
//!
//! Run: `cargo bench --bench linear_costs` (a few minutes on 2 cores).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::Criterion;
use receiptdb::{ConversationType, GroupType, IncomingMessage, Member, ReceiptNotification, Store};
use rusqlite::{params, Connection};

thread_local! {
    static TIMES: RefCell<BTreeMap<String, Vec<f64>>> = const { RefCell::new(BTreeMap::new()) };
}

fn record(name: &str, d: Duration) {
    TIMES.with(|t| {
        t.borrow_mut()
            .entry(name.to_string())
            .or_default()
            .push(d.as_secs_f64())
    });
}

fn median(name: &str) -> f64 {
    TIMES.with(|t| {
        let mut v = t.borrow().get(name).cloned().unwrap_or_default();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    })
}

fn raw(path: &Path) -> Connection {
    let c = Connection::open(path).expect("raw open");
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("wal");
    c.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    c
}

fn notes(n: usize) -> Vec<ReceiptNotification> {
    (0..n)
        .map(|i| ReceiptNotification {
            message_id: format!("unknown{i:07}"),
            read_count: Some(1),
            reader_ids: Some(vec!["bob".into()]),
            ..Default::default()
        })
        .collect()
}

/// One applyReceiptNotifications of n unknown IDs (past the 10,000 bound
/// at 30,000: eviction) vs raw inserts of the same rows into a buffer table.
fn early(c: &mut Criterion) {
    let mut g = c.benchmark_group("early_unknown_ids");
    g.sample_size(10);
    for n in [3_000usize, 30_000] {
        let input = notes(n);
        g.bench_function(format!("receiptdb/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = tempfile::tempdir().expect("dir");
                    let s = Store::open(d.path().join("s.db"), "alice").expect("open");
                    let t = Instant::now();
                    s.apply_receipt_notifications(&input).expect("apply");
                    let e = t.elapsed();
                    record(&format!("early/receiptdb/{n}"), e);
                    total += e;
                }
                total
            })
        });
        g.bench_function(format!("raw/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = tempfile::tempdir().expect("dir");
                    let mut c = raw(&d.path().join("r.db"));
                    c.execute_batch(
                        "CREATE TABLE e(message_id TEXT, conversation_id TEXT, read_count INTEGER,
                            seq INTEGER, PRIMARY KEY(message_id, conversation_id)) WITHOUT ROWID;
                         CREATE TABLE r(message_id TEXT, conversation_id TEXT, user_id TEXT,
                            PRIMARY KEY(message_id, conversation_id, user_id)) WITHOUT ROWID;",
                    )
                    .expect("schema");
                    let t = Instant::now();
                    let tx = c.transaction().expect("tx");
                    for (i, x) in input.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO e VALUES (?1, '', 1, ?2)",
                            params![x.message_id, i as i64],
                        )
                        .expect("ins");
                        tx.execute(
                            "INSERT INTO r VALUES (?1, '', 'bob')",
                            params![x.message_id],
                        )
                        .expect("ins");
                    }
                    tx.commit().expect("commit");
                    let e = t.elapsed();
                    record(&format!("early/raw/{n}"), e);
                    total += e;
                }
                total
            })
        });
    }
    g.finish();
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:07}")).collect()
}

/// A store with group g of 100 members and 1,000 sent receipt messages.
fn group_store(path: &Path) -> Store {
    let s = Store::open(path, "alice").expect("open");
    let mut m: Vec<Member> = users(100).into_iter().map(Member::new).collect();
    m.push(Member::new("alice"));
    s.set_group("g", GroupType::Work, &m).expect("group");
    for chunk in 0..2 {
        let msgs: Vec<IncomingMessage> = (0..500)
            .map(|i| {
                let k = chunk * 500 + i;
                IncomingMessage {
                    id: format!("m{k:05}"),
                    conversation_type: Some(ConversationType::Group),
                    from: "alice".into(),
                    to: "g".into(),
                    time: 1_000 + k as i64,
                    sequence: 1 + k as i64,
                    need_read_receipt: true,
                    ..Default::default()
                }
            })
            .collect();
        s.save_messages(&msgs).expect("save");
    }
    s
}

/// addGroupMembers of n new members (half with a join time inside the
/// messages' range) on a group with 1,000 receipt messages, vs raw inserts
/// of the member rows.
fn add_members(c: &mut Criterion) {
    let mut g = c.benchmark_group("add_group_members");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        let new: Vec<Member> = (0..n)
            .map(|i| Member {
                user_id: format!("new{i:07}"),
                join_time: (i % 2 == 0).then_some(1_000 + (i % 1_000) as i64),
            })
            .collect();
        g.bench_function(format!("receiptdb/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = tempfile::tempdir().expect("dir");
                    let s = group_store(&d.path().join("s.db"));
                    let t = Instant::now();
                    s.add_group_members("g", &new).expect("add");
                    let e = t.elapsed();
                    record(&format!("members/receiptdb/{n}"), e);
                    total += e;
                }
                total
            })
        });
        g.bench_function(format!("raw/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = tempfile::tempdir().expect("dir");
                    let mut c = raw(&d.path().join("r.db"));
                    c.execute_batch(
                        "CREATE TABLE members(group_id TEXT, user_id TEXT, join_time INTEGER,
                            PRIMARY KEY(group_id, user_id)) WITHOUT ROWID;",
                    )
                    .expect("schema");
                    let t = Instant::now();
                    let tx = c.transaction().expect("tx");
                    for m in &new {
                        tx.execute(
                            "INSERT INTO members VALUES ('g', ?1, ?2)",
                            params![m.user_id, m.join_time],
                        )
                        .expect("ins");
                    }
                    tx.commit().expect("commit");
                    let e = t.elapsed();
                    record(&format!("members/raw/{n}"), e);
                    total += e;
                }
                total
            })
        });
    }
    g.finish();
}

fn report() {
    println!("\n| case | receiptdb n | receiptdb 10n | growth (≤ 12×) | raw n | raw 10n | receiptdb/raw at 10n |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (case, n) in [("early", 3_000), ("members", 1_000)] {
        let (a, b) = (
            median(&format!("{case}/receiptdb/{n}")),
            median(&format!("{case}/receiptdb/{}", n * 10)),
        );
        let (ra, rb) = (
            median(&format!("{case}/raw/{n}")),
            median(&format!("{case}/raw/{}", n * 10)),
        );
        println!(
            "| {case} | {:.1} ms | {:.1} ms | {:.2}× | {:.1} ms | {:.1} ms | {:.2}× |",
            a * 1e3,
            b * 1e3,
            b / a,
            ra * 1e3,
            rb * 1e3,
            b / rb
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    early(&mut c);
    add_members(&mut c);
    c.final_summary();
    report();
}
