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
    key: Option<&str>,
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
    let copy = open_checked_read_only(src, Some(owner), key)?;
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
        if let Some(k) = key {
            super::file::apply_key(&c, k)?;
        }
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
    delete_store_with_key(path, user_id, None)
}

/// [`delete_store`] of an encrypted store, with its passphrase (the owner
/// check reads the file).
pub fn delete_store_with_key(
    path: impl AsRef<Path>,
    user_id: &str,
    key: Option<&str>,
) -> Result<bool> {
    let path = path.as_ref();
    crate::model::check_id("userID", user_id)?;
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    let conn = lock_closed_store(path, user_id, key)?;
    for p in [
        beside(path, "-wal"),
        beside(path, "-shm"),
        beside(path, "-journal"),
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

/// Takes SQLite's exclusive lock on the closed store at `path` (opened
/// with `key`) and keeps it while the connection lives; `STORE_BUSY` when
/// any other connection has the file open. The connection will neither
/// checkpoint nor delete the WAL by name when it closes.
fn lock_closed_store(path: &Path, user_id: &str, key: Option<&str>) -> Result<Connection> {
    {
        // Header, version and owner, read-only.
        let ro = open_checked_read_only(path, Some(user_id), key).map_err(|e| match e {
            Error::SchemaTooNew { .. } => {
                Error::StoreCorrupt("a store of a newer schema: use the build that wrote it".into())
            }
            other => other,
        })?;
        drop(ro);
    }
    let conn = super::file::sqlite_open(path, OpenFlags::SQLITE_OPEN_READ_WRITE, "", key)?;
    conn.busy_timeout(std::time::Duration::from_millis(0))?;
    // Exclusive locking mode: the lock taken below is kept until close,
    // and SQLite grants it only when no other connection has the file open.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    Ok(conn)
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Changes the key of the closed store at `path`: encrypts a plain store
/// (`from` `None`), decrypts one (`to` `None`) or re-keys it. The new file
/// is written beside the store, synced, and renamed over it while SQLite's
/// exclusive lock is held on the old one, so no store can be open on
/// either meanwhile (`STORE_BUSY` if one is). A crash leaves the old file
/// whole (its WAL checkpointed first). See [`crate::Store::rekey`] for an
/// open encrypted store.
pub fn change_key(
    path: impl AsRef<Path>,
    user_id: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<()> {
    let path = path.as_ref();
    crate::model::check_id("userID", user_id)?;
    if to == Some("") {
        return Err(Error::invalid("the new key must not be empty"));
    }
    if std::fs::symlink_metadata(path).is_err() {
        return Err(Error::Io("the file does not exist".into(), None));
    }
    let conn = lock_closed_store(path, user_id, from)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let tmp = scratch_beside(&conn, path, "rekey")?;
    // ATTACH cannot create a file through a connection opened without
    // SQLITE_OPEN_CREATE: the new file is created empty first.
    drop(Connection::open(&tmp.0)?);
    conn.execute(
        "ATTACH DATABASE ?1 AS dest KEY ?2",
        [utf8(&tmp.0)?, to.unwrap_or("")],
    )?;
    let (version, app): (i64, i64) = conn.query_row(
        "SELECT (SELECT user_version FROM pragma_user_version),
                (SELECT application_id FROM pragma_application_id)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    conn.query_row("SELECT sqlcipher_export('dest')", [], |_| Ok(()))?;
    // Pragmas take no bound values; both are integers read above.
    conn.execute_batch(&format!(
        "PRAGMA dest.user_version = {version}; PRAGMA dest.application_id = {app};"
    ))?;
    conn.execute_batch("DETACH DATABASE dest")?;
    super::file::make_private(&tmp.0);
    std::fs::File::open(&tmp.0)?.sync_all()?;
    for side in ["-wal", "-shm"] {
        match std::fs::remove_file(beside(path, side)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::rename(&tmp.0, path)?;
    sync_parent(path);
    drop(conn);
    Ok(())
}
