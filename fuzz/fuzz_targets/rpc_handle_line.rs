//! Fuzzes `receiptdb::rpc::Session::handle_line`: the input is split into
//! lines, each handed to one session over a small in-memory store. Every
//! line must be answered by exactly one response (the last line returned,
//! the only one with an `id`), preceded only by notifications; no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use receiptdb::rpc::Session;
use receiptdb::Store;
use serde_json::Value;

const SEED: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"setGroup","params":{"groupID":"g","groupType":"Work","members":[{"userID":"alice"},{"userID":"bob"},{"userID":"carol","joinTime":5}]}}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"saveMessages","params":{"messages":[{"ID":"m1","conversationType":"C2C","from":"bob","to":"alice","time":1,"sequence":1,"needReadReceipt":true},{"ID":"m2","conversationType":"GROUP","from":"bob","to":"g","time":2,"sequence":2,"needReadReceipt":true}]}}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"saveMessages","params":{"messages":[{"ID":"o1","conversationType":"GROUP","from":"alice","to":"g","time":3,"sequence":3,"needReadReceipt":true}]}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let store = Store::open_in_memory("alice").expect("in-memory store");
    let mut session = Session::new(std::sync::Arc::new(store));
    for line in SEED {
        session.handle_line(line);
    }
    for line in text.split('\n') {
        if line.trim().is_empty() {
            continue;
        }
        let out = session.handle_line(line);
        let (last, events) = out.split_last().expect("at least one line");
        let resp: Value = serde_json::from_str(last).expect("response is JSON");
        assert!(
            resp.get("id").is_some(),
            "last line is the response: {last}"
        );
        assert!(
            resp.get("result").is_some() != resp.get("error").is_some(),
            "exactly one of result/error: {last}"
        );
        for e in events {
            let v: Value = serde_json::from_str(e).expect("event is JSON");
            assert!(v.get("id").is_none(), "only one response per line: {e}");
        }
    }
    assert_eq!(
        store.integrity_check().expect("check"),
        vec!["ok".to_string()]
    );
});
