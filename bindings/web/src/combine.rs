//! A write-combining VFS over the OPFS sahpool VFS (docs/DESIGN.md, "In
//! the browser").
//!
//! An OPFS write costs about 0.1 ms whatever its size, and SQLite writes
//! each WAL frame as two writes (its 24-byte header, then its page), so a
//! commit of 8 pages made about 16 writes. This VFS keeps a `-wal` file's
//! writes in memory while they touch or extend one contiguous run, and hands
//! the run to the OPFS VFS as one write:
//! - right after the commit frame (the frame whose header carries the
//!   database size) is written, inside that write, so a failure fails the
//!   commit before SQLite counts it, exactly as a failed frame write did;
//! - before any sync, read, size, truncate or close of that WAL;
//! - when a write falls outside the run, or the run passes 1 MiB.
//!
//! Every commit is in OPFS before the call that made it returns, so each
//! durability mode keeps its promise. As a backstop, the database's
//! `SQLITE_FCNTL_COMMIT_PHASETWO` writes any run still pending; should that
//! late write fail, the WAL answers errors until the store is reopened.
//!
//! Every other file, and every other call, goes straight to the OPFS VFS.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

use sqlite_wasm_rs as ffi;

/// Past this many pending bytes a run is written at once (bounds memory).
const MAX_RUN: usize = 1 << 20;

/// The file SQLite holds: our header, then the OPFS VFS's own file.
#[repr(C)]
struct ShimFile {
    /// `pMethods`: [`IO`], or null until the OPFS file is open.
    base: ffi::sqlite3_file,
    /// The pending run of a WAL file; null for every other file.
    run: *mut Run,
}

/// Bytes not yet written, starting at `start`. `commit`: the last write was
/// a commit frame's header, so its page (the next write) ends the commit.
/// `failed`: a late write (after a commit counted) failed; 0 while none has.
struct Run {
    start: i64,
    bytes: Vec<u8>,
    commit: bool,
    failed: c_int,
}

/// A WAL frame header's size; its bytes 4..8 hold the database size in
/// pages on a commit frame, 0 on every other frame.
const FRAME_HEADER: usize = 24;

/// Where the OPFS VFS's file starts inside a [`ShimFile`] allocation.
const REAL_OFFSET: usize = std::mem::size_of::<ShimFile>().next_multiple_of(8);

thread_local! {
    /// The open WAL files (a commit writes their runs). wasm32 in a worker
    /// has one thread; SQLite calls the VFS from it only.
    static WALS: RefCell<Vec<*mut ShimFile>> = const { RefCell::new(Vec::new()) };
}

/// Registers the combining VFS over the VFS named `under` as SQLite's
/// default. Returns what failed, in words.
pub fn install(under: &str) -> Result<(), String> {
    let name = format!("combine:{under}");
    let c_name = CString::new(name.clone()).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated name; SQLite returns a registered VFS or null.
    let existing = unsafe { ffi::sqlite3_vfs_find(c_name.as_ptr()) };
    if !existing.is_null() {
        // SAFETY: a VFS SQLite holds; registering it again makes it the default.
        let rc = unsafe { ffi::sqlite3_vfs_register(existing, 1) };
        return code(rc, "register");
    }
    let c_under = CString::new(under).map_err(|e| e.to_string())?;
    // SAFETY: as above.
    let real = unsafe { ffi::sqlite3_vfs_find(c_under.as_ptr()) };
    if real.is_null() {
        return Err(format!("no VFS named {under}"));
    }
    // SAFETY: `real` is a registered VFS, alive for the process.
    let r = unsafe { &*real };
    let size = c_int::try_from(REAL_OFFSET)
        .ok()
        .and_then(|h| h.checked_add(r.szOsFile))
        .ok_or("file size overflow")?;
    let vfs = Box::new(ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: size,
        mxPathname: r.mxPathname,
        pNext: ptr::null_mut(),
        // Leaked with the VFS: a registered VFS lives as long as the module.
        zName: c_name.into_raw(),
        pAppData: real.cast(),
        xOpen: Some(x_open),
        xDelete: Some(x_delete),
        xAccess: Some(x_access),
        xFullPathname: Some(x_full_pathname),
        xDlOpen: None,
        xDlError: None,
        xDlSym: None,
        xDlClose: None,
        xRandomness: Some(x_randomness),
        xSleep: Some(x_sleep),
        xCurrentTime: Some(x_current_time),
        xGetLastError: Some(x_get_last_error),
        xCurrentTimeInt64: Some(x_current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    });
    // SAFETY: a complete VFS that lives for the rest of the process.
    let rc = unsafe { ffi::sqlite3_vfs_register(Box::into_raw(vfs), 1) };
    code(rc, "register")
}

fn code(rc: c_int, what: &str) -> Result<(), String> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!("{what} the combining VFS: SQLite code {rc}"))
    }
}

/// The OPFS VFS under ours.
///
/// # Safety
/// `vfs` is the VFS [`install`] registered.
unsafe fn real_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    (*vfs).pAppData.cast()
}

/// The OPFS VFS's file inside ours.
///
/// # Safety
/// `f` is a [`ShimFile`] allocation of our `szOsFile` bytes.
unsafe fn real_file(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    f.cast::<u8>().add(REAL_OFFSET).cast()
}

/// The OPFS file's methods (set by its `xOpen`).
///
/// # Safety
/// `f` is an open [`ShimFile`].
unsafe fn real_io(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real_file(f)).pMethods
}

/// Writes the pending run of `f` (a WAL) to OPFS; a no-op for other files.
///
/// # Safety
/// `f` is an open [`ShimFile`].
unsafe fn write_run(f: *mut ffi::sqlite3_file) -> c_int {
    let run = (*f.cast::<ShimFile>()).run;
    if run.is_null() {
        return ffi::SQLITE_OK;
    }
    let run = &mut *run;
    if run.failed != ffi::SQLITE_OK {
        return run.failed;
    }
    if run.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Ok(n) = c_int::try_from(run.bytes.len()) else {
        run.bytes.clear();
        return ffi::SQLITE_IOERR_WRITE;
    };
    let rc = match real_io(f).xWrite {
        Some(w) => w(real_file(f), run.bytes.as_ptr().cast(), n, run.start),
        None => ffi::SQLITE_IOERR_WRITE,
    };
    // On failure the bytes are dropped and the caller returns the error to
    // SQLite, which fails the statement or commit that wrote them.
    run.bytes.clear();
    rc
}

/// Writes the runs of every open WAL (the backstop at a commit's end). A
/// failure here comes after SQLite counted the commit: the WAL then fails
/// every later call, so nothing is answered from frames OPFS lacks.
fn write_all_runs() -> c_int {
    let files = WALS.with(|w| w.borrow().clone());
    let mut rc = ffi::SQLITE_OK;
    for f in files {
        // SAFETY: WALS holds only open files; `x_close` removes each first.
        let r = unsafe { write_run(f.cast()) };
        if r != ffi::SQLITE_OK {
            // SAFETY: as above; a WAL's run is set while it is open.
            unsafe { (*(*f).run).failed = r };
            if rc == ffi::SQLITE_OK {
                rc = r;
            }
        }
    }
    rc
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let f = file.cast::<ShimFile>();
    (*f).base.pMethods = ptr::null();
    (*f).run = ptr::null_mut();
    let real = real_vfs(vfs);
    let inner = real_file(file);
    (*inner).pMethods = ptr::null();
    let Some(open) = (*real).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = open(real, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // SQLite closes only a file whose pMethods is set: ours is not.
        if !(*inner).pMethods.is_null() {
            if let Some(close) = (*(*inner).pMethods).xClose {
                close(inner);
            }
        }
        return rc;
    }
    if flags & ffi::SQLITE_OPEN_WAL != 0 {
        (*f).run = Box::into_raw(Box::new(Run {
            start: 0,
            bytes: Vec::new(),
            commit: false,
            failed: ffi::SQLITE_OK,
        }));
        WALS.with(|w| w.borrow_mut().push(f));
    }
    (*f).base.pMethods = &IO;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let written = write_run(file);
    let f = file.cast::<ShimFile>();
    if !(*f).run.is_null() {
        WALS.with(|w| w.borrow_mut().retain(|&p| p != f));
        drop(Box::from_raw((*f).run));
        (*f).run = ptr::null_mut();
    }
    let rc = match real_io(file).xClose {
        Some(c) => c(real_file(file)),
        None => ffi::SQLITE_OK,
    };
    if written != ffi::SQLITE_OK {
        written
    } else {
        rc
    }
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    let rc = write_run(file);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match real_io(file).xRead {
        Some(r) => r(real_file(file), buf, amt, offset),
        None => ffi::SQLITE_IOERR_READ,
    }
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    let run = (*file.cast::<ShimFile>()).run;
    let Ok(len) = usize::try_from(amt) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if run.is_null() || buf.is_null() {
        return match real_io(file).xWrite {
            Some(w) => w(real_file(file), buf, amt, offset),
            None => ffi::SQLITE_IOERR_WRITE,
        };
    }
    if (*run).failed != ffi::SQLITE_OK {
        return (*run).failed;
    }
    // Outside the run (or the first write): write the run, start a new one here.
    let end = (*run).start + (*run).bytes.len() as i64;
    if (*run).bytes.is_empty() || offset < (*run).start || offset > end {
        let rc = write_run(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        (*run).start = offset;
    }
    let run = &mut *run;
    let at = (offset - run.start) as usize;
    let Some(stop) = at.checked_add(len) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if stop > run.bytes.len() {
        run.bytes.resize(stop, 0);
    }
    // SAFETY: SQLite hands `amt` readable bytes at `buf`.
    let src = std::slice::from_raw_parts(buf.cast::<u8>(), len);
    run.bytes[at..stop].copy_from_slice(src);
    // This write is the page of a commit frame: the commit goes to OPFS now.
    let ends_commit = run.commit;
    run.commit = len == FRAME_HEADER && src[4..8] != [0, 0, 0, 0];
    if ends_commit || run.bytes.len() >= MAX_RUN {
        return write_run(file);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let rc = write_run(file);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match real_io(file).xTruncate {
        Some(t) => t(real_file(file), size),
        None => ffi::SQLITE_IOERR_TRUNCATE,
    }
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let rc = write_run(file);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match real_io(file).xSync {
        Some(s) => s(real_file(file), flags),
        None => ffi::SQLITE_IOERR_FSYNC,
    }
}

unsafe extern "C" fn x_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    let rc = write_run(file);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match real_io(file).xFileSize {
        Some(s) => s(real_file(file), size),
        None => ffi::SQLITE_IOERR_FSTAT,
    }
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    match real_io(file).xLock {
        Some(l) => l(real_file(file), level),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    match real_io(file).xUnlock {
        Some(l) => l(real_file(file), level),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn x_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    match real_io(file).xCheckReservedLock {
        Some(c) => c(real_file(file), out),
        None => {
            *out = 0;
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn x_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    if op == ffi::SQLITE_FCNTL_COMMIT_PHASETWO {
        // The transaction just committed: its frames go to OPFS now.
        let rc = write_all_runs();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    match real_io(file).xFileControl {
        Some(c) => c(real_file(file), op, arg),
        None => ffi::SQLITE_NOTFOUND,
    }
}

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    match real_io(file).xSectorSize {
        Some(s) => s(real_file(file)),
        None => 4096,
    }
}

/// The OPFS VFS's characteristics, plus power-safe overwrite: a write
/// never damages bytes outside its range on a power cut, as SQLite's unix
/// VFS assumes by default natively (the OPFS file is a file on the same
/// kind of file system). Without it SQLite pads each synced WAL commit to
/// the 4 KiB sector with a copy of the commit frame: one more write a
/// commit at "full".
unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let real = match real_io(file).xDeviceCharacteristics {
        Some(d) => d(real_file(file)),
        None => 0,
    };
    real | ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE
}

/// Version 1: no shared memory. The store runs WAL in exclusive locking,
/// where SQLite keeps the WAL index in heap memory (as over sahpool alone).
static IO: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

// The VFS-level calls, each passed to the OPFS VFS with its own VFS pointer
// (it finds its state there).

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync: c_int,
) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xDelete {
        Some(d) => d(r, name, sync),
        None => ffi::SQLITE_IOERR_DELETE,
    }
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xAccess {
        Some(a) => a(r, name, flags, out),
        None => ffi::SQLITE_IOERR_ACCESS,
    }
}

unsafe extern "C" fn x_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xFullPathname {
        Some(f) => f(r, name, n, out),
        None => ffi::SQLITE_CANTOPEN,
    }
}

unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xRandomness {
        Some(f) => f(r, n, out),
        None => 0,
    }
}

unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xSleep {
        Some(f) => f(r, micros),
        None => 0,
    }
}

unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xCurrentTime {
        Some(f) => f(r, out),
        None => ffi::SQLITE_ERROR,
    }
}

unsafe extern "C" fn x_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let r = real_vfs(vfs);
    match (*r).xGetLastError {
        Some(f) => f(r, n, out),
        None => 0,
    }
}

unsafe extern "C" fn x_current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    let r = real_vfs(vfs);
    match ((*r).iVersion >= 2)
        .then_some((*r).xCurrentTimeInt64)
        .flatten()
    {
        Some(f) => f(r, out),
        None => {
            let mut days = 0.0;
            let rc = x_current_time(vfs, &mut days);
            *out = (days * 86_400_000.0) as i64;
            rc
        }
    }
}
