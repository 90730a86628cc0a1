//! The peer bench (benches/peer/README.md): receiptdb against
//! matrix-sdk-sqlite 0.18's `SqliteStateStore` on one receipts workload.
//!
//! `peer-receiptdb compare MATRIX_BIN [REPS]` runs REPS rounds, each a fresh
//! process of each side on a fresh store, the sides alternating first, and
//! prints medians and ratios as Markdown. `peer-receiptdb run DIR` is one
//! receiptdb round (what `compare` spawns), as one JSON line.
use std::fs::OpenOptions as FileOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use receiptdb::{
    Durability, GroupType, IncomingMessage, Member, MemberFilter, OpenOptions, ReceiptNotification,
    Store,
};
use serde_json::{json, Value};

const BATCH_MESSAGES: usize = 10;
const READERS: usize = 10_000;
const SINGLE_SAVES: usize = 200;
const COUNTS: usize = 9;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn readers() -> Vec<String> {
    (0..READERS).map(|i| format!("u{i:06}")).collect()
}

/// A store with one Work group of alice and 10,000 readers, and alice's
/// messages m0..m10 in it, all needing receipts.
fn fresh(path: &Path, durability: Durability) -> Res<Store> {
    let s = Store::open_with(path, "alice", OpenOptions::new().durability(durability))?;
    let mut members: Vec<Member> = readers().into_iter().map(Member::new).collect();
    members.push(Member::new("alice"));
    s.set_group("team", GroupType::Work, &members)?;
    let msgs: Vec<IncomingMessage> = (0..=BATCH_MESSAGES)
        .map(|m| IncomingMessage {
            id: format!("m{m}"),
            conversation_type: Some(receiptdb::ConversationType::Group),
            from: "alice".into(),
            to: "team".into(),
            time: 100 + m as i64,
            sequence: 1 + m as i64,
            need_read_receipt: true,
            ..Default::default()
        })
        .collect();
    s.save_messages(&msgs)?;
    Ok(s)
}

fn note(id: &str, readers: Vec<String>) -> ReceiptNotification {
    ReceiptNotification {
        message_id: id.into(),
        group_id: Some("team".into()),
        reader_ids: Some(readers),
        ..Default::default()
    }
}

/// Seconds for a batch of 100,000 receipts (10 messages × 10,000 readers) in one call.
fn batch(s: &Store) -> Res<f64> {
    let all = readers();
    let notes: Vec<ReceiptNotification> = (0..BATCH_MESSAGES)
        .map(|m| note(&format!("m{m}"), all.clone()))
        .collect();
    let t = Instant::now();
    s.apply_receipt_notifications(&notes)?;
    Ok(t.elapsed().as_secs_f64())
}

/// Microseconds a call, median, for one receipt saved a call.
fn singles(s: &Store) -> Res<f64> {
    let mut out = Vec::new();
    for i in 0..SINGLE_SAVES {
        out.push(single(s, i)?);
    }
    Ok(median(out))
}

/// Microseconds for one call saving reader `i` of m10.
fn single(s: &Store, i: usize) -> Res<f64> {
    let n = note("m10", vec![format!("u{i:06}")]);
    let t = Instant::now();
    s.apply_receipt_notifications(&[n])?;
    Ok(t.elapsed().as_secs_f64() * 1e6)
}

/// One receiptdb round in DIR; prints one JSON line.
fn run(dir: &Path) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let normal = fresh(&dir.join("normal.db"), Durability::Normal)?;
    let batch_ms = batch(&normal)? * 1e3;

    // Listing all 10,000 readers of m0, 100 pages of 100.
    let t = Instant::now();
    let (mut cursor, mut listed) = (String::new(), 0);
    loop {
        let page =
            normal.get_group_message_read_member_list("m0", MemberFilter::Read, &cursor, 100)?;
        listed += page.read_user_id_list.as_ref().map_or(0, Vec::len);
        if page.is_completed {
            break;
        }
        cursor = page.cursor;
    }
    let list_ms = t.elapsed().as_secs_f64() * 1e3;
    if listed != READERS {
        return Err(format!("listed {listed} readers, not {READERS}").into());
    }

    let mut counts = Vec::new();
    for _ in 0..COUNTS {
        let t = Instant::now();
        let m = normal.get_message_read_receipt_list(&["m0".to_string()])?;
        counts.push(t.elapsed().as_secs_f64() * 1e6);
        let n = m
            .first()
            .and_then(|m| m.read_receipt_info.as_ref())
            .map(|r| r.read_count);
        if n != Some(READERS as u64) {
            return Err(format!("read count {n:?}").into());
        }
    }
    let single_normal_us = singles(&normal)?;
    drop(normal);

    let full = fresh(&dir.join("full.db"), Durability::Full)?;
    let batch_full_ms = batch(&full)? * 1e3;
    let (single_us, raw_floor_us, raw_two_us, fdatasync_us) = durable(&full, dir)?;
    drop(full);
    println!(
        "{}",
        json!({
            "side": "receiptdb",
            "batch_ms": batch_ms, "batch_full_ms": batch_full_ms,
            "list_ms": list_ms, "count_us": median(counts),
            "single_us": single_us, "single_normal_us": single_normal_us,
            "raw_floor_us": raw_floor_us, "raw_two_us": raw_two_us,
            "fdatasync_us": fdatasync_us,
        })
    );
    Ok(())
}

/// One durable receipt a call on `store` (at `Durability::Full`) beside
/// the floors, the four taking turns call by call, the first of each turn
/// rotating (this machine's fsync time drifts within a run): a raw SQLite commit of one reader row (the
/// same SQLite build: WAL, synchronous=FULL); a raw commit of that row and
/// of a count in another table (the least a store keeping a stored count
/// writes: two b-tree pages); a bare 100-byte append plus fdatasync.
/// Medians in µs: (store, one row, row and count, append).
fn durable(store: &Store, dir: &Path) -> Res<(f64, f64, f64, f64)> {
    let c = rusqlite::Connection::open(dir.join("raw.db"))?;
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.execute_batch(
        "CREATE TABLE r (message_id TEXT NOT NULL, reader_id TEXT NOT NULL,
         PRIMARY KEY (message_id, reader_id)) WITHOUT ROWID;
         CREATE TABLE r2 (message_id TEXT NOT NULL, reader_id TEXT NOT NULL,
         PRIMARY KEY (message_id, reader_id)) WITHOUT ROWID;
         CREATE TABLE counts (message_id TEXT PRIMARY KEY, n INTEGER NOT NULL);
         INSERT INTO counts VALUES ('m10', 0);",
    )?;
    let mut f = FileOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("append.log"))?;
    let mut times: [Vec<f64>; 4] = Default::default();
    for i in 0..SINGLE_SAVES {
        let reader = format!("u{i:06}");
        // Each call starts with another of the four: an fsync's time
        // depends on what the disk did just before.
        for k in 0..4 {
            let side = (i + k) % 4;
            let t = Instant::now();
            match side {
                0 => {
                    store.apply_receipt_notifications(&[note("m10", vec![reader.clone()])])?;
                }
                1 => {
                    c.execute("INSERT OR IGNORE INTO r VALUES ('m10', ?1)", [&reader])?;
                }
                2 => {
                    let tx = c.unchecked_transaction()?;
                    if tx.execute("INSERT OR IGNORE INTO r2 VALUES ('m10', ?1)", [&reader])? == 1 {
                        tx.execute("UPDATE counts SET n = n + 1 WHERE message_id = 'm10'", [])?;
                    }
                    tx.commit()?;
                }
                _ => {
                    f.write_all(&[b'x'; 100])?;
                    f.sync_data()?;
                }
            }
            times[side].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let [ours, one, two, sync] = times;
    Ok((median(ours), median(one), median(two), median(sync)))
}

fn round(cmd: &mut Command) -> Res<Value> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8(out.stdout)?;
    let last = text.lines().last().ok_or("no output")?;
    Ok(serde_json::from_str(last)?)
}

fn compare(matrix_bin: &str, reps: usize) -> Res<()> {
    let me = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("receiptdb-peer-{}", std::process::id()));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..reps {
        let a = scratch.join(format!("r{r}"));
        let m = scratch.join(format!("m{r}"));
        let mut rd = Command::new(&me);
        rd.arg("run").arg(&a);
        let mut mx = Command::new(matrix_bin);
        mx.arg(&m);
        if r % 2 == 0 {
            ours.push(round(&mut rd)?);
            theirs.push(round(&mut mx)?);
        } else {
            theirs.push(round(&mut mx)?);
            ours.push(round(&mut rd)?);
        }
        eprintln!("round {} of {reps} done", r + 1);
    }
    std::fs::remove_dir_all(&scratch)?;
    let med = |xs: &[Value], k: &str| median(xs.iter().filter_map(|x| x[k].as_f64()).collect());
    let sqlite =
        rusqlite::Connection::open_in_memory()?
            .query_row("SELECT sqlite_version()", [], |r| r.get::<_, String>(0))?;
    println!("{reps} rounds, sides alternating, a fresh process and store each; medians. receiptdb on SQLite {sqlite} (SQLCipher, no key); matrix-sdk-sqlite 0.18 on libsqlite3-sys 0.35's bundled SQLite (see README).\n");
    println!(
        "| workload | receiptdb | matrix-sdk-sqlite 0.18 | matrix / receiptdb (× faster) | ≥ 5×? |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let rows = [
        (
            "batch of 100,000 receipts, one call (receiptdb Normal)",
            "batch_ms",
            "batch_ms",
            "ms",
        ),
        (
            "batch of 100,000 receipts, one call (both synchronous=FULL)",
            "batch_full_ms",
            "batch_ms",
            "ms",
        ),
        (
            "listing all 10,000 readers of one message",
            "list_ms",
            "list_ms",
            "ms",
        ),
        ("read count of one message", "count_us", "count_us", "µs"),
        (
            "one durable receipt saved a call (both FULL)",
            "single_us",
            "single_us",
            "µs",
        ),
    ];
    for (label, ok, mk, unit) in rows {
        let (a, b) = (med(&ours, ok), med(&theirs, mk));
        let five = if mk == "single_us" {
            "—"
        } else if b / a >= 5.0 {
            "yes"
        } else {
            "no"
        };
        println!(
            "| {label} | {a:.1} {unit} | {b:.1} {unit} | {:.2}× | {five} |",
            b / a
        );
    }
    let (single, floor, two, sync) = (
        med(&ours, "single_us"),
        med(&ours, "raw_floor_us"),
        med(&ours, "raw_two_us"),
        med(&ours, "fdatasync_us"),
    );
    println!(
        "\nOne durable receipt a call (the four taking turns call by call): receiptdb {single:.1} µs; raw SQLite commit of one row (WAL, FULL, same build) {floor:.1} µs: **{:.2}×** of that floor (target ≤ 1.1×); raw commit of the row and a count in another table {two:.1} µs: {:.2}× of it; a bare append + fdatasync {sync:.1} µs. receiptdb at Normal: {:.1} µs.",
        single / floor,
        single / two,
        med(&ours, "single_normal_us")
    );
    let per_round: Vec<String> = ours
        .iter()
        .filter_map(|r| Some(r["single_us"].as_f64()? / r["raw_floor_us"].as_f64()?))
        .map(|x| format!("{x:.2}"))
        .collect();
    println!(
        "receiptdb / one-row floor, round by round: {}.",
        per_round.join(", ")
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("run") => run(Path::new(args.get(2).ok_or("run DIR")?)),
        Some("compare") => {
            let bin = args.get(2).ok_or("compare MATRIX_BIN [REPS]")?;
            let reps = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(5);
            compare(bin, reps)
        }
        _ => Err("usage: peer-receiptdb run DIR | compare MATRIX_BIN [REPS]".into()),
    }
}
