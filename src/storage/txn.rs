//! Transactions begun and ended with cached statements. rusqlite's
//! `Transaction` runs `BEGIN …` and `COMMIT` through `execute_batch`, which
//! parses them again on every call; a read page or a one-receipt write runs
//! two or three transactions, so the parsing showed in their profiles.

use std::ops::Deref;

use rusqlite::Connection;

use crate::error::Result;

/// An open transaction on `conn`: rolled back when dropped uncommitted.
pub(crate) struct Txn<'c> {
    conn: &'c Connection,
}

impl<'c> Txn<'c> {
    /// `BEGIN DEFERRED`: a read, or a write that takes its lock when it writes.
    pub(crate) fn deferred(conn: &'c Connection) -> Result<Txn<'c>> {
        Txn::begin(conn, "BEGIN DEFERRED")
    }

    /// `BEGIN IMMEDIATE`: a write that takes the write lock at once.
    pub(crate) fn immediate(conn: &'c Connection) -> Result<Txn<'c>> {
        Txn::begin(conn, "BEGIN IMMEDIATE")
    }

    fn begin(conn: &'c Connection, sql: &str) -> Result<Txn<'c>> {
        conn.prepare_cached(sql)?.execute([])?;
        Ok(Txn { conn })
    }

    /// Commits. On failure the transaction is rolled back when `self` drops
    /// (as rusqlite's does), unless SQLite already ended it.
    pub(crate) fn commit(self) -> Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        // Committed (or ended by SQLite itself): nothing to undo.
        if self.conn.is_autocommit() {
            return;
        }
        // A failed rollback leaves nothing better to do; the next BEGIN reports it.
        if let Ok(mut st) = self.conn.prepare_cached("ROLLBACK") {
            let _ = st.execute([]);
        }
    }
}

impl Deref for Txn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}
