//! The Node-API addon behind the `receiptdb` npm package (docs/EMBEDDING.md).
//!
//! One class, `NativeStore`, wraps one [`receiptdb::rpc::Session`]: the same
//! in-process request handler as `receiptdb rpc`, so a request line gives
//! exactly the lines the rpc server would write for it (events first, the
//! response last). The JavaScript side (`index.js`) builds request lines,
//! emits the events and turns error responses into exceptions.
//!
//! Design rules, each from a binding that got hurt without it:
//! - no native thread ever calls into JavaScript and no thread-safe function
//!   is kept, so an open store never keeps the event loop alive;
//! - every export catches panics: a panic unwinding into Node aborts the
//!   whole (Electron) process;
//! - only strings cross the boundary, never buffers backed by Rust memory
//!   (Electron refuses external buffers).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use napi_derive::napi;
use receiptdb::rpc::{durability_option, open_error_line, Session};
use receiptdb::{OpenOptions, Store};

/// The error response written when a call panicked: the store stays usable
/// because SQLite rolls the unfinished transaction back.
fn panic_line(what: &str) -> String {
    open_error_line(&receiptdb::Error::internal(format!(
        "internal error: {what} panicked"
    )))
}

/// The response to a call on a closed store. Not one of the store's errors: the code
/// is from JSON-RPC's range for implementation-defined server errors.
const CLOSED_LINE: &str = r#"{"error":{"code":-32000,"data":{"name":"STORE_CLOSED"},"message":"the store is closed"},"id":null,"jsonrpc":"2.0"}"#;

/// Every method the request handler serves (`receiptdb::rpc::METHODS`, the
/// one list): the package checks its method table against it.
#[napi]
pub fn methods() -> Vec<String> {
    receiptdb::rpc::METHODS
        .iter()
        .map(|m| m.to_string())
        .collect()
}

/// Deletes the closed store at `path` for good (logout): `null` and a
/// `deleted` flag as JSON on success, or the JSON-RPC error line.
/// Refused with `STORE_BUSY` while any connection has it open.
#[napi]
pub fn delete_store(path: String, user_id: String, key: Option<String>) -> String {
    catch_unwind(AssertUnwindSafe(|| match receiptdb::delete_store_with_key(
        &path,
        &user_id,
        key.as_deref(),
    ) {
        Ok(deleted) => format!(r#"{{"jsonrpc":"2.0","id":null,"result":{{"deleted":{deleted}}}}}"#),
        Err(e) => open_error_line(&e),
    }))
    .unwrap_or_else(|_| panic_line("deleteStore"))
}

/// One open store, or none after `close()`.
#[napi]
pub struct NativeStore {
    session: Mutex<Option<Session>>,
}

impl NativeStore {
    /// Locks the session. A poisoned lock only means an earlier call
    /// panicked; its transaction was rolled back, so the session is usable.
    fn lock(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[napi]
impl NativeStore {
    /// An unopened store; `open` opens it. (Opening in the constructor would
    /// leave no clean way to hand back a numeric error code.)
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeStore {
            session: Mutex::new(None),
        }
    }

    /// Opens the store file at `path` for `userID`, with durability
    /// `"normal"` (default) or `"full"`, encrypted with `key` when given. Returns `null` on success, or on
    /// failure the JSON-RPC error response line that `receiptdb rpc` would
    /// write (`id: null`). Opening an open store closes the previous one first.
    #[napi]
    pub fn open(
        &self,
        path: String,
        user_id: String,
        durability: Option<String>,
        key: Option<String>,
    ) -> Option<String> {
        let opened = catch_unwind(AssertUnwindSafe(|| {
            let durability = durability_option(durability.as_deref())?;
            let mut opts = OpenOptions::new().durability(durability);
            if let Some(k) = key {
                opts = opts.key(k);
            }
            Ok::<_, receiptdb::Error>(Session::new(Arc::new(Store::open_with(
                &path, &user_id, opts,
            )?)))
        }));
        let mut slot = self.lock();
        match opened {
            Ok(Ok(session)) => {
                *slot = Some(session);
                None
            }
            Ok(Err(e)) => Some(open_error_line(&e)),
            Err(_) => Some(panic_line("open")),
        }
    }

    /// Handles one JSON-RPC request line; returns every line it produces,
    /// event notifications first and the response last. On a closed store
    /// the one line is a `STORE_CLOSED` error response.
    #[napi]
    pub fn call(&self, request: String) -> Vec<String> {
        let mut slot = self.lock();
        let Some(session) = slot.as_mut() else {
            return vec![CLOSED_LINE.to_string()];
        };
        catch_unwind(AssertUnwindSafe(|| {
            session.handle_bytes(request.as_bytes())
        }))
        .unwrap_or_else(|_| vec![panic_line("call")])
    }

    /// Whether calls return the lines of the events they caused (on after
    /// `open`). The package turns it off while no listener is on, so a
    /// write skips building events nobody would receive. No-op when closed.
    #[napi]
    pub fn set_forwarding(&self, on: bool) {
        if let Some(session) = self.lock().as_mut() {
            session.set_forwarding(on);
        }
    }

    /// Closes the store; returns whether it was open. Idempotent.
    #[napi]
    pub fn close(&self) -> bool {
        let taken = self.lock().take();
        let was_open = taken.is_some();
        // Dropping the session closes the SQLite connection; a panic there
        // must not reach Node.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(taken)));
        was_open
    }

    /// Whether the store is open.
    #[napi(getter)]
    pub fn is_open(&self) -> bool {
        self.lock().is_some()
    }
}

impl Drop for NativeStore {
    /// The finalizer of a store garbage-collected without `close()`.
    fn drop(&mut self) {
        let taken = self
            .session
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|p| p.into_inner().take());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(taken)));
    }
}
