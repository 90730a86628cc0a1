//! Applies a snapshot carrying 1,000,000 readers (1,000 messages × 1,000
//! readers) through the streaming API, to measure peak memory:
//!
//! `cargo build --release --example big_snapshot && /usr/bin/time -v target/release/examples/big_snapshot`
//!
//! (look at "Maximum resident set size").

use receiptdb::{ConversationType, GroupType, IncomingMessage, Member, SnapshotReceipt, Store};

const MESSAGES: usize = 1_000;
const READERS: usize = 1_000;

fn main() -> Result<(), receiptdb::Error> {
    let dir = std::env::temp_dir().join(format!("receiptdb-big-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(dir.join("big.db"), "alice")?;
    let members: Vec<Member> = (0..READERS)
        .map(|i| Member::new(format!("user{i:07}")))
        .collect();
    store.set_group("big", GroupType::Work, &members)?;
    drop(members);
    for chunk in 0..MESSAGES / 500 {
        let msgs: Vec<IncomingMessage> = (0..500)
            .map(|i| IncomingMessage {
                id: format!("m{:05}", chunk * 500 + i),
                conversation_type: Some(ConversationType::Group),
                from: "alice".into(),
                to: "big".into(),
                time: 1,
                sequence: (chunk * 500 + i) as i64,
                need_read_receipt: true,
                ..Default::default()
            })
            .collect();
        store.save_messages(&msgs)?;
    }
    // One receipt state at a time is built, merged and dropped.
    let stream = (0..MESSAGES).map(|m| SnapshotReceipt {
        message_id: format!("m{m:05}"),
        reader_ids: Some((0..READERS).map(|i| format!("user{i:07}")).collect()),
        ..Default::default()
    });
    let t = std::time::Instant::now();
    let changed = store.apply_snapshot_receipts("GROUPbig", stream)?;
    println!(
        "applied {} readers over {} messages in {:.2?}",
        MESSAGES * READERS,
        changed.len(),
        t.elapsed()
    );
    let info = store
        .find_message("m00000")?
        .and_then(|m| m.read_receipt_info);
    println!("m00000: {info:?}");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
