//! # receiptdb-ffi
//!
//! The C ABI of receiptdb (docs/EMBEDDING.md): a store handle, one JSON-RPC request
//! in, the lines `receiptdb rpc` would write for it out. The contract is the
//! hand-written header `bindings/c/receiptdb.h`; a test fails when it and the
//! `extern "C"` functions below drift apart.
//!
//! Every request goes through [`receiptdb::rpc::Session`], the same handler
//! as `receiptdb rpc`. Every exported function catches panics, so nothing
//! unwinds into the host: a panic becomes a `-32603` (`INTERNAL`) error line.
#![deny(missing_docs)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Mutex;

use receiptdb::rpc::{self, Session};
use receiptdb::Error;
use serde_json::json;

/// An open store. Opaque to C. Calls from several threads take the lock in
/// turn, so they run one at a time, as lines do through `receiptdb rpc`.
#[allow(non_camel_case_types)]
pub struct rdb_store {
    session: Mutex<Session>,
}

/// `rdb_version`'s answer: static, NUL-terminated, never freed.
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The panic payload as text, for the error message.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// The JSON-RPC error object for a caught panic (`INTERNAL`, -32603).
fn internal_error_object(what: &str) -> serde_json::Value {
    json!({
        "code": -32603,
        "message": format!("internal error: {what}"),
        "data": {"name": "INTERNAL"},
    })
}

/// A whole response line (`id: null`) carrying `error`.
fn error_line(error: serde_json::Value) -> String {
    json!({"jsonrpc": "2.0", "id": null, "error": error}).to_string()
}

/// Hands `s` to C. JSON never holds a raw NUL (serde_json escapes it), but
/// if one ever came, dropping it beats panicking or returning NULL.
fn into_c_string(s: String) -> *mut c_char {
    let c = CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|b| *b != 0);
        CString::new(bytes).unwrap_or_default()
    });
    c.into_raw()
}

/// Reads a C string argument as UTF-8; `Err` names what is wrong with it.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn utf8_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::InvalidParams(format!("{name} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::InvalidParams(format!("{name} is not UTF-8")))
}

/// The lines of one call, each ending in '\n', as one string.
fn join_lines(lines: Vec<String>) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Opens the store at `path` for `user_id`. See `receiptdb.h`.
///
/// # Safety
/// `path` and `user_id` are NULL or NUL-terminated strings; `error_json` is
/// NULL or points to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn rdb_open(
    path: *const c_char,
    user_id: *const c_char,
    error_json: *mut *mut c_char,
) -> *mut rdb_store {
    rdb_open_with_key(path, user_id, ptr::null(), error_json)
}

/// Opens the store at `path` for `user_id`, encrypted with `key` (NULL:
/// not encrypted). See `receiptdb.h`.
///
/// # Safety
/// `path`, `user_id` and `key` are NULL or NUL-terminated strings;
/// `error_json` is NULL or points to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn rdb_open_with_key(
    path: *const c_char,
    user_id: *const c_char,
    key: *const c_char,
    error_json: *mut *mut c_char,
) -> *mut rdb_store {
    if !error_json.is_null() {
        *error_json = ptr::null_mut();
    }
    let opened = catch_unwind(AssertUnwindSafe(|| {
        let path = utf8_arg(path, "path").map_err(|e| rpc::error_object(&e))?;
        let user = utf8_arg(user_id, "user_id").map_err(|e| rpc::error_object(&e))?;
        let mut opts = receiptdb::OpenOptions::new();
        if !key.is_null() {
            opts = opts.key(utf8_arg(key, "key").map_err(|e| rpc::error_object(&e))?);
        }
        receiptdb::Store::open_with(path, user, opts)
            .map(|s| Session::new(std::sync::Arc::new(s)))
            .map_err(|e| rpc::error_object(&e))
    }));
    let error = match opened {
        Ok(Ok(session)) => {
            let store = rdb_store {
                session: Mutex::new(session),
            };
            return Box::into_raw(Box::new(store));
        }
        Ok(Err(error)) => error,
        Err(p) => internal_error_object(&panic_message(p.as_ref())),
    };
    if !error_json.is_null() {
        *error_json = into_c_string(error.to_string());
    }
    ptr::null_mut()
}

/// Deletes the closed store at `path` for good. See `receiptdb.h`.
///
/// # Safety
/// As [`rdb_open_with_key`].
#[no_mangle]
pub unsafe extern "C" fn rdb_delete_store(
    path: *const c_char,
    user_id: *const c_char,
    key: *const c_char,
    error_json: *mut *mut c_char,
) -> c_int {
    if !error_json.is_null() {
        *error_json = ptr::null_mut();
    }
    let done = catch_unwind(AssertUnwindSafe(|| {
        let path = utf8_arg(path, "path").map_err(|e| rpc::error_object(&e))?;
        let user = utf8_arg(user_id, "user_id").map_err(|e| rpc::error_object(&e))?;
        let key = if key.is_null() {
            None
        } else {
            Some(utf8_arg(key, "key").map_err(|e| rpc::error_object(&e))?)
        };
        receiptdb::delete_store_with_key(path, user, key).map_err(|e| rpc::error_object(&e))
    }));
    let error = match done {
        Ok(Ok(deleted)) => return c_int::from(deleted),
        Ok(Err(error)) => error,
        Err(p) => internal_error_object(&panic_message(p.as_ref())),
    };
    if !error_json.is_null() {
        *error_json = into_c_string(error.to_string());
    }
    -1
}

/// Runs one JSON-RPC request; returns its lines. See `receiptdb.h`.
///
/// # Safety
/// `store` is NULL or a handle from [`rdb_open`] not yet closed;
/// `request_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rdb_call(
    store: *mut rdb_store,
    request_json: *const c_char,
) -> *mut c_char {
    call_guarded(|| {
        if store.is_null() {
            let e = Error::InvalidParams("store is NULL".into());
            return vec![rpc::open_error_line(&e)];
        }
        if request_json.is_null() {
            let e = json!({"code": -32700, "message": "parse error: request_json is NULL",
                           "data": {"name": "PARSE_ERROR"}});
            return vec![error_line(e)];
        }
        let bytes = CStr::from_ptr(request_json).to_bytes();
        // A panic in an earlier call poisons the lock. The store's transactions
        // roll back on drop, so no half-done write remains: carry on.
        let mut session = match (*store).session.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        session.handle_bytes(bytes)
    })
}

/// Runs `f` and hands its lines to C; a panic becomes one `-32603` line.
fn call_guarded(f: impl FnOnce() -> Vec<String>) -> *mut c_char {
    let lines = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(lines) => lines,
        Err(p) => vec![error_line(internal_error_object(&panic_message(
            p.as_ref(),
        )))],
    };
    into_c_string(join_lines(lines))
}

/// Frees a string returned by this library. See `receiptdb.h`.
///
/// # Safety
/// `s` is NULL or a string from [`rdb_call`] or `rdb_open`'s `error_json`,
/// not yet freed.
#[no_mangle]
pub unsafe extern "C" fn rdb_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // Dropping a CString cannot panic; the guard is for the rule, not a need.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(CString::from_raw(s))));
}

/// Closes a store and frees it. See `receiptdb.h`.
///
/// # Safety
/// `store` is NULL or a handle from [`rdb_open`] not yet closed, with no call
/// on it running or to come.
#[no_mangle]
pub unsafe extern "C" fn rdb_close(store: *mut rdb_store) {
    if store.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(store))));
}

/// The library's version, e.g. "0.1.0". See `receiptdb.h`.
#[no_mangle]
pub extern "C" fn rdb_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes a string from the library as Rust text and frees it.
    fn take(p: *mut c_char) -> String {
        assert!(!p.is_null());
        let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        unsafe { rdb_free(p) };
        s
    }

    #[test]
    fn a_panic_becomes_an_internal_error_line() {
        let out = take(call_guarded(|| panic!("boom")));
        assert!(
            out.ends_with('\n') && out.matches('\n').count() == 1,
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["error"]["code"], -32603);
        assert_eq!(v["error"]["data"]["name"], "INTERNAL");
        assert!(v["error"]["message"].as_str().unwrap().contains("boom"));
        assert!(v["id"].is_null());
    }

    #[test]
    fn a_poisoned_store_still_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().join("a.db").to_str().unwrap()).unwrap();
        let user = CString::new("alice").unwrap();
        let store = unsafe { rdb_open(path.as_ptr(), user.as_ptr(), ptr::null_mut()) };
        assert!(!store.is_null());
        // Panic while holding the lock, as a bug inside a call would.
        let poisoned = catch_unwind(AssertUnwindSafe(|| {
            let _held = unsafe { &*store }.session.lock().unwrap();
            panic!("bug inside a call");
        }));
        assert!(poisoned.is_err());
        assert!(unsafe { &*store }.session.is_poisoned());
        let req = CString::new(r#"{"jsonrpc":"2.0","id":1,"method":"getReceiptConfig"}"#).unwrap();
        let out = take(unsafe { rdb_call(store, req.as_ptr()) });
        assert!(out.contains(r#""enabled":true"#), "{out}");
        unsafe { rdb_close(store) };
    }

    #[test]
    fn an_interior_nul_is_dropped_not_a_panic() {
        assert_eq!(take(into_c_string("a\0b".to_string())), "ab");
    }

    #[test]
    fn lines_each_end_in_a_newline() {
        assert_eq!(join_lines(vec!["a".into(), "b".into()]), "a\nb\n");
    }
}
