//! 2,000 request lines through `rpc::Session::handle_line`, the handler
//! every binding calls, for counting instructions under callgrind (this
//! machine's timings move by a third between runs; instruction counts do
//! not). BENCHMARKS.md, "Instructions a call".
//!
//! `calls DB single`: one new reader a call (`applyReceiptNotifications`),
//! over 10 messages of a 201-member group.
//! `calls DB page`: a read page of 100 of a message all 200 members read.
use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;

use receiptdb::rpc::Session;
use receiptdb::{ConversationType, GroupType, IncomingMessage, Member, ReceiptNotification, Store};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: calls DB single|page")?;
    let page = match args.next().as_deref() {
        Some("single") => false,
        Some("page") => true,
        _ => return Err("usage: calls DB single|page".into()),
    };
    for x in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{x}"));
    }
    let s = Store::open(&path, "alice")?;
    let readers: Vec<String> = (0..200).map(|i| format!("u{i:06}")).collect();
    let mut members: Vec<Member> = readers.iter().cloned().map(Member::new).collect();
    members.push(Member::new("alice"));
    s.set_group("team", GroupType::Work, &members)?;
    let msgs: Vec<IncomingMessage> = (0..10)
        .map(|k| IncomingMessage {
            id: format!("m{k}"),
            conversation_type: Some(ConversationType::Group),
            from: "alice".into(),
            to: "team".into(),
            time: 10 + k,
            sequence: 1 + k,
            need_read_receipt: true,
            ..Default::default()
        })
        .collect();
    s.save_messages(&msgs)?;
    if page {
        s.apply_receipt_notifications(&[ReceiptNotification {
            message_id: "m0".into(),
            reader_ids: Some(readers.clone()),
            ..Default::default()
        }])?;
    }
    let mut session = Session::new(Arc::new(s));
    let mut id = 0;
    for k in 0..10 {
        for r in &readers {
            let line = if page {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"getGroupMessageReadMemberList","params":{{"messageID":"m0","filter":0,"cursor":"","count":100}}}}"#
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
