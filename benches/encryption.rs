//! What encryption at rest (SQLCipher, `OpenOptions::key`) costs on the hot
//! paths: each path with and without a key, through receiptdb and through a
//! raw-rusqlite baseline doing the same SQL work on the same SQLCipher build
//! in the same run. Prints a ratio table at the end (see BENCHMARKS.md).
//!
//! Run: `cargo bench --bench encryption` (about 2 minutes on 2 cores).

#[path = "support/report.rs"]
mod report;

use std::cell::Cell;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion};
use receiptdb::{
    ConversationType, Durability, GroupType, IncomingMessage, Member, MemberFilter, OpenOptions,
    ReceiptNotification, Store,
};
use report::{fmt_ns, median_ns};
use rusqlite::{params, Connection};

const KEY: &str = "correct horse battery staple";

fn opts(keyed: bool, full: bool) -> OpenOptions {
    let o = OpenOptions::new().durability(if full {
        Durability::Full
    } else {
        Durability::Normal
    });
    if keyed {
        o.key(KEY)
    } else {
        o
    }
}

fn store(path: &Path, keyed: bool, full: bool) -> Store {
    Store::open_with(path, "alice", opts(keyed, full)).expect("open")
}

/// A raw connection with the settings of a store (WAL, the same page cache,
/// the same planner setting).
fn raw(path: &Path, keyed: bool, full: bool) -> Connection {
    let c = Connection::open(path).expect("raw open");
    if keyed {
        c.pragma_update(None, "key", KEY).expect("key");
    }
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("wal");
    c.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })
        .expect("sync");
    c.pragma_update(None, "cache_size", -16_384).expect("cache");
    // The store's planner setting: else the keyset page below is planned
    // again at every use (its bound value expires the cached plan).
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .expect("qpsg");
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, conv TEXT, seq INTEGER, payload TEXT);
         CREATE TABLE IF NOT EXISTS readers (rid INTEGER, user_id TEXT, PRIMARY KEY (rid, user_id)) WITHOUT ROWID;",
    )
    .expect("tables");
    c
}

fn label(keyed: bool) -> &'static str {
    if keyed {
        "keyed"
    } else {
        "plain"
    }
}

fn in_msg(id: String, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id,
        conversation_type: Some(ConversationType::Group),
        from: "bob".into(),
        to: "team".into(),
        time: seq,
        sequence: seq,
        need_read_receipt: true,
        ..Default::default()
    }
}

fn members(n: usize) -> Vec<Member> {
    let mut m: Vec<Member> = (0..n)
        .map(|i| Member {
            user_id: format!("user{i:07}"),
            join_time: None,
        })
        .collect();
    m.push(Member {
        user_id: "alice".into(),
        join_time: None,
    });
    m
}

fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// One `saveMessages` of 1,000 new `in` group messages; raw: 1,000 inserts
/// in one transaction.
fn save(c: &mut Criterion, dir: &Path) {
    let mut g = c.benchmark_group("enc_save_1000_in");
    for keyed in [false, true] {
        let s = store(&dir.join(format!("save_{}.db", label(keyed))), keyed, false);
        s.set_group("team", GroupType::Work, &members(10))
            .expect("group");
        let next = Cell::new(0i64);
        g.bench_function(format!("receiptdb_{}", label(keyed)), |b| {
            b.iter(|| {
                let base = next.get();
                next.set(base + 1000);
                let batch: Vec<_> = (base..base + 1000)
                    .map(|i| in_msg(format!("m{i}"), i + 1))
                    .collect();
                black_box(s.save_messages(&batch).expect("save"))
            })
        });
        let r = raw(
            &dir.join(format!("save_raw_{}.db", label(keyed))),
            keyed,
            false,
        );
        let next = Cell::new(0i64);
        g.bench_function(format!("raw_{}", label(keyed)), |b| {
            b.iter(|| {
                let base = next.get();
                next.set(base + 1000);
                let tx = r.unchecked_transaction().expect("tx");
                {
                    let mut st = tx
                        .prepare_cached(
                            "INSERT INTO messages(id, conv, seq, payload) VALUES (?1, 'GROUPteam', ?2, '{}')",
                        )
                        .expect("prep");
                    for i in base..base + 1000 {
                        st.execute(params![format!("m{i}"), i + 1]).expect("ins");
                    }
                }
                tx.commit().expect("commit")
            })
        });
    }
    g.finish();
}

/// One `sendMessageReadReceipt` of one message under `Durability::Full` (a
/// durable save per call); raw: one insert per transaction, `synchronous=FULL`.
fn durable_receipt(c: &mut Criterion, dir: &Path) {
    settle();
    let mut g = c.benchmark_group("enc_receipt_full");
    for keyed in [false, true] {
        let s = store(&dir.join(format!("send_{}.db", label(keyed))), keyed, true);
        s.set_group("team", GroupType::Work, &members(10))
            .expect("group");
        let next = Cell::new(0i64);
        g.bench_function(format!("receiptdb_{}", label(keyed)), |b| {
            b.iter_batched(
                || {
                    let i = next.get();
                    next.set(i + 1);
                    let id = format!("m{i}");
                    s.save_messages(&[in_msg(id.clone(), i + 1)]).expect("save");
                    vec![id]
                },
                |ids| black_box(s.send_message_read_receipt(&ids).expect("send")),
                BatchSize::SmallInput,
            )
        });
        let r = raw(
            &dir.join(format!("send_raw_{}.db", label(keyed))),
            keyed,
            true,
        );
        let next = Cell::new(0i64);
        g.bench_function(format!("raw_{}", label(keyed)), |b| {
            b.iter(|| {
                let i = next.get();
                next.set(i + 1);
                r.execute(
                    "INSERT INTO messages(id, conv, seq, payload) VALUES (?1, 'GROUPteam', ?2, '{}')",
                    params![format!("m{i}"), i + 1],
                )
                .expect("ins")
            })
        });
    }
    g.finish();
}

/// The first read page of 100 of a 2,000-member group's message that 1,000
/// read; raw: a keyset page of 100 reader rows.
fn read_page(c: &mut Criterion, dir: &Path) {
    let mut g = c.benchmark_group("enc_read_page_100_of_2000");
    for keyed in [false, true] {
        let s = store(&dir.join(format!("page_{}.db", label(keyed))), keyed, false);
        s.set_group("team", GroupType::Work, &members(2000))
            .expect("group");
        let mut m = in_msg("out1".into(), 1);
        m.from = "alice".into();
        s.save_messages(&[m]).expect("save");
        let readers: Vec<String> = (0..1000).map(|i| format!("user{:07}", i * 2)).collect();
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: "out1".into(),
            group_id: Some("team".into()),
            reader_ids: Some(readers.clone()),
            ..Default::default()
        }])
        .expect("notify");
        let filter = MemberFilter::from_code(0).expect("filter");
        settle();
        g.bench_function(format!("receiptdb_{}", label(keyed)), |b| {
            b.iter(|| {
                black_box(
                    s.get_group_message_read_member_list("out1", filter, "", 100)
                        .expect("page"),
                )
            })
        });
        let r = raw(
            &dir.join(format!("page_raw_{}.db", label(keyed))),
            keyed,
            false,
        );
        {
            let tx = r.unchecked_transaction().expect("tx");
            for u in &readers {
                tx.execute(
                    "INSERT OR IGNORE INTO readers(rid, user_id) VALUES (1, ?1)",
                    params![u],
                )
                .expect("ins");
            }
            tx.commit().expect("commit");
        }
        g.bench_function(format!("raw_{}", label(keyed)), |b| {
            b.iter(|| {
                let mut st = r
                    .prepare_cached(
                        "SELECT user_id FROM readers WHERE rid = 1 AND user_id > ?1 ORDER BY user_id LIMIT 100",
                    )
                    .expect("prep");
                let v: Vec<String> = st
                    .query_map(params![""], |row| row.get(0))
                    .expect("q")
                    .collect::<rusqlite::Result<_>>()
                    .expect("rows");
                black_box(v)
            })
        });
    }
    g.finish();
}

/// Opening a store (each keyed connection derives its key with PBKDF2);
/// raw: a connection, its key, and one read.
fn open(c: &mut Criterion, dir: &Path) {
    let mut g = c.benchmark_group("enc_open");
    g.sample_size(20);
    for keyed in [false, true] {
        let p = dir.join(format!("open_{}.db", label(keyed)));
        drop(store(&p, keyed, false));
        g.bench_function(format!("receiptdb_{}", label(keyed)), |b| {
            b.iter(|| drop(black_box(store(&p, keyed, false))))
        });
        let rp = dir.join(format!("open_raw_{}.db", label(keyed)));
        drop(raw(&rp, keyed, false));
        g.bench_function(format!("raw_{}", label(keyed)), |b| {
            b.iter(|| {
                let c = Connection::open(&rp).expect("open");
                if keyed {
                    c.pragma_update(None, "key", KEY).expect("key");
                }
                let n: i64 = c
                    .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                    .expect("read");
                black_box(n)
            })
        });
    }
    g.finish();
}

fn table() {
    println!(
        "\n| path | receiptdb plain | receiptdb keyed | keyed / plain | raw plain | raw keyed | raw keyed / plain |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for g in [
        "enc_save_1000_in",
        "enc_receipt_full",
        "enc_read_page_100_of_2000",
        "enc_open",
    ] {
        let m = |f: &str| median_ns(g, f);
        if let (Some(a), Some(b), Some(c), Some(d)) = (
            m("receiptdb_plain"),
            m("receiptdb_keyed"),
            m("raw_plain"),
            m("raw_keyed"),
        ) {
            println!(
                "| {g} | {} | {} | {:.2}× | {} | {} | {:.2}× |",
                fmt_ns(a),
                fmt_ns(b),
                b / a,
                fmt_ns(c),
                fmt_ns(d),
                d / c
            );
        }
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    save(&mut c, dir.path());
    durable_receipt(&mut c, dir.path());
    read_page(&mut c, dir.path());
    open(&mut c, dir.path());
    c.final_summary();
    table();
}
