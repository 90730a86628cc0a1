//! Placeholder for the sync-conflict simulator: a scripted demo of a C2C
//! and a group receipt flow over a temporary store.

use std::process::ExitCode;

use serde_json::json;

use crate::{
    ConversationType, GroupType, Member, MemberFilter, ReceiptNotification, Result, Store,
};

/// Command-line arguments of `receiptdb sim`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimArgs {}

/// Runs the demo and prints what happened.
pub fn run_cli(_args: &SimArgs) -> ExitCode {
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn demo() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("receiptdb-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(dir.join("alice.db"), "alice")?;
    store.set_group(
        "g1",
        GroupType::Work,
        &[
            Member::new("alice"),
            Member::new("bob"),
            Member::new("carol"),
        ],
    )?;
    let g = store.create_message(
        "g1",
        ConversationType::Group,
        &json!({"text": "hi all"}),
        true,
    )?;
    store.mark_message_sent(&g.id, 1, 1_700_000_000)?;
    let c = store.create_message(
        "bob",
        ConversationType::C2C,
        &json!({"text": "hi bob"}),
        true,
    )?;
    store.mark_message_sent(&c.id, 1, 1_700_000_001)?;
    store.apply_receipt_notifications(&[
        ReceiptNotification {
            message_id: g.id.clone(),
            reader_ids: Some(vec!["bob".into()]),
            ..Default::default()
        },
        ReceiptNotification {
            message_id: c.id.clone(),
            is_peer_read: Some(true),
            ..Default::default()
        },
    ])?;
    for m in store.get_message_read_receipt_list(std::slice::from_ref(&g.id))? {
        println!("group message {}: {:?}", m.id, m.read_receipt_info);
    }
    let page = store.get_group_message_read_member_list(&g.id, MemberFilter::Unread, "", 100)?;
    println!("unread: {:?}", page.unread_user_id_list);
    for m in store.get_message_read_receipt_list(std::slice::from_ref(&c.id))? {
        println!("c2c message {}: {:?}", m.id, m.read_receipt_info);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    println!("PASS");
    Ok(())
}
