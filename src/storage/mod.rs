//! The storage layer: the file (open, create, migrate, check), the
//! connection and its transactions, typed `meta` accessors, typed row
//! loaders and enum ⇄ column conversions. It knows tables, not rules:
//! nothing here decides a receipt or an unread count.

#[cfg(target_arch = "wasm32")]
pub(crate) mod browser;
pub(crate) mod columns;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod copies;
pub(crate) mod db;
pub(crate) mod file;
pub(crate) mod handle;
pub(crate) mod meta;
pub(crate) mod options;
pub(crate) mod rows;
pub(crate) mod txn;

/// A list as the JSON array text a `json_each(?)` parameter takes: lists go
/// to SQLite as one bound value, never spliced into the statement.
pub(crate) fn json_list<T: serde::Serialize + ?Sized>(v: &T) -> crate::error::Result<String> {
    serde_json::to_string(v).map_err(|e| crate::error::Error::internal(e.to_string()))
}

/// 16 random hex digits from SQLite's randomness (the OS's, or the
/// browser's `crypto.getRandomValues` in wasm32, which has no clock or pid).
pub(crate) fn random_hex(conn: &rusqlite::Connection) -> crate::error::Result<String> {
    Ok(conn.query_row("SELECT lower(hex(randomblob(8)))", [], |r| r.get(0))?)
}
