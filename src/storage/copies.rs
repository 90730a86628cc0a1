//! A store's copies and its file's life: online backup (`VACUUM INTO`),
//! restore through SQLite (a checked, migrated copy attached and its rows
//! taken in one transaction), compaction, and deleting a closed store.
//! Rules and decisions: docs/PROTOCOL.md, Lifecycle.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

use super::db::{Db, Tx};
use super::file::{migrate, open_checked_read_only, sync_parent, SCHEMA_VERSION};
use super::meta::{self, Key};
use crate::error::{Error, Result};

/// What `backup` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// The copy's path, as resolved (relative paths are taken from the
    /// store's folder).
    pub path: String,
    /// The copy's size in bytes.
    pub bytes: u64,
}

/// What `compact` did: the database's size (pages × page size) before and
/// after, and what that freed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactReport {
    /// Size before, in bytes.
    pub bytes_before: u64,
    /// Size after, in bytes.
    pub bytes_after: u64,
    /// `bytes_before - bytes_after`.
    pub reclaimed_bytes: u64,
}

/// A path given to `backup` or `restore`: a relative one is taken from the
/// store's folder (the current folder for a store in memory), so the same
/// request names the same file through every transport.
pub(crate) fn resolve(store: Option<&Path>, given: &str) -> Result<PathBuf> {
    if given.is_empty() || given.contains('\0') {
        return Err(Error::invalid("path must be a non-empty file name"));
    }
    let p = Path::new(given);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let base = store
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(base.join(p))
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::invalid("the path is not valid UTF-8"))
}

/// A file this module created and removes when dropped (with any journal
/// SQLite left beside it). Never a store anyone has open.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

/// A name beside `dest` no one uses.
fn scratch_beside(conn: &Connection, dest: &Path, what: &str) -> Result<Scratch> {
    let hex = super::random_hex(conn)?;
    let mut name = dest.as_os_str().to_owned();
    name.push(format!(".{what}-{hex}"));
    Ok(Scratch(PathBuf::from(name)))
}

/// Copies the store into a new file at `dest`, consistent as of one read
/// transaction; other connections keep writing meanwhile (WAL), and this
/// store's own calls wait for it. The copy is synced, then linked into
/// place only if nothing is at `dest` (never overwritten).
pub(crate) fn backup(db: &Db, dest: &Path) -> Result<BackupReport> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(Error::Io(
            format!("a file already exists at {}", dest.display()),
            None,
        ));
    }
    let bytes = db.with_conn(|conn| {
        let tmp = scratch_beside(conn, dest, "backup")?;
        conn.execute("VACUUM INTO ?1", [utf8(&tmp.0)?])?;
        std::fs::File::open(&tmp.0)?.sync_all()?;
        super::file::make_private(&tmp.0);
        publish(&tmp.0, dest)?;
        sync_parent(dest);
        Ok(std::fs::metadata(dest)?.len())
    })?;
    Ok(BackupReport {
        path: dest.display().to_string(),
        bytes,
    })
}

/// Links `tmp` at `dest` only when `dest` is free (a hard link fails on an
/// existing name, where a rename would replace it).
fn publish(tmp: &Path, dest: &Path) -> Result<()> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Io(
            format!("a file already exists at {}", dest.display()),
            Some(e),
        )),
        // A file system without hard links: a checked rename.
        Err(_) if std::fs::symlink_metadata(dest).is_err() => {
            std::fs::rename(tmp, dest)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Rebuilds the file without its free pages (`VACUUM`), then empties the
/// WAL so the file on disk shrinks too.
pub(crate) fn compact(db: &Db) -> Result<CompactReport> {
    db.writable()?;
    db.check_moved()?;
    db.with_conn(|conn| {
        let size = |c: &Connection| -> Result<u64> {
            Ok(c.query_row(
                "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
                [],
                |r| r.get::<_, i64>(0),
            )?
            .max(0) as u64)
        };
        let before = size(conn)?;
        conn.execute_batch("VACUUM")?;
        let after = size(conn)?;
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(CompactReport {
            bytes_before: before,
            bytes_after: after,
            reclaimed_bytes: before.saturating_sub(after),
        })
    })
}

/// A copy ready to be attached by `restore`: checked (an SQLite file of
/// this application, the same owner, a schema no newer than this build's)
/// and migrated to this build's schema, in a scratch file beside the store.
pub(crate) struct RestoreSource(Scratch);

impl RestoreSource {
    /// The scratch copy's path.
    pub(crate) fn path(&self) -> &Path {
        &self.0 .0
    }
}

/// Checks the copy at `src` for `owner` and makes its scratch copy beside
/// `store` (the live store's path; the current folder in memory).
pub(crate) fn prepare_restore(
    src: &Path,
    owner: &str,
    store: Option<&Path>,
) -> Result<RestoreSource> {
    if let Some(live) = store {
        let same = match (std::fs::canonicalize(src), std::fs::canonicalize(live)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(Error::invalid("the copy is the store's own file"));
        }
    }
    let copy = open_checked_read_only(src, Some(owner))?;
    let anchor = store
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("store"));
    let tmp = scratch_beside(&copy, &anchor, "restore")?;
    copy.execute("VACUUM INTO ?1", [utf8(&tmp.0)?])?;
    drop(copy);
    let version: i64 = {
        let mut c = Connection::open_with_flags(
            &tmp.0,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        migrate(&mut c, owner)?;
        c.query_row("PRAGMA user_version", [], |r| r.get(0))?
    };
    if version != SCHEMA_VERSION {
        return Err(Error::StoreCorrupt(format!(
            "the copy's schema version {version} did not upgrade"
        )));
    }
    Ok(RestoreSource(tmp))
}

/// The tables of a schema (`main` or `src`), by name, without SQLite's own.
fn tables(conn: &Connection, schema: &str) -> Result<Vec<String>> {
    let sql = match schema {
        "main" => "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name",
        _ => "SELECT name FROM src.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name",
    };
    let mut st = conn.prepare(sql)?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| r.map_err(Error::from)).collect()
}

/// Inside the restore's transaction, with the copy attached as `src`:
/// every table's rows become the copy's. What must never repeat stays at
/// the live store's high marks: the outbox's batch numbers (a late ack of
/// a batch handed out before the restore must not ack a new one), the
/// local message counter and the device's nonce (no message ID twice).
pub(crate) fn replace_contents(tx: &mut Tx<'_>) -> Result<()> {
    let conn = tx.conn;
    let live = tables(conn, "main")?;
    if live != tables(conn, "src")? {
        return Err(Error::StoreCorrupt(
            "the copy's tables differ from the store's".into(),
        ));
    }
    let total_before = meta::total_unread(conn)?;
    let sequences: Vec<(String, i64)> = {
        let mut st = conn.prepare("SELECT name, seq FROM main.sqlite_sequence")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let nonce = meta::get(conn, Key::DeviceNonce)?;
    let next_local = meta::counter(conn, Key::NextLocalId)?;
    for t in &live {
        // Identifiers cannot be bound; these are the schema's own names.
        let q = format!("\"{}\"", t.replace('"', "\"\""));
        conn.execute(&format!("DELETE FROM main.{q}"), [])?;
        conn.execute(&format!("INSERT INTO main.{q} SELECT * FROM src.{q}"), [])?;
    }
    for (name, seq) in sequences {
        let n = conn.execute(
            "UPDATE main.sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
            params![name, seq],
        )?;
        if n == 0 {
            conn.execute(
                "INSERT INTO main.sqlite_sequence(name, seq) VALUES (?1, ?2)",
                params![name, seq],
            )?;
        }
    }
    if let Some(nonce) = nonce {
        meta::set(conn, Key::DeviceNonce, &nonce)?;
    }
    let copy_next = meta::counter(conn, Key::NextLocalId)?;
    if next_local > copy_next {
        meta::set(conn, Key::NextLocalId, &next_local.to_string())?;
    }
    let total_after = meta::total_unread(conn)?;
    tx.total_moved += total_after as i64 - total_before as i64;
    Ok(())
}

/// Deletes the closed store at `path` for good: its `-wal`, `-shm`, then
/// the database (in that order, so a crash part-way never leaves a stale
/// WAL beside a new file). Refused with `STORE_BUSY` while any connection,
/// in this process or another, has it open: the check is SQLite's own
/// exclusive lock, held until the files are gone. Returns whether there
/// was a store to delete. A file that is not `user_id`'s store is refused
/// (`OWNER_MISMATCH`, `STORE_CORRUPT`) and left as it is.
pub fn delete_store(path: impl AsRef<Path>, user_id: &str) -> Result<bool> {
    let path = path.as_ref();
    crate::model::check_id("userID", user_id)?;
    let side = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    {
        // Header, version and owner, read-only.
        let ro = open_checked_read_only(path, Some(user_id)).map_err(|e| match e {
            Error::SchemaTooNew { .. } => Error::StoreCorrupt(
                "a store of a newer schema: delete it with the build that wrote it".into(),
            ),
            other => other,
        })?;
        drop(ro);
    }
    let conn = super::file::sqlite_open(path, OpenFlags::SQLITE_OPEN_READ_WRITE, "")?;
    conn.busy_timeout(std::time::Duration::from_millis(0))?;
    // Exclusive locking mode: the lock taken below is kept until close,
    // and SQLite grants it only when no other connection has the file open.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
        .map_err(|e| match Error::from(e) {
            Error::StoreBusy => Error::StoreBusy,
            other => other,
        })?;
    // Closing must neither checkpoint nor delete the WAL by name.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    for p in [
        side("-wal"),
        side("-shm"),
        side("-journal"),
        path.to_path_buf(),
    ] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    sync_parent(path);
    drop(conn);
    Ok(true)
}
