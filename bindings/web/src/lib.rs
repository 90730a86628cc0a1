//! The WebAssembly module behind the `receiptdb-web` package (docs/EMBEDDING.md, bindings/web/README.md).
//!
//! `WebStore` wraps one [`receiptdb::rpc::Session`], exactly as the Node
//! addon does: a request line in, every line it produces out (events first,
//! the response last). The worker (`worker.js`) owns it; `installVfs` puts
//! the OPFS sahpool VFS in place as SQLite's default before any open.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

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
/// store name: the pool holds its whole folder while open) as SQLite's
/// default. Returns `undefined` on success, else the JSON-RPC error line:
/// `STORE_BUSY` when another tab or worker holds the folder.
#[wasm_bindgen(js_name = installVfs)]
pub async fn install_vfs(directory: String) -> Option<String> {
    let cfg = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&format!("sahpool:{directory}"))
        .directory(&directory)
        .build();
    match install::<sqlite_wasm_rs::WasmOsCallback>(&cfg, true).await {
        Ok(_) => None,
        Err(e) => Some(open_error_line(&vfs_error(&e))),
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
