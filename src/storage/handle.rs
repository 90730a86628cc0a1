//! What only SQLite's own file handle can tell safely: the header bytes and
//! whether the file at the path is still the one open.
//!
//! POSIX record locks belong to the process and the file: closing *any*
//! descriptor of the database drops every lock the process holds on it,
//! SQLite's included. So the store never opens the database, `-wal` or
//! `-shm` itself; it reads through the descriptor SQLite already shares
//! among the process's connections (SQLite defers closing it while a lock
//! is held).

// In the browser the open path is browser.rs: no identity or access checks.
#![cfg_attr(target_arch = "wasm32", allow(dead_code))]

use std::ffi::{c_int, c_void};
use std::path::Path;

use rusqlite::{ffi, Connection};

use crate::error::{Error, Result};

/// The main database file of `conn`, as SQLite holds it.
fn main_file(conn: &Connection) -> Result<*mut ffi::sqlite3_file> {
    let mut p: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the handle is live for `conn`'s lifetime; FILE_POINTER writes
    // one pointer into `p` and reads nothing else.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&mut p as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
        )
    };
    // SAFETY: `p` is either null or SQLite's open file of `conn`.
    if rc != ffi::SQLITE_OK || p.is_null() || unsafe { (*p).pMethods.is_null() } {
        return Err(Error::internal("SQLite did not open the store file"));
    }
    Ok(p)
}

/// Up to the first 100 bytes of the file `conn` has open (fewer when the
/// file is shorter), read without taking any lock.
pub(crate) fn read_header(conn: &Connection) -> Result<(usize, [u8; 100])> {
    let mut head = [0u8; 100];
    let file = main_file(conn)?;
    // SAFETY: `file` stays open while `conn` lives; `pMethods` was checked
    // non-null; xFileSize/xRead write only into the locals given.
    unsafe {
        let methods = &*(*file).pMethods;
        let (Some(size_of), Some(read)) = (methods.xFileSize, methods.xRead) else {
            return Err(Error::internal("the VFS cannot read the store file"));
        };
        let mut size: ffi::sqlite3_int64 = 0;
        if size_of(file, &mut size) != ffi::SQLITE_OK {
            return Err(Error::Io(
                "could not read the store file's size".into(),
                None,
            ));
        }
        let n = size.clamp(0, head.len() as i64) as usize;
        if n > 0 && read(file, head.as_mut_ptr().cast::<c_void>(), n as c_int, 0) != ffi::SQLITE_OK
        {
            return Err(Error::Io("could not read the store file".into(), None));
        }
        Ok((n, head))
    }
}

/// Device and inode of the file at `path` now (following symlinks).
#[cfg(unix)]
pub(crate) fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// No identity to compare on this platform: SQLite's own check stands alone.
#[cfg(not(unix))]
pub(crate) fn identity(_path: &Path) -> Option<(u64, u64)> {
    Some((0, 0))
}

/// Whether the file `conn` has open is no longer the file at its path
/// (moved, deleted, or replaced by another): SQLite's own test (the inode
/// of its handle against the path) and, as `expected`, the device and inode
/// the path had at open.
pub(crate) fn has_moved(conn: &Connection, path: &Path, expected: Option<(u64, u64)>) -> bool {
    let mut moved: c_int = 0;
    // SAFETY: HAS_MOVED writes one int into `moved`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_HAS_MOVED,
            (&mut moved as *mut c_int).cast::<c_void>(),
        )
    };
    if rc == ffi::SQLITE_OK && moved != 0 {
        return true;
    }
    match expected {
        Some(id) => identity(path) != Some(id),
        None => false,
    }
}

/// Whether SQLite opened `conn`'s main file read-only (it falls back to
/// read-only when the file cannot be written).
pub(crate) fn opened_read_only(conn: &Connection) -> bool {
    // SAFETY: a live handle and a NUL-terminated schema name.
    unsafe { ffi::sqlite3_db_readonly(conn.handle(), c"main".as_ptr()) == 1 }
}

/// Whether the process may write `path` (`access(2)` with `W_OK`).
#[cfg(unix)]
pub(crate) fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        fn access(path: *const std::ffi::c_char, mode: c_int) -> c_int;
    }
    const W_OK: c_int = 2;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; access reads it and nothing else.
    unsafe { access(c.as_ptr(), W_OK) == 0 }
}

/// Whether the process may write `path`, by its read-only attribute.
#[cfg(not(unix))]
pub(crate) fn may_write(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly())
}
