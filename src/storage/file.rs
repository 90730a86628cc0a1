//! Opening a store file safely: create in place, header and owner checks,
//! migrations, and the read-only `check`. Nothing here knows the tables
//! beyond `meta`'s owner row.
// In the browser only the checks and migrations here are used (browser.rs).
#![cfg_attr(target_arch = "wasm32", allow(dead_code, unused_imports))]

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::handle;
use super::meta::Key;
use super::options::{Durability, OpenOptions};
use crate::error::{Error, Result};

/// `PRAGMA application_id` of receiptdb files ("RCPT").
pub const APPLICATION_ID: i32 = 0x5243_5054;

/// Numbered migrations; index + 1 is the `user_version` each one reaches.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema/001_init.sql"),
    include_str!("../../schema/002_read_state.sql"),
    include_str!("../../schema/003_receipt_truth.sql"),
    include_str!("../../schema/004_read_state_beyond.sql"),
    include_str!("../../schema/005_deletion.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open store connection and what its writes must check.
pub(crate) struct Opened {
    /// The migrated connection with its pragmas set.
    pub conn: Connection,
    /// The path and the file's (device, inode) at open, for the moved
    /// check before each commit; `None` in memory.
    pub file: Option<(PathBuf, Option<(u64, u64)>)>,
    /// The file or its folder cannot be written: every write answers
    /// `READ_ONLY`.
    pub read_only: bool,
}

/// Opens (or creates) the store file at `path` for `user_id`: the checks,
/// the migration and the pragmas of an open connection. A file or folder
/// that cannot be written opens read-only. (The browser's is `browser.rs`.)
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn open_connection(path: &Path, user_id: &str, opts: &OpenOptions) -> Result<Opened> {
    let key = opts.key.as_deref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::Io("the store's folder is not a folder".into(), None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Io("the store's folder does not exist".into(), None))
        }
        Err(e) => return Err(e.into()),
    }
    let exists = std::fs::symlink_metadata(path).is_ok();
    if !handle::may_write(dir) || (exists && !handle::may_write(path)) {
        return open_read_only_store(path, user_id, key);
    }
    let looked = ensure_store_file(path, user_id, opts)?;
    // Before SQLite creates -wal/-shm: it gives them the database's mode.
    make_private(path);
    {
        // Owner and version are checked read-only, so a refused open never
        // writes the file (nor leaves -wal/-shm files beside it). An
        // encrypted store's look for emptiness is reused: each keyed
        // connection derives the key again (PBKDF2, tenths of a second).
        let ro = match looked {
            Some(c) => c,
            None => open_read_only(path, key)?,
        };
        check_header(&ro, path, key)?;
        check_existing(&ro, Some(user_id))?;
    }
    let mut conn = sqlite_open(path, OpenFlags::SQLITE_OPEN_READ_WRITE, "", key)
        .map_err(corrupt_if_open_fails)?;
    if handle::opened_read_only(&conn) {
        drop(conn);
        return open_read_only_store(path, user_id, key);
    }
    let identity = handle::identity(path);
    conn.busy_timeout(std::time::Duration::from_millis(opts.busy_timeout_ms))?;
    migrate(&mut conn, user_id)?;
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
    // 16 MiB of page cache (SQLite's default is 2 MiB): big groups'
    // member and reader trees stay in memory.
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(Opened {
        conn,
        file: Some((path.to_path_buf(), identity)),
        read_only: false,
    })
}

/// A store whose file or folder cannot be written: reads answer; a schema
/// upgrade it would need is refused as `READ_ONLY` (the old schema cannot
/// answer this build's queries).
fn open_read_only_store(path: &Path, user_id: &str, key: Option<&str>) -> Result<Opened> {
    if std::fs::metadata(path).is_err() {
        return Err(Error::ReadOnly(
            "the folder cannot be written, so the store cannot be created".into(),
        ));
    }
    let conn = open_read_only(path, key)?;
    check_header(&conn, path, key)?;
    check_existing(&conn, Some(user_id))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        return Err(Error::ReadOnly(format!(
            "the store needs an upgrade from schema version {version}, and its file cannot be written"
        )));
    }
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(Opened {
        conn,
        file: None,
        read_only: true,
    })
}

/// Clears the group and other bits of the store's files: messages are
/// the owner's alone, also when the app created the empty file first. Best
/// effort: a file of another owner keeps its mode.
pub(super) fn make_private(path: &Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(m) = std::fs::metadata(&p) {
            let mode = m.permissions().mode();
            if mode & 0o077 != 0 {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Opens `path` as a file name (through an explicit `file:` URI, so a name
/// that itself starts with `file:` is never parsed as one).
pub(super) fn sqlite_open(
    path: &Path,
    flags: OpenFlags,
    query: &str,
    key: Option<&str>,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        file_uri(path) + query,
        flags | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    if let Some(k) = key {
        // Before any page is read: SQLCipher decrypts every page with it.
        apply_key(&conn, k)?;
    }
    Ok(conn)
}

/// Gives SQLCipher the passphrase of `conn`'s database (a pragma's value
/// cannot be bound; rusqlite writes it as a quoted SQL literal).
pub(super) fn apply_key(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    // A wrong key is answered as an error; SQLCipher must not also print
    // to the host's stderr.
    conn.execute_batch("PRAGMA cipher_log_level = NONE")?;
    conn.pragma_update(None, "key", key)
}

/// A migrated store in memory, for tests and tools.
pub(crate) fn open_memory_connection(user_id: &str) -> Result<Opened> {
    let mut conn = Connection::open_in_memory()?;
    migrate(&mut conn, user_id)?;
    Ok(Opened {
        conn,
        file: None,
        read_only: false,
    })
}

/// Creates `path` as an empty private (0600) file unless something is
/// there. SQLite creates it, so no descriptor of ours is ever closed on a
/// file a store of this process may hold; a symlink put there meanwhile is
/// not followed.
fn create_private(path: &Path) -> Result<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = sqlite_open(path, flags, "", None).map_err(Error::from)?;
    drop(conn);
    make_private(path);
    sync_parent(path);
    Ok(())
}

pub(super) fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What kind of thing other than a regular file sits at a path.
fn not_a_regular_file(m: &std::fs::Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Makes sure a store file exists at `path` (following a symlink to the
/// file it names) without ever replacing or truncating anything: a missing
/// file is created empty with `O_EXCL`, and an empty regular file becomes a
/// store in place, under SQLite's own lock, so two processes creating it at
/// once end up on the same file. Anything that is not a regular file is
/// refused untouched.
/// Returns the read-only connection that looked into an encrypted store,
/// for the open checks to reuse.
fn ensure_store_file(path: &Path, user_id: &str, opts: &OpenOptions) -> Result<Option<Connection>> {
    // A few rounds: another process may create or fill the file meanwhile.
    for _ in 0..4 {
        match std::fs::metadata(path) {
            Ok(m) => {
                if let Some(kind) = not_a_regular_file(&m) {
                    return Err(Error::StoreCorrupt(format!(
                        "the path is {kind}, not a store file"
                    )));
                }
                if m.len() > 0 {
                    let (empty, conn) = is_empty_database(path, opts.key.as_deref())?;
                    if !empty {
                        return Ok(conn);
                    }
                }
                // Then look again: the header must now be in the file.
                create_in_place_retrying(path, user_id, opts)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(path).is_ok() {
                    return Err(Error::Io(
                        "the path is a symlink to a missing file".into(),
                        None,
                    ));
                }
                create_private(path)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Io(
        "the store file kept changing while it was opened".into(),
        None,
    ))
}

/// An SQLite database of one page with no application ID and no version:
/// no table can exist in it (each needs a page of its own). Another process
/// creating the store in place leaves one for a moment (switching to WAL
/// writes the header before the schema commits).
/// With a key, also the connection that looked (for the open checks).
fn is_empty_database(path: &Path, key: Option<&str>) -> Result<(bool, Option<Connection>)> {
    if key.is_some() {
        // Encrypted: only SQLCipher can read the header. A page that does
        // not decrypt is no empty store (the open checks then say why).
        let conn = open_read_only(path, key)?;
        let empty = conn.query_row(
            "SELECT (SELECT application_id FROM pragma_application_id) = 0
                AND (SELECT user_version FROM pragma_user_version) = 0
                AND (SELECT count(*) FROM sqlite_master) = 0",
            [],
            |r| r.get::<_, bool>(0),
        );
        return Ok((empty.unwrap_or(false), Some(conn)));
    }
    let (n, head) = handle::read_header(&open_read_only(path, None)?)?;
    if n < 100 || &head[..16] != b"SQLite format 3\0" {
        return Ok((false, None));
    }
    let be32 = |o: usize| u32::from_be_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    Ok((be32(68) == 0 && be32(60) == 0 && be32(28) <= 1, None))
}

/// [`create_in_place`], retried while another process holds the lock in a
/// way SQLite reports at once (a journal-mode switch does not wait).
fn create_in_place_retrying(path: &Path, user_id: &str, opts: &OpenOptions) -> Result<()> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(opts.busy_timeout_ms);
    loop {
        match create_in_place(path, user_id, opts) {
            Err(Error::StoreBusy) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Turns an empty file into a store where it is. The schema goes into the
/// WAL in one transaction, so a crash leaves an empty database that the next
/// open completes; the checkpoint then writes the header into the file.
fn create_in_place(path: &Path, user_id: &str, opts: &OpenOptions) -> Result<()> {
    make_private(path);
    let mut conn = sqlite_open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE,
        "",
        opts.key.as_deref(),
    )
    .map_err(corrupt_if_open_fails)?;
    conn.busy_timeout(std::time::Duration::from_millis(opts.busy_timeout_ms))?;
    // Someone else's database may have landed here meanwhile: only an empty
    // one is made a store (and one of ours is left as it is).
    // One statement, one snapshot: the three agree even while another
    // process commits the schema.
    let (version, app, tables): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT user_version FROM pragma_user_version),
                (SELECT application_id FROM pragma_application_id),
                (SELECT count(*) FROM sqlite_master)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if !(version == 0 && tables == 0) && app != i64::from(APPLICATION_ID) {
        return Err(Error::StoreCorrupt(
            "an SQLite database of another application".into(),
        ));
    }
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Sqlite(
            format!("could not enable WAL (got {mode})"),
            None,
        ));
    }
    migrate(&mut conn, user_id)?;
    // Another process may be checkpointing the same WAL: wait for the
    // header to reach the file, which the next look at it relies on.
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(opts.busy_timeout_ms);
    loop {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    conn.close().map_err(|(_, e)| Error::from(e))?;
    sync_parent(path);
    Ok(())
}

/// A read-only connection that creates no files: `immutable` when no WAL
/// sits beside the store (then the main file is the whole truth).
fn open_read_only(path: &Path, key: Option<&str>) -> Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let query = if Path::new(&wal).exists() {
        "?mode=ro"
    } else {
        "?mode=ro&immutable=1"
    };
    sqlite_open(path, OpenFlags::SQLITE_OPEN_READ_ONLY, query, key).map_err(corrupt_if_open_fails)
}

/// `file:` URI of a path, percent-encoding every byte outside the unreserved set.
fn file_uri(path: &Path) -> String {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().as_bytes().to_vec();
    let mut s = String::from("file:");
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The header checks, on the bytes SQLite's handle reads: an SQLite file of
/// this application, not truncated, of a schema version this build knows.
fn check_header(conn: &Connection, path: &Path, key: Option<&str>) -> Result<()> {
    if key.is_some() {
        // Encrypted: the bytes say nothing; SQLite reads them decrypted.
        return check_keyed(conn);
    }
    let (n, head) = handle::read_header(conn)?;
    if n < 100 || &head[..16] != b"SQLite format 3\0" {
        return Err(Error::StoreCorrupt(
            "not an SQLite database (or an encrypted store opened without its key)".into(),
        ));
    }
    let app = i32::from_be_bytes([head[68], head[69], head[70], head[71]]);
    if app != APPLICATION_ID {
        return Err(Error::StoreCorrupt(
            "an SQLite database of another application".into(),
        ));
    }
    check_size(path, &head)?;
    check_version(i32::from_be_bytes([head[60], head[61], head[62], head[63]]).into())
}

/// The header checks of an encrypted store, through SQLCipher: a page
/// that does not decrypt means the key is wrong (or the file is not an
/// encrypted store: the two cannot be told apart).
fn check_keyed(conn: &Connection) -> Result<()> {
    let read = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id),
                (SELECT user_version FROM pragma_user_version),
                (SELECT count(*) FROM sqlite_master)",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    );
    let (app, version, _) = read.map_err(|e| match Error::from(e) {
        Error::StoreCorrupt(_) => {
            Error::WrongKey("wrong key, or the store is not encrypted (or not a store)".into())
        }
        other => other,
    })?;
    if app != i64::from(APPLICATION_ID) {
        return Err(Error::StoreCorrupt(
            "an SQLite database of another application".into(),
        ));
    }
    check_version(version)
}

/// A stored schema version this build can open: 1..=SCHEMA_VERSION.
pub(super) fn check_version(version: i64) -> Result<()> {
    if version < 1 {
        return Err(Error::StoreCorrupt(format!(
            "schema version {version} is not valid"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// A truncated file: shorter than the page count its header gives. Only
/// checked with no WAL beside it (a WAL may hold the missing pages).
fn check_size(path: &Path, head: &[u8; 100]) -> Result<()> {
    let be32 = |o: usize| u32::from_be_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65536u64,
        n => n as u64,
    };
    let pages = be32(28) as u64;
    let size_valid = be32(92) == be32(24) && pages > 0;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_len = std::fs::metadata(Path::new(&wal))
        .map(|m| m.len())
        .unwrap_or(0);
    let len = std::fs::metadata(path)?.len();
    if size_valid && wal_len == 0 && len < pages * page_size {
        return Err(Error::StoreCorrupt("the file is truncated".into()));
    }
    Ok(())
}

fn corrupt_if_open_fails(e: rusqlite::Error) -> Error {
    match Error::from(e) {
        Error::Sqlite(m, _) => Error::StoreCorrupt(m),
        other => other,
    }
}

/// Read-only checks on an existing file: schema version and owner (any
/// owner when `user_id` is `None`).
pub(super) fn check_existing(conn: &Connection, user_id: Option<&str>) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt_if_open_fails)?;
    check_version(version)?;
    let owner: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            params![Key::Owner.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(corrupt_if_open_fails)?;
    match owner {
        Some(o) if user_id.is_none_or(|u| u == o) => Ok(()),
        Some(_) => Err(Error::OwnerMismatch),
        None => Err(Error::StoreCorrupt("the store has no owner".into())),
    }
}

/// Brings the schema up to date in one transaction; records the owner on creation.
pub(super) fn migrate(conn: &mut Connection, user_id: &str) -> Result<()> {
    // Take the write lock only when there is something to migrate.
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A version from the file is input: never an index before it is checked.
    let pending = usize::try_from(version)
        .ok()
        .and_then(|v| MIGRATIONS.get(v..))
        .ok_or_else(|| Error::StoreCorrupt(format!("schema version {version} is not valid")))?;
    if version < SCHEMA_VERSION {
        if version == 0 {
            let tables: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables > 0 {
                return Err(Error::StoreCorrupt(
                    "an SQLite database of another application".into(),
                ));
            }
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        for sql in pending {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)",
            params![Key::Owner.as_str(), user_id],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A read-only connection to an existing store that passed the open checks
/// (header, version, owner when given); never writes to the file.
pub(crate) fn open_checked_read_only(
    path: &Path,
    user_id: Option<&str>,
    key: Option<&str>,
) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::Io("the file does not exist".into(), None));
    }
    let conn = open_read_only(path, key)?;
    check_header(&conn, path, key)?;
    check_existing(&conn, user_id)?;
    Ok(conn)
}

/// Opens a store file read-only and runs the full `PRAGMA integrity_check`;
/// never writes to the file. Checks the owner when `user_id` is given.
pub fn check_file(path: impl AsRef<Path>, user_id: Option<&str>) -> Result<Vec<String>> {
    check_file_with_key(path, user_id, None)
}

/// [`check_file`] of an encrypted store, with its passphrase.
pub fn check_file_with_key(
    path: impl AsRef<Path>,
    user_id: Option<&str>,
    key: Option<&str>,
) -> Result<Vec<String>> {
    let conn = open_checked_read_only(path.as_ref(), user_id, key)?;
    let mut st = conn
        .prepare("PRAGMA integrity_check")
        .map_err(corrupt_if_open_fails)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(corrupt_if_open_fails)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(corrupt_if_open_fails)?);
    }
    Ok(out)
}
