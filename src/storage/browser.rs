//! Opening a store in the browser (wasm32): the file is a name in the VFS
//! the page's worker installed as SQLite's default (OPFS sahpool). What
//! differs from `file.rs`, and why (docs/DESIGN.md, "In the browser"):
//! - WAL without shared memory: the sahpool VFS has no `xShmMap`, so the
//!   connection takes `locking_mode=EXCLUSIVE` before it reads anything
//!   (SQLite then keeps the wal-index in heap memory; a WAL file cannot even
//!   be read otherwise), then `journal_mode=WAL`. A store written in `DELETE`
//!   mode by an earlier build switches over at open, nothing lost;
//! - `synchronous` as natively: `NORMAL` for `Durability::Normal` (a power
//!   cut may lose the last commits, never corrupts), `FULL` for `Full` (each
//!   commit flushes the `-wal` before it is acknowledged);
//! - no file-system checks (no `std::fs` there), no file identity: the VFS
//!   owns its pool folder while open, so no one can move the file under us;
//! - one connection and no second process: the pool's access handles are
//!   exclusive, so a second opener fails at VFS install (`STORE_BUSY`).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::file::{check_existing, check_version, migrate, Opened, APPLICATION_ID};
use super::options::{Durability, OpenOptions};
use crate::error::{Error, Result};

/// Opens (or creates) the store named `path` in the default VFS for `user_id`.
pub(crate) fn open_connection(path: &Path, user_id: &str, opts: &OpenOptions) -> Result<Opened> {
    let name = path.to_string_lossy();
    if name.is_empty() || name.contains('\0') {
        return Err(Error::invalid("the store name must be a non-empty string"));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(&*name, flags).map_err(corrupt)?;
    // The only connection, and WAL without shared memory needs it: set
    // before the first read, which opens the `-wal` of a WAL store.
    let locking: String = conn.query_row("PRAGMA locking_mode=EXCLUSIVE", [], |r| r.get(0))?;
    if !locking.eq_ignore_ascii_case("exclusive") {
        return Err(Error::Sqlite(
            format!("could not take exclusive locking (got {locking})"),
            None,
        ));
    }
    // One statement, one snapshot; fails on a file that is not SQLite.
    let (version, app, tables): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT application_id FROM pragma_application_id),
                    (SELECT count(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(corrupt)?;
    let fresh = version == 0 && tables == 0;
    if !fresh {
        if app != i64::from(APPLICATION_ID) {
            return Err(Error::StoreCorrupt(
                "an SQLite database of another application".into(),
            ));
        }
        check_version(version)?;
        check_existing(&conn, Some(user_id))?;
    }
    // A store in `DELETE` mode (earlier builds) switches here: SQLite marks
    // the file as WAL in one rollback-journal transaction.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Sqlite(
            format!("could not enable WAL (got {mode})"),
            None,
        ));
    }
    let sync = match opts.durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
        Durability::UnsafeOff => "OFF",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    migrate(&mut conn, user_id)?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(Opened {
        conn,
        file: None,
        read_only: false,
    })
}

fn corrupt(e: rusqlite::Error) -> Error {
    match Error::from(e) {
        Error::Sqlite(m, _) => Error::StoreCorrupt(m),
        other => other,
    }
}
