//! Hot paths of receiptdb beside a raw-rusqlite baseline doing the same SQL
//! work in the same run. Prints a ratio table at the end (see BENCHMARKS.md).
//!
//! Run: `cargo bench --bench hot_paths` (about 6–8 minutes on 2 cores).
//! Quick look: `cargo bench --bench hot_paths -- notify` (criterion filter).

#[path = "../tests/common/bin.rs"]
mod bin;
#[path = "support/report.rs"]
mod report;

use std::cell::Cell;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use receiptdb::{
    ConversationType, Durability, Filter, GroupType, IncomingMessage, Member, MemberFilter,
    OpenOptions, ReceiptConfigPatch, ReceiptNotification, SnapshotReceipt, Store,
};
use report::{fmt_ns, median_ns};
use rusqlite::{params, Connection};

fn raw(path: &Path, full: bool) -> Connection {
    let c = Connection::open(path).expect("raw open");
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("wal");
    c.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })
        .expect("sync");
    // The same page cache as a receiptdb store.
    c.pragma_update(None, "cache_size", -16_384).expect("cache");
    // And the same planner setting: without it a keyset statement
    // (`user_id > ?2`) is parsed and planned again at each new cursor value,
    // 44k instructions a page that the store does not pay.
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .expect("qpsg");
    c
}

fn store(path: &Path, full: bool) -> Store {
    let durability = if full {
        Durability::Full
    } else {
        Durability::Normal
    };
    Store::open_with(path, "alice", OpenOptions::new().durability(durability)).expect("open")
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:07}")).collect()
}

fn group_msg(id: &str, group: &str) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::Group),
        from: "alice".into(),
        to: group.into(),
        time: 100,
        sequence: 1,
        need_read_receipt: true,
        ..Default::default()
    }
}

fn set_group(s: &Store, g: &str, n: usize) {
    let mut m: Vec<Member> = users(n).into_iter().map(Member::new).collect();
    m.push(Member::new("alice"));
    s.set_group(g, GroupType::Work, &m).expect("group");
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// applyReceiptNotifications with 1,000 new readers a call vs raw INSERT OR
/// IGNORE of the same rows in one transaction; with both durability settings.
fn notify(c: &mut Criterion) {
    for full in [false, true] {
        let d = dir();
        let s = store(&d.path().join("s.db"), full);
        set_group(&s, "g", 2000);
        let readers = users(1000);
        let n = Cell::new(0u64);
        let name = if full {
            "notify_1000_readers_full"
        } else {
            "notify_1000_readers"
        };
        settle();
        let mut g = c.benchmark_group(name);
        g.sample_size(30);
        g.bench_function("receiptdb", |b| {
            b.iter_batched(
                || {
                    n.set(n.get() + 1);
                    let id = format!("m{}", n.get());
                    s.save_messages(&[group_msg(&id, "g")]).expect("save");
                    id
                },
                |id| {
                    let r = s
                        .apply_receipt_notifications(&[ReceiptNotification {
                            message_id: id,
                            reader_ids: Some(readers.clone()),
                            ..Default::default()
                        }])
                        .expect("apply");
                    assert_eq!(r.len(), 1);
                },
                BatchSize::PerIteration,
            )
        });
        let rc = raw(&d.path().join("raw.db"), full);
        rc.execute_batch(
            "CREATE TABLE readers (rid INTEGER NOT NULL, user_id TEXT NOT NULL,
             PRIMARY KEY (rid, user_id)) WITHOUT ROWID",
        )
        .expect("schema");
        let rid = Cell::new(0i64);
        g.bench_function("raw", |b| {
            b.iter(|| {
                rid.set(rid.get() + 1);
                rc.execute_batch("BEGIN IMMEDIATE").expect("begin");
                {
                    let mut st = rc
                        .prepare_cached(
                            "INSERT OR IGNORE INTO readers(rid, user_id) VALUES (?1, ?2)",
                        )
                        .expect("prep");
                    for r in &readers {
                        st.execute(params![rid.get(), r]).expect("ins");
                    }
                }
                rc.execute_batch("COMMIT").expect("commit");
            })
        });
        g.finish();
    }
}

/// applySnapshot of 100,000 receipt states (every one changes) vs a raw upsert.
fn snapshot(c: &mut Criterion) {
    const N: usize = 100_000;
    let d = dir();
    let s = store(&d.path().join("s.db"), false);
    set_group(&s, "g", 10);
    let ids: Vec<String> = (0..N).map(|i| format!("msg{i:07}")).collect();
    for chunk in ids.chunks(1000) {
        let msgs: Vec<_> = chunk.iter().map(|id| group_msg(id, "g")).collect();
        s.save_messages(&msgs).expect("save");
    }
    let round = Cell::new(0u64);
    settle();
    let mut g = c.benchmark_group("snapshot_100k_states");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("receiptdb", |b| {
        b.iter_batched(
            || {
                round.set(round.get() + 1);
                let rc = round.get();
                ids.iter()
                    .map(|id| SnapshotReceipt {
                        message_id: id.clone(),
                        read_count: Some(rc),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>()
            },
            |items| {
                let changed = s
                    .apply_snapshot_receipts("GROUPg", items)
                    .expect("snapshot");
                assert_eq!(changed.len(), N);
            },
            BatchSize::PerIteration,
        )
    });
    let rc = raw(&d.path().join("raw.db"), false);
    rc.execute_batch("CREATE TABLE states (id TEXT PRIMARY KEY, read_count INTEGER NOT NULL, unread_count INTEGER)")
        .expect("schema");
    {
        let tx = rc.unchecked_transaction().expect("tx");
        for id in &ids {
            tx.execute("INSERT INTO states VALUES (?1, 0, 10)", params![id])
                .expect("ins");
        }
        tx.commit().expect("commit");
    }
    let round = Cell::new(0i64);
    g.bench_function("raw", |b| {
        b.iter(|| {
            round.set(round.get() + 1);
            let tx = rc.unchecked_transaction().expect("tx");
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO states(id, read_count, unread_count) VALUES (?1, ?2, NULL)
                         ON CONFLICT(id) DO UPDATE SET read_count = MAX(read_count, excluded.read_count),
                           unread_count = COALESCE(MIN(unread_count, excluded.unread_count), unread_count)",
                    )
                    .expect("prep");
                for id in &ids {
                    st.execute(params![id, round.get()]).expect("upsert");
                }
            }
            tx.commit().expect("commit");
        })
    });
    g.finish();
}

/// sendMessageReadReceipt of 30 messages vs one raw transaction writing the
/// same state and outbox rows; with both durability settings.
fn send(c: &mut Criterion) {
    for full in [false, true] {
        let d = dir();
        let path = d.path().join("s.db");
        let s = store(&path, full);
        let n = Cell::new(0u64);
        let name = if full {
            "send_receipt_30_full"
        } else {
            "send_receipt_30_normal"
        };
        settle();
        let mut g = c.benchmark_group(name);
        // Single calls of ~200 µs on a shared VM: many samples, so the
        // median does not follow a few slow commits (WAL checkpoints).
        g.sample_size(200);
        g.measurement_time(Duration::from_secs(10));
        g.bench_function("receiptdb", |b| {
            b.iter_batched(
                || {
                    let ids: Vec<String> = (0..30)
                        .map(|_| {
                            n.set(n.get() + 1);
                            format!("in{}", n.get())
                        })
                        .collect();
                    let msgs: Vec<_> = ids
                        .iter()
                        .map(|id| IncomingMessage {
                            id: id.clone(),
                            conversation_type: Some(ConversationType::C2C),
                            from: "bob".into(),
                            to: "alice".into(),
                            need_read_receipt: true,
                            ..Default::default()
                        })
                        .collect();
                    s.save_messages(&msgs).expect("save");
                    ids
                },
                |ids| {
                    let q = s.send_message_read_receipt(&ids).expect("send");
                    assert_eq!(q.len(), 30);
                },
                BatchSize::PerIteration,
            )
        });
        // Raw: the same rows on a copy of the schema, by rowid.
        let rpath = d.path().join("raw.db");
        drop(store(&rpath, full));
        let rc = raw(&rpath, full);
        let next = Cell::new(0i64);
        // 30 new `in` messages needing a receipt; returns the first rowid.
        let seed = || {
            let first = next.get() + 1;
            let tx = rc.unchecked_transaction().expect("tx");
            for i in 0..30 {
                tx.execute(
                    "INSERT INTO messages(rid, id, conversation_id, conversation_type, sender, recipient,
                        time, sequence, is_out, status, need_receipt, payload)
                     VALUES (?1, 'r' || ?1, 'C2Cbob', 'C2C', 'bob', 'alice', 0, 0, 0, 'success', 1, '{}')",
                    params![first + i],
                )
                .expect("seed");
            }
            tx.commit().expect("commit");
            next.set(first + 29);
            first
        };
        g.bench_function("raw", |b| {
            b.iter_batched(
                &seed,
                |first| {
                    rc.execute_batch("BEGIN IMMEDIATE").expect("begin");
                    {
                        let mut up = rc.prepare_cached("UPDATE messages SET sent_state = 1 WHERE rid = ?1 AND sent_state = 0").expect("p");
                        let mut ins = rc.prepare_cached("INSERT INTO outbox(rid, conversation_id) VALUES (?1, 'C2Cbob')").expect("p");
                        for i in 0..30 {
                            up.execute(params![first + i]).expect("up");
                            ins.execute(params![first + i]).expect("ins");
                        }
                    }
                    rc.execute_batch("COMMIT").expect("commit");
                },
                BatchSize::PerIteration,
            )
        });
        // Raw by ID: the API gets message IDs, so it must find each row
        // through the ID index as well; the same writes.
        g.bench_function("raw_by_id", |b| {
            b.iter_batched(
                || {
                    let first = seed();
                    (first..first + 30).map(|i| format!("r{i}")).collect::<Vec<_>>()
                },
                |ids| {
                    rc.execute_batch("BEGIN IMMEDIATE").expect("begin");
                    {
                        let mut find = rc.prepare_cached("SELECT rid FROM messages WHERE id = ?1").expect("p");
                        let mut up = rc.prepare_cached("UPDATE messages SET sent_state = 1 WHERE rid = ?1 AND sent_state = 0").expect("p");
                        let mut ins = rc.prepare_cached("INSERT INTO outbox(rid, conversation_id) VALUES (?1, 'C2Cbob')").expect("p");
                        for id in &ids {
                            let rid: i64 = find.query_row(params![id], |r| r.get(0)).expect("find");
                            up.execute(params![rid]).expect("up");
                            ins.execute(params![rid]).expect("ins");
                        }
                    }
                    rc.execute_batch("COMMIT").expect("commit");
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

/// getMessageReadReceiptList of 100 messages vs 100 raw primary-key lookups.
fn receipt_list(c: &mut Criterion) {
    let d = dir();
    let path = d.path().join("s.db");
    let s = store(&path, false);
    set_group(&s, "g", 50);
    let ids: Vec<String> = (0..100).map(|i| format!("rl{i:03}")).collect();
    let msgs: Vec<_> = ids.iter().map(|id| group_msg(id, "g")).collect();
    s.save_messages(&msgs).expect("save");
    settle();
    let mut g = c.benchmark_group("receipt_list_100");
    g.bench_function("receiptdb", |b| {
        b.iter(|| black_box(s.get_message_read_receipt_list(&ids).expect("list")))
    });
    let rc = raw(&path, false);
    g.bench_function("raw", |b| {
        b.iter(|| {
            let tx = rc.unchecked_transaction().expect("tx");
            {
                // The same columns the API returns, read into owned values.
                let mut st = tx
                    .prepare_cached(
                        "SELECT m.rid, m.id, m.conversation_id, m.conversation_type, m.sender,
                            m.recipient, m.time, m.sequence, m.is_out, m.status, m.need_receipt,
                            m.payload, m.is_peer_read, r.read_count, r.unread_count, r.peer_read,
                            m.sent_state
                         FROM messages m JOIN receipts r ON r.rid = m.rid WHERE m.id = ?1",
                    )
                    .expect("prep");
                for id in &ids {
                    let row: Vec<rusqlite::types::Value> = st
                        .query_row(params![id], |r| (0..17).map(|i| r.get(i)).collect())
                        .expect("row");
                    black_box(row);
                }
            }
            tx.commit().expect("commit");
        })
    });
    g.finish();
}

fn in_msg(id: String, peer: &str, seq: i64, time: i64) -> IncomingMessage {
    IncomingMessage {
        id,
        conversation_type: Some(ConversationType::C2C),
        from: peer.into(),
        to: "alice".into(),
        time,
        sequence: seq,
        ..Default::default()
    }
}

/// setMessageRead on a conversation of 100,000 messages (each call moves the
/// position by one: only the messages the move covers are counted) vs a raw
/// one-row update plus the same count; getConversationList page of 15 out of 10,000
/// conversations vs the raw keyset query; the total unread count (10,000
/// conversations) vs reading one meta row.
fn conversations(c: &mut Criterion) {
    let d = dir();
    let path = d.path().join("s.db");
    let s = store(&path, false);
    for peer in ["bob", "carol"] {
        for chunk in (1..=100_000i64).collect::<Vec<_>>().chunks(1000) {
            let msgs: Vec<_> = chunk
                .iter()
                .map(|i| in_msg(format!("{peer}{i}"), peer, *i, *i))
                .collect();
            s.save_messages(&msgs).expect("save");
        }
    }
    settle();
    let mut g = c.benchmark_group("set_read_100k");
    // Every measured move covers exactly one message, on every side: each
    // iteration's setup (untimed) adds one unread message just above the
    // position. Without it the faster side ran past the conversation's end,
    // where a move covers nothing and costs less, and the sides compared
    // different work.
    const TOP: i64 = 100_000;
    for conv in ["C2Cbob", "C2Ccarol"] {
        s.set_message_read(conv, Some(TOP)).expect("read");
    }
    let next = Cell::new(TOP);
    g.bench_function("receiptdb", |b| {
        b.iter_batched(
            || {
                next.set(next.get() + 1);
                let q = next.get();
                s.save_messages(&[in_msg(format!("bob{q}"), "bob", q, q)])
                    .expect("save");
                q
            },
            |q| black_box(s.set_message_read("C2Cbob", Some(q)).expect("read")),
            BatchSize::PerIteration,
        )
    });
    let rc = raw(&path, false);
    let rnext = Cell::new(TOP);
    // One unread message for carol just above her position; returns its sequence.
    let add_one = || -> i64 {
        rnext.set(rnext.get() + 1);
        let q = rnext.get();
        rc.execute(
            "INSERT INTO messages(id, conversation_id, conversation_type, sender, recipient,
                time, sequence, is_out, status, need_receipt, payload)
             VALUES ('carol' || ?1, 'C2Ccarol', 'C2C', 'carol', 'alice', ?1, ?1, 0, 'success', 0, '{}')",
            params![q],
        )
        .expect("seed");
        q
    };
    // Moves carol's position up to `q`: the count of what it covers, then the
    // conversation row; returns the count.
    let move_to = |c: &rusqlite::Connection, q: i64| -> i64 {
        let n: i64 = c
            .prepare_cached(
                "SELECT count(*) FROM messages WHERE conversation_id = ?1 AND is_out = 0
                     AND status = 'success' AND sequence > ?2 AND sequence <= ?3",
            )
            .expect("prep")
            .query_row(params!["C2Ccarol", q - 1, q], |r| r.get(0))
            .expect("count");
        c.prepare_cached(
            "UPDATE conversations SET read_seq = ?2, unread_count = unread_count - ?3
             WHERE conversation_id = ?1",
        )
        .expect("prep")
        .execute(params!["C2Ccarol", q, n])
        .expect("update");
        n
    };
    g.bench_function("raw", |b| {
        b.iter_batched(
            &add_one,
            |q| {
                let tx = rc.unchecked_transaction().expect("tx");
                assert_eq!(move_to(&tx, q), 1);
                tx.commit().expect("commit");
            },
            BatchSize::PerIteration,
        )
    });
    // The same plus what SPEC 3.2 also asks of a move: the read report
    // queued for the server and the stored total.
    g.bench_function("raw_with_report", |b| {
        b.iter_batched(
            &add_one,
            |q| {
                rc.execute_batch("BEGIN IMMEDIATE").expect("begin");
                let n = move_to(&rc, q);
                assert_eq!(n, 1);
                rc.prepare_cached(
                    "UPDATE meta SET value = CAST(value AS INTEGER) - ?1 WHERE key = 'total_unread'",
                )
                .expect("prep")
                .execute(params![n])
                .expect("total");
                rc.prepare_cached(
                    "INSERT INTO read_reports(conversation_id, read_seq) VALUES (?1, ?2)
                     ON CONFLICT(conversation_id) DO UPDATE SET read_seq = max(read_seq, excluded.read_seq)",
                )
                .expect("prep")
                .execute(params!["C2Ccarol", q])
                .expect("report");
                rc.execute_batch("COMMIT").expect("commit");
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let d2 = dir();
    let path2 = d2.path().join("c.db");
    let s2 = store(&path2, false);
    for chunk in (0..10_000i64).collect::<Vec<_>>().chunks(1000) {
        let msgs: Vec<_> = chunk
            .iter()
            .map(|i| in_msg(format!("m{i}"), &format!("p{i:05}"), 1, 1_000 + i))
            .collect();
        s2.save_messages(&msgs).expect("save");
    }
    // A cursor in the middle of the list.
    let mut cursor = String::new();
    for _ in 0..300 {
        cursor = s2
            .get_conversation_list(Some(&cursor), Some(15))
            .expect("page")
            .cursor;
    }
    settle();
    let mut g = c.benchmark_group("conversation_page_15_of_10k");
    g.bench_function("receiptdb", |b| {
        b.iter(|| {
            black_box(
                s2.get_conversation_list(Some(&cursor), Some(15))
                    .expect("page"),
            )
        })
    });
    let mid_time = 1_000 + 10_000 - 1 - 15 * 300 + 1;
    let rc2 = raw(&path2, false);
    g.bench_function("raw", |b| {
        b.iter(|| {
            let tx = rc2.unchecked_transaction().expect("tx");
            {
                let mut st = tx
                    .prepare_cached(
                        "SELECT c.conversation_id, c.type, c.unread_count, c.read_seq, c.peer_read_seq,
                            m.rid, m.id, m.conversation_id, m.conversation_type, m.sender,
                            m.recipient, m.time, m.sequence, m.is_out, m.status, m.need_receipt,
                            m.payload, m.is_peer_read, r.read_count, r.unread_count, r.peer_read,
                            m.sent_state
                         FROM conversations c JOIN messages m ON m.rid = c.last_rid
                         JOIN receipts r ON r.rid = m.rid
                         WHERE c.last_rid IS NOT NULL AND c.last_time < ?1
                         ORDER BY c.last_time DESC, c.last_seq DESC, c.conversation_id LIMIT 16",
                    )
                    .expect("prep");
                let rows: Vec<Vec<rusqlite::types::Value>> = st
                    .query_map(params![mid_time], |r| (0..22).map(|i| r.get(i)).collect())
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                black_box(rows);
            }
            tx.commit().expect("commit");
        })
    });
    g.finish();

    settle();
    let mut g = c.benchmark_group("total_unread_10k_conversations");
    g.bench_function("receiptdb", |b| {
        b.iter(|| black_box(s2.get_total_unread_message_count().expect("total")))
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            let tx = rc2.unchecked_transaction().expect("tx");
            let v: i64 = tx
                .prepare_cached(
                    "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'total_unread'",
                )
                .expect("prep")
                .query_row([], |r| r.get(0))
                .expect("row");
            tx.commit().expect("commit");
            black_box(v)
        })
    });
    g.bench_function("raw_sum_of_counts", |b| {
        b.iter(|| {
            let v: i64 = rc2
                .query_row("SELECT SUM(unread_count) FROM conversations", [], |r| {
                    r.get(0)
                })
                .expect("sum");
            black_box(v)
        })
    });
    g.finish();
}

/// Builds a group of `n` members with two messages, each read by all but
/// every `gap`-th. The benches alternate between the two, so no page finds
/// its head kept from the page before (a member page keeps the last head
/// while nothing was written: docs/DESIGN.md).
fn member_setup(dir: &Path, n: usize, unread_every: usize) -> (Store, PathBuf, [String; 2]) {
    let path = dir.join(format!("m{n}-{unread_every}.db"));
    let s = store(&path, false);
    set_group(&s, "g", n);
    let ids = ["big".to_string(), "big2".to_string()];
    let readers: Vec<String> = users(n)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % unread_every != 0)
        .map(|(_, u)| u)
        .collect();
    for id in &ids {
        s.save_messages(&[group_msg(id, "g")]).expect("save");
        for chunk in readers.chunks(100_000) {
            s.apply_receipt_notifications(&[ReceiptNotification {
                message_id: id.clone(),
                reader_ids: Some(chunk.to_vec()),
                ..Default::default()
            }])
            .expect("readers");
        }
    }
    (s, path, ids)
}

/// The rowids of `ids` on the raw connection.
fn rids(rc: &Connection, ids: &[String; 2]) -> [i64; 2] {
    ids.clone().map(|id| {
        rc.query_row("SELECT rid FROM messages WHERE id = ?1", params![id], |r| {
            r.get(0)
        })
        .expect("rid")
    })
}

/// Listing all 10,000 readers of one message of a 10,000-member group: 100
/// read pages of 100 through the store, cursor to cursor, vs one raw keyset
/// scan of the same 10,000 rows.
fn list_all_readers(c: &mut Criterion) {
    let d = dir();
    let (s, path, ids) = member_setup(d.path(), 10_000, usize::MAX);
    let rc = raw(&path, false);
    let rids = rids(&rc, &ids);
    settle();
    let mut g = c.benchmark_group("list_10k_readers");
    let turn = Cell::new(0usize);
    g.bench_function("receiptdb", |b| {
        b.iter(|| {
            let id = &ids[turn.replace(turn.get() ^ 1)];
            let mut cursor = String::new();
            let mut n = 0;
            loop {
                let p = s
                    .get_group_message_read_member_list(id, MemberFilter::Read, &cursor, 100)
                    .expect("page");
                n += p.read_user_id_list.map_or(0, |l| l.len());
                if p.is_completed {
                    break;
                }
                cursor = p.cursor;
            }
            assert_eq!(n, 10_000 - 1, "every reader but user0 (i % MAX == 0)");
            black_box(n)
        })
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            let rid = rids[turn.replace(turn.get() ^ 1)];
            let mut st = rc
                .prepare_cached("SELECT user_id FROM readers WHERE rid = ?1 ORDER BY user_id")
                .expect("prep");
            let v: Vec<String> = st
                .query_map(params![rid], |r| r.get(0))
                .expect("q")
                .collect::<Result<_, _>>()
                .expect("rows");
            black_box(v)
        })
    });
    g.finish();
}

const RAW_READ_PAGE: &str =
    "SELECT user_id FROM readers WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT 101";
/// The read list as SPEC §1 defines it (issue 13): readers in the audience,
/// so one member lookup a reader, as the unread page has.
const RAW_READ_AUDIENCE_PAGE: &str = "SELECT r.user_id FROM readers r
     WHERE r.rid = ?1 AND r.user_id > ?2 AND r.user_id <> 'alice'
       AND EXISTS (SELECT 1 FROM members mb WHERE mb.group_id = 'g' AND mb.user_id = r.user_id
                     AND (mb.join_time IS NULL OR mb.join_time <= 100))
     ORDER BY r.user_id LIMIT 101";
const RAW_UNREAD_PAGE: &str = "SELECT mb.user_id FROM members mb
     WHERE mb.group_id = 'g' AND mb.user_id > ?2 AND (mb.join_time IS NULL OR mb.join_time <= 100)
       AND mb.user_id <> 'alice'
       AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?1 AND r.user_id = mb.user_id)
     ORDER BY mb.user_id LIMIT 101";

/// getGroupMessageReadMemberList pages of 100 (read and unread) vs the raw
/// keyset query, at 200 and 100,000 members (half read) and 100,000 at 99% read.
fn member_pages(c: &mut Criterion) {
    let d = dir();
    for (n, every, label) in [
        (200, 2, "200_half"),
        (100_000, 2, "100k_half"),
        (100_000, 100, "100k_99pct"),
    ] {
        let (s, path, ids) = member_setup(d.path(), n, every);
        let rc = raw(&path, false);
        let rids = rids(&rc, &ids);
        let turn = Cell::new(0usize);
        for (f, fname, sql) in [
            (MemberFilter::Read, "read", RAW_READ_PAGE),
            (MemberFilter::Unread, "unread", RAW_UNREAD_PAGE),
        ] {
            settle();
            let mut g = c.benchmark_group(format!("member_page_{fname}_{label}"));
            g.bench_function("receiptdb", |b| {
                b.iter(|| {
                    let id = &ids[turn.replace(turn.get() ^ 1)];
                    let p = s
                        .get_group_message_read_member_list(id, f, "", 100)
                        .expect("page");
                    black_box(p)
                })
            });
            // The first page of a raw keyset query, as owned user IDs.
            let raw_page = |q: &str| -> Vec<String> {
                let rid = rids[turn.replace(turn.get() ^ 1)];
                let mut st = rc.prepare_cached(q).expect("prep");
                st.query_map(params![rid, ""], |r| r.get(0))
                    .expect("q")
                    .collect::<Result<_, _>>()
                    .expect("rows")
            };
            g.bench_function("raw", |b| b.iter(|| black_box(raw_page(sql))));
            if f == MemberFilter::Read {
                g.bench_function("raw_audience", |b| {
                    b.iter(|| {
                        let v = raw_page(RAW_READ_AUDIENCE_PAGE);
                        assert!(v.len() >= 100, "every reader is in the audience");
                        black_box(v)
                    })
                });
            }
            g.finish();
        }
    }
}

/// Saving 1,000 new `in` group messages that need a receipt in one call,
/// with delivery acks queued (one outbox row each) and without, vs raw
/// inserts of the same message rows; and a delivered page of 100 (filter 2)
/// of a 2,000-member group, half received and a quarter read, vs a raw
/// keyset page of the deliverers.
fn delivery(c: &mut Criterion) {
    let d = dir();
    let acks = store(&d.path().join("acks.db"), false);
    let plain = store(&d.path().join("plain.db"), false);
    acks.patch_receipt_config(&ReceiptConfigPatch {
        delivery_receipts: Some(true),
        ..Default::default()
    })
    .expect("acks on");
    for s in [&acks, &plain] {
        set_group(s, "g", 10);
    }
    let rc = raw(&d.path().join("raw.db"), false);
    rc.execute_batch(
        "CREATE TABLE messages (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL, sender TEXT NOT NULL, time INTEGER, sequence INTEGER,
            need_receipt INTEGER, payload TEXT)",
    )
    .expect("raw schema");
    let next = Cell::new(0i64);
    let batch = || -> Vec<IncomingMessage> {
        let base = next.get();
        next.set(base + 1000);
        (base..base + 1000)
            .map(|i| IncomingMessage {
                id: format!("in{i:09}"),
                from: "user0000001".into(),
                time: 1000 + i,
                sequence: 1 + i,
                ..group_msg("", "g")
            })
            .collect()
    };
    settle();
    let mut g = c.benchmark_group("save_1000_in_with_delivery_acks");
    g.bench_function("receiptdb", |b| {
        b.iter_batched(
            batch,
            |m| acks.save_messages(&m).expect("save"),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("receiptdb_no_acks", |b| {
        b.iter_batched(
            batch,
            |m| plain.save_messages(&m).expect("save"),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("raw", |b| {
        b.iter_batched(
            batch,
            |m| {
                let tx = rc.unchecked_transaction().expect("tx");
                {
                    let mut st = tx
                        .prepare_cached(
                            "INSERT INTO messages(id, conversation_id, sender, time, sequence,
                                need_receipt, payload) VALUES (?1, 'GROUPg', ?2, ?3, ?4, 1, '{}')",
                        )
                        .expect("prep");
                    for x in &m {
                        st.execute(params![x.id, x.from, x.time, x.sequence])
                            .expect("insert");
                    }
                }
                tx.commit().expect("commit")
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    // The delivered page.
    let path = d.path().join("page.db");
    let s = store(&path, false);
    set_group(&s, "g", 2000);
    s.save_messages(&[group_msg("m", "g")]).expect("save");
    let all = users(2000);
    let delivered: Vec<String> = all.iter().step_by(2).cloned().collect();
    let read: Vec<String> = all.iter().step_by(4).cloned().collect();
    s.apply_receipt_notifications(&[ReceiptNotification {
        message_id: "m".into(),
        delivered_ids: Some(delivered),
        reader_ids: Some(read),
        ..Default::default()
    }])
    .expect("delivered");
    let rc = raw(&path, false);
    let rid: i64 = rc
        .query_row("SELECT rid FROM messages WHERE id = 'm'", [], |r| r.get(0))
        .expect("rid");
    let f = MemberFilter::from_code(2).expect("filter");
    settle();
    let mut g = c.benchmark_group("delivered_page_100_of_2000");
    g.bench_function("receiptdb", |b| {
        b.iter(|| {
            let p = s
                .get_group_message_read_member_list("m", f, "", 100)
                .expect("page");
            black_box(p)
        })
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            let mut st = rc
                .prepare_cached(
                    "SELECT user_id FROM deliverers WHERE rid = ?1 AND user_id > ?2
                     ORDER BY user_id LIMIT 101",
                )
                .expect("prep");
            let v: Vec<String> = st
                .query_map(params![rid, ""], |r| r.get(0))
                .expect("q")
                .collect::<Result<_, _>>()
                .expect("rows");
            black_box(v)
        })
    });
    g.finish();
}

/// Opening a store with 10 M reader rows vs opening an empty one; also
/// reports bytes on disk per reader row and per message.
fn open(c: &mut Criterion) {
    let d = dir();
    let empty = d.path().join("empty.db");
    drop(store(&empty, false));
    let big = d.path().join("big.db");
    {
        let s = store(&big, false);
        set_group(&s, "g", 10);
        let msgs: Vec<_> = (0..1000)
            .map(|i| group_msg(&format!("o{i:04}"), "g"))
            .collect();
        s.save_messages(&msgs).expect("save");
    }
    let before = std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0);
    {
        let rc = raw(&big, false);
        let tx = rc.unchecked_transaction().expect("tx");
        {
            let mut st = tx
                .prepare("INSERT INTO readers(rid, user_id) VALUES (?1, ?2)")
                .expect("prep");
            let names = users(10_000);
            for rid in 1..=1000i64 {
                for u in &names {
                    st.execute(params![rid, u]).expect("ins");
                }
            }
        }
        tx.commit().expect("commit");
        rc.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("ckpt");
    }
    let after = std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0);
    println!(
        "storage: {:.1} bytes per reader row (10 M rows, userIDs of 11 bytes)",
        (after - before) as f64 / 1e7
    );
    settle();
    let mut g = c.benchmark_group("open_store");
    g.bench_function("receiptdb_10M_readers", |b| {
        b.iter(|| drop(black_box(store(&big, false))))
    });
    g.bench_function("raw_empty_store", |b| {
        b.iter(|| drop(black_box(store(&empty, false))))
    });
    g.finish();

    // Bytes per message: 100,000 group messages with small payloads.
    let mp = d.path().join("msgs.db");
    let s = store(&mp, false);
    set_group(&s, "g", 10);
    let base = std::fs::metadata(&mp).map(|m| m.len()).unwrap_or(0);
    for k in 0..100 {
        let msgs: Vec<_> = (0..1000)
            .map(|i| IncomingMessage {
                payload: Some(serde_json::json!({"text": "hello there"})),
                ..group_msg(&format!("msg-{k:03}-{i:04}"), "g")
            })
            .collect();
        s.save_messages(&msgs).expect("save");
    }
    drop(s);
    let size = std::fs::metadata(&mp).map(|m| m.len()).unwrap_or(0);
    println!(
        "storage: {:.1} bytes per message (100,000 group messages, 12-byte IDs, 24-byte payloads)",
        (size - base) as f64 / 1e5
    );
}

/// A subscriber that never reads vs one that drains every event on its own
/// thread, for a writer of 100,000 changes: the full channel must not slow
/// the writer.
fn slow_subscriber(c: &mut Criterion) {
    settle();
    let mut g = c.benchmark_group("writer_100k_changes");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for never_reads in [false, true] {
        let name = if never_reads {
            "with_full_subscriber"
        } else {
            "with_draining_subscriber"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = Store::open_in_memory("alice").expect("open");
                    set_group(&s, "g", 10);
                    s.save_messages(&[group_msg("m", "g")]).expect("save");
                    let sub = s.subscribe_with_capacity(Filter::All, 64);
                    let rx = sub.receiver().clone();
                    let drain =
                        (!never_reads).then(|| std::thread::spawn(move || rx.iter().count()));
                    let t = Instant::now();
                    for rc in 1..=100_000u64 {
                        s.apply_receipt_notifications(&[ReceiptNotification {
                            message_id: "m".into(),
                            read_count: Some(rc),
                            ..Default::default()
                        }])
                        .expect("apply");
                    }
                    total += t.elapsed();
                    if never_reads {
                        assert!(sub.receiver().is_full());
                    }
                    drop(sub);
                    drop(s);
                    if let Some(d) = drain {
                        let _ = d.join();
                    }
                }
                total
            })
        });
    }
    g.finish();
}

/// `receiptdb rpc` piped: 20,000 small calls vs the same calls in-process.
fn rpc(c: &mut Criterion) {
    const CALLS: usize = 20_000;
    let d = dir();
    let path = d.path().join("rpc.db");
    {
        let s = store(&path, false);
        set_group(&s, "g", 10);
        s.save_messages(&[group_msg("m1", "g")]).expect("save");
    }
    let mut input = String::new();
    for i in 0..CALLS {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"getMessageReadReceiptList\",\"params\":{{\"messageIDs\":[\"m1\"]}}}}\n"
        ));
    }
    settle();
    let mut g = c.benchmark_group("rpc_20k_small_calls");
    g.sample_size(10);
    g.bench_function("receiptdb_rpc_piped", |b| {
        b.iter(|| {
            let mut child = Command::new(bin::receiptdb_bin())
                .args(["rpc", "--db"])
                .arg(&path)
                .args(["--user", "alice"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn");
            let mut stdin = child.stdin.take().expect("stdin");
            let data = input.clone();
            let w = std::thread::spawn(move || stdin.write_all(data.as_bytes()));
            let out = BufReader::new(child.stdout.take().expect("stdout"));
            let n = out.lines().count();
            let _ = w.join();
            let _ = child.wait();
            assert_eq!(n, CALLS);
        })
    });
    let s = store(&path, false);
    let ids = vec!["m1".to_string()];
    g.bench_function("in_process_api", |b| {
        b.iter(|| {
            for _ in 0..CALLS {
                black_box(s.get_message_read_receipt_list(&ids).expect("list"));
            }
        })
    });
    g.finish();
}

/// Prints every pair with its ratio, as a markdown table.
fn report() {
    println!("\n| path | receiptdb | baseline | ratio |\n| --- | --- | --- | --- |");
    let pairs: Vec<(String, &str, &str)> = {
        let mut v: Vec<(String, &str, &str)> = [
            "notify_1000_readers",
            "notify_1000_readers_full",
            "snapshot_100k_states",
            "send_receipt_30_normal",
            "send_receipt_30_full",
            "receipt_list_100",
            "set_read_100k",
            "conversation_page_15_of_10k",
            "total_unread_10k_conversations",
            "save_1000_in_with_delivery_acks",
            "delivered_page_100_of_2000",
            "list_10k_readers",
        ]
        .iter()
        .map(|g| (g.to_string(), "receiptdb", "raw"))
        .collect();
        for f in ["read", "unread"] {
            for l in ["200_half", "100k_half", "100k_99pct"] {
                v.push((format!("member_page_{f}_{l}"), "receiptdb", "raw"));
            }
        }
        for l in ["200_half", "100k_half", "100k_99pct"] {
            v.push((format!("member_page_read_{l}"), "receiptdb", "raw_audience"));
        }
        v.push(("set_read_100k".into(), "receiptdb", "raw_with_report"));
        v.push((
            "save_1000_in_with_delivery_acks".into(),
            "receiptdb",
            "receiptdb_no_acks",
        ));
        for g in ["send_receipt_30_normal", "send_receipt_30_full"] {
            v.push((g.into(), "receiptdb", "raw_by_id"));
        }
        v.push((
            "open_store".into(),
            "receiptdb_10M_readers",
            "raw_empty_store",
        ));
        v.push((
            "writer_100k_changes".into(),
            "with_full_subscriber",
            "with_draining_subscriber",
        ));
        v.push((
            "rpc_20k_small_calls".into(),
            "receiptdb_rpc_piped",
            "in_process_api",
        ));
        v
    };
    for (g, a, b) in &pairs {
        if let (Some(x), Some(y)) = (median_ns(g, a), median_ns(g, b)) {
            println!(
                "| {g} ({a} / {b}) | {} | {} | {:.2}× |",
                fmt_ns(x),
                fmt_ns(y),
                x / y
            );
        }
    }
    let page = |f: &str, l: &str| median_ns(&format!("member_page_{f}_{l}"), "receiptdb");
    for f in ["read", "unread"] {
        if let (Some(a), Some(b)) = (page(f, "100k_half"), page(f, "200_half")) {
            println!(
                "| {f} page: 100k members / 200 members | {} | {} | {:.2}× |",
                fmt_ns(a),
                fmt_ns(b),
                a / b
            );
        }
    }
    if let (Some(a), Some(b)) = (page("unread", "100k_99pct"), page("unread", "100k_half")) {
        println!(
            "| unread page: 99% read / half read (100k) | {} | {} | {:.2}× |",
            fmt_ns(a),
            fmt_ns(b),
            a / b
        );
    }
    if let Some(x) = median_ns("rpc_20k_small_calls", "receiptdb_rpc_piped") {
        println!(
            "| rpc throughput | {:.0} calls/s | | |",
            20_000.0 / (x / 1e9)
        );
    }
}

/// Waits for the OS to write back dirty file pages (`sync`). Every group
/// calls it after its setup, just before measuring: otherwise the kernel is
/// still writing back the setup's files (100,000-row stores, or the previous
/// group's) while the first function is measured, and only that one pays.
fn settle() {
    // Best effort: without `sync` the run is only noisier.
    let _ = std::process::Command::new("sync").status();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    notify(&mut c);
    snapshot(&mut c);
    send(&mut c);
    receipt_list(&mut c);
    conversations(&mut c);
    member_pages(&mut c);
    list_all_readers(&mut c);
    delivery(&mut c);
    open(&mut c);
    slow_subscriber(&mut c);
    rpc(&mut c);
    c.final_summary();
    report();
}
