//! Opening a store in the browser (wasm32): the file is a name in the VFS
//! the page's worker installed as SQLite's default (OPFS sahpool). What
//! differs from `file.rs`, and why (docs/DESIGN.md, "In the browser"):
//! - no WAL: the sahpool VFS has no shared memory, so `journal_mode=WAL`
//!   is refused; a rollback journal (`DELETE`) is used;
//! - `synchronous=FULL` for both durabilities: with a rollback journal,
//!   `NORMAL` may corrupt the file on a power cut, which §5 forbids;
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
    let mode: String = conn.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Sqlite(
            format!("could not set the rollback journal (got {mode})"),
            None,
        ));
    }
    let sync = match opts.durability {
        Durability::Normal | Durability::Full => "FULL",
        Durability::UnsafeOff => "OFF",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    // The only connection: keep the lock instead of taking it per transaction.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
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
