//! SPEC §6: a request through the C ABI gives exactly the lines the same
//! request line gives through `receiptdb rpc`. The oracle is
//! `receiptdb::rpc::serve`, the loop the `receiptdb rpc` command runs, fed the
//! same lines on a second store.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use receiptdb::rpc::{serve, Session};
use receiptdb_ffi::{rdb_call, rdb_close, rdb_free, rdb_open};

/// What `receiptdb rpc` writes for one input line (given without newline).
fn rpc_lines(session: &mut Session, line: &[u8]) -> Vec<u8> {
    let mut input = line.to_vec();
    input.push(b'\n');
    let mut out = Vec::new();
    serve(session, &input[..], &mut out).unwrap();
    out
}

/// What `rdb_call` returns for the same line.
fn ffi_lines(store: *mut receiptdb_ffi::rdb_store, line: &[u8]) -> Vec<u8> {
    let req = CString::new(line).unwrap();
    let p: *mut c_char = unsafe { rdb_call(store, req.as_ptr()) };
    assert!(!p.is_null());
    let out = unsafe { CStr::from_ptr(p) }.to_bytes().to_vec();
    unsafe { rdb_free(p) };
    out
}

#[test]
fn every_line_matches_receiptdb_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().join("ffi.db").to_str().unwrap()).unwrap();
    let user = CString::new("alice").unwrap();
    let store = unsafe { rdb_open(path.as_ptr(), user.as_ptr(), ptr::null_mut()) };
    assert!(!store.is_null());
    let mut session = Session::open(dir.path().join("rpc.db"), "alice").unwrap();

    let lines: Vec<&[u8]> = vec![
        br#"{"jsonrpc":"2.0","id":1,"method":"setGroup","params":{"groupID":"team","groupType":"Work","members":[{"userID":"alice"},{"userID":"bob"},{"userID":"carol"}]}}"#,
        br#"{"jsonrpc":"2.0","id":2,"method":"saveMessages","params":{"messages":[{"ID":"m1","from":"alice","to":"team","conversationType":"GROUP","sequence":1,"time":10,"needReadReceipt":true},{"ID":"m2","from":"bob","to":"team","conversationType":"GROUP","sequence":2,"time":11,"needReadReceipt":true},{"ID":"c1","from":"alice","to":"bob","conversationType":"C2C","sequence":1,"time":12,"needReadReceipt":true}]}}"#,
        br#"{"jsonrpc":"2.0","id":"s","method":"subscribe"}"#,
        br#"{"jsonrpc":"2.0","id":3,"method":"sendMessageReadReceipt","params":{"messageIDs":["m2"]}}"#,
        br#"{"jsonrpc":"2.0","id":4,"method":"applyReceiptNotifications","params":{"notifications":[{"messageID":"m1","groupID":"team","readerIDs":["bob","carol"]},{"messageID":"c1","isPeerRead":true}]}}"#,
        br#"{"jsonrpc":"2.0","id":5,"method":"getGroupMessageReadMemberList","params":{"messageID":"m1","filter":0,"cursor":"","count":1}}"#,
        br#"{"jsonrpc":"2.0","id":6,"method":"getGroupMessageReadMemberList","params":{"messageID":"m2","filter":0,"cursor":"","count":1}}"#,
        br#"{"jsonrpc":"2.0","id":7,"method":"getPendingReceipts"}"#,
        br#"{"jsonrpc":"2.0","id":8,"method":"setMessageRead","params":{"conversationID":"GROUPteam"}}"#,
        br#"{"jsonrpc":"2.0","id":9,"method":"getConversationList"}"#,
        br#"{"jsonrpc":"2.0","id":10,"method":"sendMessageReadReceipt","params":{"messageIDs":["nope"]}}"#,
        br#"{"jsonrpc":"2.0","id":11,"method":"noSuchMethod"}"#,
        br#"{"jsonrpc":"2.0","id":12,"method":"findMessage","params":[]}"#,
        br#"{"jsonrpc":"2.0","id":13,"method":"findMessage","params":{"messageID":"m1"}}"#,
        b"{not json",
        b"[1,2]",
        b"{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"\xff\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"getReceiptConfig\"}\r",
    ];
    for line in lines {
        let want = rpc_lines(&mut session, line);
        let got = ffi_lines(store, line);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "for {}",
            String::from_utf8_lossy(line)
        );
        assert!(!want.is_empty());
    }

    // The one documented difference: `receiptdb rpc` skips a blank line;
    // rdb_call must answer every call, so a blank request is -32700.
    assert!(rpc_lines(&mut session, b"  ").is_empty());
    let blank = String::from_utf8(ffi_lines(store, b"  ")).unwrap();
    assert!(blank.contains(r#""code":-32700"#), "{blank}");
    unsafe { rdb_close(store) };
}
