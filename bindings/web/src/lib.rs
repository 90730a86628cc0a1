//! The WebAssembly module behind the `receiptdb-web` package (docs/EMBEDDING.md, bindings/web/README.md).
//!
//! `WebStore` wraps one `receiptdb::rpc::Session`, exactly as the Node
//! addon does: a request line in, every line it produces out (events first,
//! the response last). The worker (`worker.js`) owns it; `installVfs` puts
//! the OPFS sahpool VFS in place as SQLite's default before any open.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

mod combine;

use receiptdb::rpc::{durability_option, open_error_line, Session};
use receiptdb::{Durability, Error, OpenOptions, Store};
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHError, OpfsSAHPoolCfgBuilder};
use wasm_bindgen::prelude::*;

/// The response to a call on a closed store (as the Node addon's).
const CLOSED_LINE: &str = r#"{"error":{"code":-32000,"data":{"name":"STORE_CLOSED"},"message":"the store is closed"},"id":null,"jsonrpc":"2.0"}"#;

/// Every method the request handler serves (`receiptdb::rpc::METHODS`).
#[wasm_bindgen]
pub fn methods() -> Vec<String> {
    receiptdb::rpc::METHODS
        .iter()
        .map(|m| m.to_string())
        .collect()
}

/// Installs the OPFS sahpool VFS over the OPFS folder `directory` (one per
/// store name: the pool holds its whole folder while open), and the
/// write-combining VFS over it (`combine.rs`) as SQLite's default. Returns
/// `undefined` on success, else the JSON-RPC error line:
/// `STORE_BUSY` when another tab or worker holds the folder.
#[wasm_bindgen(js_name = installVfs)]
pub async fn install_vfs(directory: String) -> Option<String> {
    // The default 6 slots hold the database, its `-wal` and the `-journal`
    // of the switch to WAL (SQLite's temporary files stay in memory here).
    let name = format!("sahpool:{directory}");
    let cfg = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&name)
        .directory(&directory)
        .build();
    if let Err(e) = install::<sqlite_wasm_rs::WasmOsCallback>(&cfg, true).await {
        return Some(open_error_line(&vfs_error(&e)));
    }
    // Over it, as the default: one OPFS write per commit (combine.rs).
    match combine::install(&name) {
        Ok(()) => None,
        Err(e) => Some(open_error_line(&Error::Io(format!("OPFS: {e}"), None))),
    }
}

fn vfs_error(e: &OpfsSAHError) -> Error {
    let text = e.to_string();
    // Another context holds the folder's sync access handles.
    if text.contains("NoModificationAllowedError") || text.contains("InvalidStateError") {
        return Error::StoreBusy;
    }
    if text.contains("QuotaExceededError") {
        return Error::StorageFull;
    }
    Error::Io(format!("OPFS: {text}"), None)
}

/// For the tests only (test/browser.test.mjs): rewrites the closed store
/// `name`, in the VFS `installVfs` put in place, as the builds before
/// 2026-12-07 left it: a rollback journal (`journal_mode=DELETE`), its last
/// write made with their pragmas (`DELETE`, `synchronous=FULL`, then
/// `locking_mode=EXCLUSIVE`). Returns the journal mode the file had.
#[wasm_bindgen(js_name = rewriteWithRollbackJournalForTests)]
pub fn rewrite_with_rollback_journal_for_tests(name: String) -> Result<String, JsValue> {
    // WAL without shared memory: only an exclusive connection reads it.
    let before = raw::with_db(&name, |db| {
        raw::exec(db, "PRAGMA locking_mode=EXCLUSIVE")?;
        raw::exec(db, "SELECT count(*) FROM sqlite_master")?;
        let before = raw::exec(db, "PRAGMA journal_mode")?;
        let after = raw::exec(db, "PRAGMA journal_mode=DELETE")?;
        if after != "delete" {
            return Err(format!("journal_mode=DELETE answered {after}"));
        }
        Ok(before)
    })?;
    // The old open, then a write (a table made and dropped) under it.
    raw::with_db(&name, |db| {
        raw::exec(db, "SELECT count(*) FROM sqlite_master")?;
        raw::exec(db, "PRAGMA journal_mode=DELETE")?;
        raw::exec(db, "PRAGMA synchronous=FULL")?;
        raw::exec(db, "PRAGMA locking_mode=EXCLUSIVE")?;
        raw::exec(db, "CREATE TABLE legacy_write(x)")?;
        raw::exec(db, "DROP TABLE legacy_write")?;
        Ok(())
    })?;
    Ok(before)
}

/// SQLite's C API, for the test hook above only (the store goes through rusqlite).
mod raw {
    use std::ffi::{CStr, CString};
    use std::ptr;

    use sqlite_wasm_rs as ffi;

    /// Runs `f` on a connection to `name` (read-write, not created), then closes it.
    pub fn with_db<T>(
        name: &str,
        f: impl FnOnce(*mut ffi::sqlite3) -> Result<T, String>,
    ) -> Result<T, String> {
        let c_name = CString::new(name).map_err(|e| e.to_string())?;
        let mut db = ptr::null_mut();
        // SAFETY: a NUL-terminated name and an out pointer SQLite fills.
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                c_name.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READWRITE,
                ptr::null(),
            )
        };
        let out = if rc == ffi::SQLITE_OK {
            f(db)
        } else {
            Err(format!("open {name}: SQLite code {rc}"))
        };
        // SAFETY: `db` is the handle open_v2 gave (or null); nothing uses it after.
        let rc = unsafe { ffi::sqlite3_close(db) };
        if rc != ffi::SQLITE_OK && out.is_ok() {
            return Err(format!("close {name}: SQLite code {rc}"));
        }
        out
    }

    /// Runs one statement to its end; returns its first row's first column as text ("" if none).
    pub fn exec(db: *mut ffi::sqlite3, sql: &str) -> Result<String, String> {
        let c_sql = CString::new(sql).map_err(|e| e.to_string())?;
        let mut stmt = ptr::null_mut();
        // SAFETY: an open connection and a NUL-terminated statement.
        let rc =
            unsafe { ffi::sqlite3_prepare_v2(db, c_sql.as_ptr(), -1, &mut stmt, ptr::null_mut()) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("{sql}: {}", errmsg(db)));
        }
        let mut first = None;
        let out = loop {
            // SAFETY: a prepared statement, finalized below and not used after.
            match unsafe { ffi::sqlite3_step(stmt) } {
                ffi::SQLITE_ROW => {
                    if first.is_none() {
                        // SAFETY: a row is current; the text is copied before the next step.
                        let text = unsafe { ffi::sqlite3_column_text(stmt, 0) };
                        first = Some(if text.is_null() {
                            String::new()
                        } else {
                            // SAFETY: SQLite's column text is NUL-terminated.
                            unsafe { CStr::from_ptr(text.cast()) }
                                .to_string_lossy()
                                .into_owned()
                        });
                    }
                }
                ffi::SQLITE_DONE => break Ok(first.unwrap_or_default()),
                _ => break Err(format!("{sql}: {}", errmsg(db))),
            }
        };
        // SAFETY: the statement prepared above.
        unsafe { ffi::sqlite3_finalize(stmt) };
        out
    }

    fn errmsg(db: *mut ffi::sqlite3) -> String {
        // SAFETY: an open connection; its message is NUL-terminated and copied at once.
        unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
            .to_string_lossy()
            .into_owned()
    }
}

/// One open store, or none after `close()`.
#[wasm_bindgen]
pub struct WebStore {
    session: Option<Session>,
}

#[wasm_bindgen]
impl WebStore {
    /// An unopened store; `open` opens it.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> WebStore {
        WebStore { session: None }
    }

    /// Opens the store `name` (in the default VFS) for `userID`, with
    /// durability `"normal"` (default) or `"full"`. Returns `undefined` on
    /// success, else the error response line `receiptdb rpc` would write.
    pub fn open(
        &mut self,
        name: String,
        user_id: String,
        durability: Option<String>,
    ) -> Option<String> {
        let durability = match durability_option(durability.as_deref()) {
            Ok(d) => d,
            Err(e) => return Some(open_error_line(&e)),
        };
        self.session = None;
        let opts = OpenOptions::new().durability(durability);
        match Store::open_with(&name, &user_id, opts) {
            Ok(store) => {
                self.session = Some(Session::new(Arc::new(store)));
                None
            }
            Err(e) => Some(open_error_line(&e)),
        }
    }

    /// Handles one JSON-RPC request line; returns every line it produces,
    /// event notifications first and the response last.
    pub fn call(&mut self, request: String) -> Vec<String> {
        match self.session.as_mut() {
            Some(s) => s.handle_bytes(request.as_bytes()),
            None => vec![CLOSED_LINE.to_string()],
        }
    }

    /// Closes the store; returns whether it was open. Idempotent.
    pub fn close(&mut self) -> bool {
        self.session.take().is_some()
    }
}
