//! Rendering "N read" labels from events: take the current state and a
//! subscription together, then update the labels as receipts arrive.
//!
//! Run: `cargo run --example render_read_counts`

use std::collections::BTreeMap;

use receiptdb::{
    ConversationType, EventKind, Filter, GroupType, Member, ReceiptNotification, Store,
};
use serde_json::json;

fn label(read: u64, unread: Option<u64>) -> String {
    match unread {
        Some(0) => "all read".to_string(),
        Some(u) => format!("{read} read, {u} unread"),
        None => format!("{read} read"),
    }
}

fn main() -> Result<(), receiptdb::Error> {
    let store = Store::open_in_memory("alice")?;
    let members: Vec<Member> = ["alice", "bob", "carol", "dave"]
        .into_iter()
        .map(Member::new)
        .collect();
    store.set_group("team", GroupType::Work, &members)?;
    let msg = store.create_message(
        "team",
        ConversationType::Group,
        &json!({"text": "ship it?"}),
        true,
    )?;
    store.mark_message_sent(&msg.id, 1, 1_700_000_000)?;

    // State and subscription in one step: no change can fall between them.
    let view = store.subscribe_with_snapshot(Filter::Conversation("GROUPteam".into()))?;
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for m in &view.messages {
        if let Some(info) = m.read_receipt_info {
            labels.insert(m.id.clone(), label(info.read_count, info.unread_count));
        }
    }
    println!("initial: {labels:?}");

    // Receipts arrive from the server (normally on the transport's thread).
    for reader in ["bob", "carol", "dave"] {
        store.apply_receipt_notifications(&[ReceiptNotification {
            message_id: msg.id.clone(),
            reader_ids: Some(vec![reader.into()]),
            ..Default::default()
        }])?;
    }

    while let Ok(ev) = view.subscription.receiver().try_recv() {
        match ev.kind {
            EventKind::ReceiptsChanged(items) => {
                for it in items {
                    let l = label(it.read_count, it.unread_count);
                    println!("commit {}: {} -> {l}", ev.commit_seq, it.message_id);
                    labels.insert(it.message_id, l);
                }
            }
            // Missed events: re-read the state instead of guessing.
            EventKind::Lagged { .. } => {
                for m in store
                    .get_message_list("GROUPteam", None, Some(100))?
                    .message_list
                {
                    if let Some(info) = m.read_receipt_info {
                        labels.insert(m.id.clone(), label(info.read_count, info.unread_count));
                    }
                }
            }
            _ => {}
        }
    }
    println!("final: {labels:?}");
    Ok(())
}
