//! The conformance corpus (`tests/conformance/*.jsonl` at the repository
//! root) through the C ABI: `rdb_open` on a fresh store per file, each
//! request line through `rdb_call`, its lines compared with the file's.
//! Also what only this transport has: a blank or non-UTF-8 request still
//! gets an answer (`receiptdb rpc` skips a blank line; `rdb_call` must
//! answer every call).

#[path = "../../../tests/conformance/runner.rs"]
mod runner;

use std::ffi::{c_char, CStr, CString};
use std::path::Path;
use std::ptr;

use receiptdb_ffi::{rdb_call, rdb_close, rdb_free, rdb_open, rdb_store};
use runner::Transport;

/// One store opened through `rdb_open`, closed on drop.
struct CAbi(*mut rdb_store);

impl CAbi {
    fn open(dir: &Path, user: &str) -> CAbi {
        let path = CString::new(dir.join("store.db").to_str().expect("UTF-8 path")).expect("path");
        let user = CString::new(user).expect("user");
        let store = unsafe { rdb_open(path.as_ptr(), user.as_ptr(), ptr::null_mut()) };
        assert!(!store.is_null(), "rdb_open");
        CAbi(store)
    }

    fn call_bytes(&mut self, line: &[u8]) -> Vec<String> {
        let req = CString::new(line).expect("no NUL in a request");
        let p: *mut c_char = unsafe { rdb_call(self.0, req.as_ptr()) };
        assert!(!p.is_null(), "rdb_call answers");
        let out = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        unsafe { rdb_free(p) };
        out.lines().map(str::to_string).collect()
    }
}

impl Transport for CAbi {
    fn call(&mut self, line: &str) -> Vec<String> {
        self.call_bytes(line.as_bytes())
    }
}

impl Drop for CAbi {
    fn drop(&mut self) {
        unsafe { rdb_close(self.0) };
    }
}

#[test]
fn corpus_through_the_c_abi() {
    let n = runner::run_corpus("c", |dir, user| Box::new(CAbi::open(dir, user)));
    assert!(n >= 6, "only {n} corpus files ran");
}

#[test]
fn blank_and_non_utf8_requests_are_answered() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = CAbi::open(dir.path(), "alice");
    for (line, code) in [
        (&b"  "[..], "-32700"),
        (
            &b"{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"\xff\"}"[..],
            "-32700",
        ),
    ] {
        let out = s.call_bytes(line);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].contains(&format!("\"code\":{code}")), "{out:?}");
        assert!(out[0].contains("\"id\":null"), "{out:?}");
    }
    // The store still answers.
    let out = s.call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getTotalUnreadMessageCount\"}");
    assert_eq!(
        out,
        vec![r#"{"id":1,"jsonrpc":"2.0","result":{"totalUnreadCount":0}}"#]
    );
}
