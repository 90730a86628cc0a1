//! 2,000 request lines through `rpc::Session::handle_line`, the handler
//! every binding calls, for counting instructions under callgrind (this
//! machine's timings move by a third between runs; instruction counts do
//! not). BENCHMARKS.md, "Instructions a call".
//!
//! `calls DB single`: one new reader a call (`applyReceiptNotifications`),
//! over 10 messages of a 201-member group.
//! `calls DB page`: a read page of 100 of a message all 200 members read,
//! of two such messages in turn (so no page finds its head kept from the
//! page before: a member page keeps the last head while nothing is written).
//! `calls DB snapshot`: a snapshot of 20,000 receipt states
//! (`applySnapshotReceipts`) over 20,000 held messages, applied twice.
//! `calls DB list`: 20 listings of all 9,999 readers of a message of a
//! 10,001-member group, 100 pages each, through the `Store` API (two such
//! messages in turn, so each listing's first page reads its head).
//! `calls DB send`: 200 calls of `send_message_read_receipt` of 30 held
//! `in` C2C messages each (the `Store` API).
//! `calls DB batch`: the peer bench's batch, 100,000 receipts (10 messages
//! of a 10,001-member group, all 10,000 readers each) in one call.
use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;

use receiptdb::rpc::Session;
use receiptdb::{ConversationType, GroupType, IncomingMessage, Member, ReceiptNotification, Store};

/// Alice's message `id` to group `to`, needing receipts.
fn msg(id: String, to: &str, time: i64, sequence: i64) -> IncomingMessage {
    IncomingMessage {
        id,
        conversation_type: Some(ConversationType::Group),
        from: "alice".into(),
        to: to.into(),
        time,
        sequence,
        need_read_receipt: true,
        ..Default::default()
    }
}

/// A store at `path` whose Work group `group` has `users` and alice.
fn store_with_group(path: &str, group: &str, users: &[String]) -> Result<Store, Box<dyn Error>> {
    let s = Store::open(path, "alice")?;
    let mut members: Vec<Member> = users.iter().cloned().map(Member::new).collect();
    members.push(Member::new("alice"));
    s.set_group(group, GroupType::Work, &members)?;
    Ok(s)
}

const USAGE: &str = "usage: calls DB single|page|list|listtime|send|snapshot|batch";

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or(USAGE)?;
    let mode = args.next().unwrap_or_default();
    for x in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{x}"));
    }
    if mode == "list" {
        return list(&path, false);
    }
    if mode == "listtime" {
        return list(&path, true);
    }
    if mode == "snapshot" {
        return snapshot(&path);
    }
    if mode == "send" {
        return send(&path);
    }
    if mode == "batch" {
        return batch(&path);
    }
    let page = match mode.as_str() {
        "single" => false,
        "page" => true,
        _ => return Err(USAGE.into()),
    };
    let readers: Vec<String> = (0..200).map(|i| format!("u{i:06}")).collect();
    let s = store_with_group(&path, "team", &readers)?;
    let msgs: Vec<IncomingMessage> = (0..10)
        .map(|k| msg(format!("m{k}"), "team", 10 + k, 1 + k))
        .collect();
    s.save_messages(&msgs)?;
    if page {
        for m in ["m0", "m1"] {
            s.apply_receipt_notifications(&[ReceiptNotification {
                message_id: m.into(),
                reader_ids: Some(readers.clone()),
                ..Default::default()
            }])?;
        }
    }
    let mut session = Session::new(Arc::new(s));
    let mut id = 0;
    for k in 0..10 {
        for r in &readers {
            let line = if page {
                let m = id % 2;
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"getGroupMessageReadMemberList","params":{{"messageID":"m{m}","filter":0,"cursor":"","count":100}}}}"#
                )
            } else {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"applyReceiptNotifications","params":{{"notifications":[{{"messageID":"m{k}","groupID":"team","readerIDs":["{r}"]}}]}}}}"#
                )
            };
            id += 1;
            let out = session.handle_line(&line);
            if out.last().is_some_and(|l| l.contains("\"error\"")) {
                return Err(format!("{line}: {out:?}").into());
            }
            black_box(out);
        }
    }
    Ok(())
}

fn list(path: &str, timed: bool) -> Result<(), Box<dyn Error>> {
    let users: Vec<String> = (0..10_000).map(|i| format!("user{i}")).collect();
    let s = store_with_group(path, "g", &users)?;
    for (k, id) in BIG.iter().enumerate() {
        s.save_messages(&[msg(id.to_string(), "g", 100, 1 + k as i64)])?;
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: id.to_string(),
            reader_ids: Some(users[1..].to_vec()),
            ..Default::default()
        }])?;
    }
    if timed {
        return list_timed(path, &s);
    }
    for k in 0..20 {
        let n = store_listing(&s, BIG[k % 2])?;
        if n != 9_999 {
            return Err(format!("listed {n}").into());
        }
    }
    Ok(())
}

/// `calls DB listtime`: the store's listing beside one raw scan of the same
/// rows and beside raw keyset pages of 100, alternating, 200 rounds; prints
/// the medians in µs and the ratios to the scan. `ONLY=store|scan|pages`
/// runs 20 rounds of one side alone and prints nothing (for callgrind).
fn list_timed(path: &str, s: &Store) -> Result<(), Box<dyn Error>> {
    let raw = rusqlite::Connection::open(path)?;
    // As the store's connections: a keyset statement is not planned again
    // at each new cursor value.
    raw.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    let rid: i64 = raw.query_row("SELECT rid FROM messages WHERE id = 'big'", [], |r| {
        r.get(0)
    })?;
    let only = std::env::var("ONLY").unwrap_or_default();
    let turn = std::cell::Cell::new(0);
    let sides: [(&str, &Side); 3] = [
        ("store", &|| {
            store_listing(s, BIG[turn.replace(turn.get() ^ 1)])
        }),
        ("scan", &|| raw_scan(&raw, rid)),
        ("pages", &|| raw_pages(&raw, rid)),
    ];
    let rounds = if only.is_empty() { 200 } else { 20 };
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for ((name, side), t) in sides.iter().zip(times.iter_mut()) {
            if only.is_empty() || only == *name {
                let start = std::time::Instant::now();
                if side()? != 9_999 {
                    return Err(format!("{name}: not 9,999 readers").into());
                }
                t.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    if only.is_empty() {
        let [store, scan, pages] = times.map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        });
        println!(
            "store {store:.0} µs, raw scan {scan:.0} µs, raw pages {pages:.0} µs; \
             store/scan {:.2}, pages/scan {:.2}, store/pages {:.2}",
            store / scan,
            pages / scan,
            store / pages
        );
    }
    Ok(())
}

/// One side of `listtime`: a whole listing, returning how many it listed.
type Side<'a> = dyn Fn() -> Result<usize, Box<dyn Error>> + 'a;

fn send(path: &str) -> Result<(), Box<dyn Error>> {
    let s = Store::open(path, "alice")?;
    let msgs: Vec<IncomingMessage> = (0..6_000)
        .map(|i| IncomingMessage {
            id: format!("in{i:06}"),
            conversation_type: Some(ConversationType::C2C),
            from: "bob".into(),
            to: "alice".into(),
            time: 1_000 + i,
            sequence: 1 + i,
            need_read_receipt: true,
            ..Default::default()
        })
        .collect();
    for chunk in msgs.chunks(1_000) {
        s.save_messages(chunk)?;
    }
    for call in msgs.chunks(30) {
        let ids: Vec<String> = call.iter().map(|m| m.id.clone()).collect();
        if s.send_message_read_receipt(&ids)?.len() != 30 {
            return Err("not 30 queued".into());
        }
    }
    Ok(())
}

/// The two messages of `list` and `listtime`, each read by all 9,999.
const BIG: [&str; 2] = ["big", "big2"];

/// All readers of message `id` through the store, 100 a page.
fn store_listing(s: &Store, id: &str) -> Result<usize, Box<dyn Error>> {
    let (mut cursor, mut n) = (String::new(), 0);
    loop {
        let p =
            s.get_group_message_read_member_list(id, receiptdb::MemberFilter::Read, &cursor, 100)?;
        n += p.read_user_id_list.map_or(0, |l| l.len());
        if p.is_completed {
            return Ok(n);
        }
        cursor = p.cursor;
    }
}

/// The readers of message `rid` in one statement (the sender, user0, has
/// no reader row).
fn raw_scan(raw: &rusqlite::Connection, rid: i64) -> Result<usize, Box<dyn Error>> {
    let mut st =
        raw.prepare_cached("SELECT user_id FROM readers WHERE rid = ?1 ORDER BY user_id")?;
    let v: Vec<String> = st
        .query_map([rid], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(black_box(v).len())
}

/// The same readers in keyset pages of 100, each its own statement run.
fn raw_pages(raw: &rusqlite::Connection, rid: i64) -> Result<usize, Box<dyn Error>> {
    let (mut after, mut n) = (String::new(), 0);
    loop {
        let mut st = raw.prepare_cached(
            "SELECT user_id FROM readers WHERE rid = ?1 AND user_id > ?2 ORDER BY user_id LIMIT 101",
        )?;
        let mut v: Vec<String> = st
            .query_map(rusqlite::params![rid, after], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let done = v.len() <= 100;
        v.truncate(100);
        n += v.len();
        match v.pop() {
            Some(last) if !done => after = last,
            _ => return Ok(black_box(n)),
        }
    }
}

fn snapshot(path: &str) -> Result<(), Box<dyn Error>> {
    let s = store_with_group(path, "g", &["u1".to_string(), "u2".to_string()])?;
    let ids: Vec<String> = (0..20_000).map(|i| format!("msg{i:07}")).collect();
    for chunk in ids.chunks(1000) {
        let msgs: Vec<IncomingMessage> = chunk
            .iter()
            .map(|id| msg(id.clone(), "g", 100, 1))
            .collect();
        s.save_messages(&msgs)?;
    }
    for round in 1..=2u64 {
        let items = ids.iter().map(|id| receiptdb::SnapshotReceipt {
            message_id: id.clone(),
            read_count: Some(round),
            ..Default::default()
        });
        let changed = s.apply_snapshot_receipts("GROUPg", items)?;
        if changed.len() != ids.len() {
            return Err(format!("changed {}", changed.len()).into());
        }
    }
    Ok(())
}

fn batch(path: &str) -> Result<(), Box<dyn Error>> {
    let users: Vec<String> = (0..10_000).map(|i| format!("u{i:06}")).collect();
    let s = store_with_group(path, "team", &users)?;
    let msgs: Vec<IncomingMessage> = (0..10)
        .map(|k| msg(format!("m{k}"), "team", 10 + k, 1 + k))
        .collect();
    s.save_messages(&msgs)?;
    let notes: Vec<ReceiptNotification> = (0..10)
        .map(|k| ReceiptNotification {
            message_id: format!("m{k}"),
            group_id: Some("team".into()),
            reader_ids: Some(users.clone()),
            ..Default::default()
        })
        .collect();
    let changed = s.apply_receipt_notifications(&notes)?;
    if changed.len() != 10 {
        return Err(format!("changed {}", changed.len()).into());
    }
    Ok(())
}
