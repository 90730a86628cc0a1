//! A crash VFS for the power-loss tests: registered as SQLite's default VFS
//! in the test process, it wraps the unix VFS (every method delegates) and,
//! while armed, models what a power cut would keep.
//!
//! - Granularity: 4 KiB regions (SQLite's page size). The first write or
//!   truncate touching a region of the main database or `-wal` since that
//!   file's last successful xSync saves the region's synced bytes (and the
//!   file's synced length). A successful xSync forgets them: all is durable.
//! - The cut: after N write/sync/truncate calls (counted globally), every
//!   later read, write, sync, truncate, size, open, delete, access and shm
//!   map fails with an SQLITE_IOERR code, so the connection is done.
//! - After the Store is dropped, [`power_cut`] rewrites each file on disk:
//!   its length is either the synced or the current one, and each unsynced
//!   region keeps its new bytes, reverts to the synced ones, or is torn
//!   (each 512-byte sector new or old); a sector never holds garbage and
//!   bytes outside a write never change (the powersafe-overwrite property
//!   the unix VFS advertises). Bytes with no synced value read as zeros.
//!   Not modelled: a sector holding an older unsynced write than its last.
//! - Files: a created file always survives (its directory entry is taken
//!   as durable at once, directory syncs are not modelled), a deletion is
//!   durable at once. `-shm` is memory: SQLite opens it itself (not through
//!   xOpen), and it is left as it is, since the first connection of a
//!   process rebuilds it from the `-wal`. mmap is off (io_methods version 2,
//!   no xFetch), so every read and write goes through this layer.
//! - While armed, xSync does not call the real fsync: durability is what
//!   this model says, and skipping it keeps the suite fast. Disarmed, the
//!   layer is a plain pass-through; "reopen with the plain VFS" means that.
//! - Injected faults: the first write (EIO: SQLITE_IOERR_WRITE; ENOSPC:
//!   SQLITE_FULL) or sync (SQLITE_IOERR_FSYNC) after a chosen count fails
//!   once and does nothing (a failed sync makes nothing durable).
//!
//! Everything shared is behind one Mutex; tests take [`serial`] because the
//! VFS and its counters are process-wide.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use rusqlite::ffi;

const REGION: u64 = 4096;
const SECTOR: u64 = 512;

/// An injected error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// EIO on a write: SQLITE_IOERR_WRITE.
    WriteEio,
    /// EIO on xSync: SQLITE_IOERR_FSYNC.
    SyncEio,
    /// ENOSPC on a write: SQLITE_FULL.
    Enospc,
}

/// What an armed layer does.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Fail all I/O once this many write/sync/truncate calls succeeded.
    pub cut_after: Option<u64>,
    /// xSync returns OK and makes nothing durable (a control).
    pub lying_sync: bool,
    /// Fail the first matching call once more than this many were counted.
    pub fault: Option<(Fault, u64)>,
}

/// What [`power_cut`] did to the unsynced regions.
#[derive(Clone, Copy, Debug, Default)]
pub struct CutStats {
    pub kept: u64,
    pub reverted: u64,
    pub torn: u64,
}

struct Unsynced {
    synced_len: u64,
    old: BTreeMap<u64, Vec<u8>>,
}

struct State {
    armed: bool,
    cut: bool,
    plan: Plan,
    ops: u64,
    fired: u32,
    unsynced: BTreeMap<PathBuf, Unsynced>,
}

const IDLE: Plan = Plan {
    cut_after: None,
    lying_sync: false,
    fault: None,
};
static STATE: Mutex<State> = Mutex::new(State {
    armed: false,
    cut: false,
    plan: IDLE,
    ops: 0,
    fired: 0,
    unsynced: BTreeMap::new(),
});
static SERIAL: Mutex<()> = Mutex::new(());
static BASE: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the VFS (once) and holds the process-wide test lock.
pub fn serial() -> MutexGuard<'static, ()> {
    install();
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    disarm();
    g
}

/// Arms the layer with a plan; counters start at zero.
pub fn arm(plan: Plan) {
    let mut st = state();
    *st = State {
        armed: true,
        cut: false,
        plan,
        ops: 0,
        fired: 0,
        unsynced: BTreeMap::new(),
    };
}

/// Back to a plain pass-through; forgets what was unsynced.
pub fn disarm() {
    let mut st = state();
    st.armed = false;
    st.cut = false;
    st.unsynced.clear();
}

/// Write/sync/truncate calls counted since [`arm`].
pub fn ops() -> u64 {
    state().ops
}

/// Whether the cut happened.
pub fn was_cut() -> bool {
    state().cut
}

/// How many injected faults fired.
pub fn fired() -> u32 {
    state().fired
}

/// Cuts the power now (if it was not already): all later I/O fails.
pub fn cut_now() {
    state().cut = true;
}

/// Disarms, then applies the power cut to the files on disk (call with no
/// store open): each unsynced region is kept, reverted or torn by `seed`.
pub fn power_cut(seed: u64) -> CutStats {
    let files = {
        let mut st = state();
        st.armed = false;
        st.cut = false;
        std::mem::take(&mut st.unsynced)
    };
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut stats = CutStats::default();
    for (path, u) in files {
        let Ok(mut bytes) = std::fs::read(&path) else {
            continue; // deleted: deletions are durable
        };
        let now_len = bytes.len() as u64;
        let len = if now_len != u.synced_len && rng.next() & 1 == 0 {
            u.synced_len
        } else {
            now_len
        };
        bytes.resize(len as usize, 0);
        for (region, old) in &u.old {
            let how = rng.next() % 3;
            *[&mut stats.kept, &mut stats.reverted, &mut stats.torn][how as usize] += 1;
            for s in 0..REGION / SECTOR {
                let revert = how == 1 || (how == 2 && rng.next() & 1 == 0);
                let at = region * REGION + s * SECTOR;
                if !revert || at >= len {
                    continue;
                }
                for i in at..(at + SECTOR).min(len) {
                    bytes[i as usize] = old.get((i - region * REGION) as usize).map_or(0, |b| *b);
                }
            }
        }
        std::fs::write(&path, &bytes).expect("write the file after the power cut");
    }
    stats
}

/// xorshift64: the power cut's choices, so every run replays.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// The path of a main database or `-wal`; null for untracked files.
    path: *mut PathBuf,
}

const HDR: usize = (std::mem::size_of::<File>() + 7) & !7;

/// Calls the wrapped file's method `$m`.
macro_rules! real {
    ($f:expr, $m:ident $(, $a:expr)*) => {{
        let r = (*($f as *mut File)).real;
        match (*(*r).pMethods).$m {
            Some(x) => x(r $(, $a)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Write,
    Sync,
    Truncate,
}

/// Counts a write-side call on a tracked file, or fails it (the cut, a fault).
fn gate(st: &mut State, op: Op) -> Result<(), c_int> {
    let cut_rc = match op {
        Op::Write => ffi::SQLITE_IOERR_WRITE,
        Op::Sync => ffi::SQLITE_IOERR_FSYNC,
        Op::Truncate => ffi::SQLITE_IOERR_TRUNCATE,
    };
    if st.cut || st.plan.cut_after == Some(st.ops) {
        st.cut = true;
        return Err(cut_rc);
    }
    st.ops += 1;
    if let Some((fault, after)) = st.plan.fault {
        let rc = match (fault, op) {
            (Fault::WriteEio, Op::Write) => ffi::SQLITE_IOERR_WRITE,
            (Fault::Enospc, Op::Write) => ffi::SQLITE_FULL,
            (Fault::SyncEio, Op::Sync) => ffi::SQLITE_IOERR_FSYNC,
            _ => ffi::SQLITE_OK,
        };
        if rc != ffi::SQLITE_OK && st.ops > after {
            st.plan.fault = None;
            st.fired += 1;
            return Err(rc);
        }
    }
    Ok(())
}

/// Saves the synced bytes of the regions overlapping `[from, to)`.
unsafe fn remember(st: &mut State, f: *mut ffi::sqlite3_file, from: u64, to: u64) {
    let path = &*(*(f as *mut File)).path;
    if !st.unsynced.contains_key(path) {
        let mut size: ffi::sqlite3_int64 = 0;
        real!(f, xFileSize, &mut size);
        let u = Unsynced {
            synced_len: size as u64,
            old: BTreeMap::new(),
        };
        st.unsynced.insert(path.clone(), u);
    }
    let u = st.unsynced.get_mut(path).expect("just inserted");
    for region in from / REGION..to.div_ceil(REGION) {
        if u.old.contains_key(&region) {
            continue;
        }
        let mut buf = vec![0u8; REGION as usize];
        let at = (region * REGION) as i64;
        real!(f, xRead, buf.as_mut_ptr().cast(), REGION as c_int, at);
        buf.truncate(u.synced_len.saturating_sub(region * REGION).min(REGION) as usize);
        u.old.insert(region, buf);
    }
}

unsafe fn tracked(f: *mut ffi::sqlite3_file) -> bool {
    !(*(f as *mut File)).path.is_null()
}

/// The error for a read-side call after the cut, if any.
fn after_cut(rc: c_int) -> Option<c_int> {
    let st = state();
    (st.armed && st.cut).then_some(rc)
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    let rc = real!(f, xClose);
    let file = &mut *(f as *mut File);
    if !file.path.is_null() {
        drop(Box::from_raw(file.path));
        file.path = ptr::null_mut();
    }
    rc
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    n: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    after_cut(ffi::SQLITE_IOERR_READ).unwrap_or_else(|| real!(f, xRead, buf, n, off))
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    let mut st = state();
    if st.armed && tracked(f) {
        if let Err(rc) = gate(&mut st, Op::Write) {
            return rc;
        }
        remember(&mut st, f, off as u64, off as u64 + n as u64);
    } else if st.armed && st.cut {
        return ffi::SQLITE_IOERR_WRITE;
    }
    real!(f, xWrite, buf, n, off)
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    let mut st = state();
    if st.armed && tracked(f) {
        if let Err(rc) = gate(&mut st, Op::Truncate) {
            return rc;
        }
        let mut now: ffi::sqlite3_int64 = 0;
        real!(f, xFileSize, &mut now);
        remember(&mut st, f, size as u64, (now.max(size)) as u64);
    } else if st.armed && st.cut {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    real!(f, xTruncate, size)
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let mut st = state();
    if !st.armed {
        drop(st);
        return real!(f, xSync, flags);
    }
    if st.cut {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    if tracked(f) {
        if let Err(rc) = gate(&mut st, Op::Sync) {
            return rc;
        }
        if !st.plan.lying_sync {
            st.unsynced.remove(&*(*(f as *mut File)).path);
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, out: *mut ffi::sqlite3_int64) -> c_int {
    after_cut(ffi::SQLITE_IOERR_FSTAT).unwrap_or_else(|| real!(f, xFileSize, out))
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    real!(f, xLock, l)
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    real!(f, xUnlock, l)
}

unsafe extern "C" fn x_check_reserved(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    real!(f, xCheckReservedLock, out)
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    real!(f, xFileControl, op, arg)
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    real!(f, xSectorSize)
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    real!(f, xDeviceCharacteristics)
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    after_cut(ffi::SQLITE_IOERR_SHMMAP)
        .unwrap_or_else(|| real!(f, xShmMap, page, size, extend, out))
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    at: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    real!(f, xShmLock, at, n, flags)
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    let r = (*(f as *mut File)).real;
    if let Some(x) = (*(*r).pMethods).xShmBarrier {
        x(r);
    }
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    real!(f, xShmUnmap, delete)
}

static IO: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

fn base() -> *mut ffi::sqlite3_vfs {
    BASE.load(Ordering::SeqCst)
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    if let Some(rc) = after_cut(ffi::SQLITE_IOERR) {
        return rc;
    }
    let file = f as *mut File;
    let real = (f as *mut u8).add(HDR) as *mut ffi::sqlite3_file;
    (*file).base.pMethods = ptr::null();
    (*file).real = real;
    (*file).path = ptr::null_mut();
    (*real).pMethods = ptr::null();
    let Some(open) = (*base()).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = open(base(), name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        if !(*real).pMethods.is_null() {
            real!(f, xClose);
        }
        return rc;
    }
    if flags & (ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_WAL) != 0 && !name.is_null() {
        let p = PathBuf::from(OsStr::from_bytes(CStr::from_ptr(name).to_bytes()));
        (*file).path = Box::into_raw(Box::new(p));
    }
    (*file).base.pMethods = &IO;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    dir: c_int,
) -> c_int {
    {
        let mut st = state();
        if st.armed && st.cut {
            return ffi::SQLITE_IOERR_DELETE;
        }
        let path = Path::new(OsStr::from_bytes(CStr::from_ptr(name).to_bytes()));
        st.unsynced.remove(path);
    }
    match (*base()).xDelete {
        Some(del) => del(base(), name, dir),
        None => ffi::SQLITE_IOERR_DELETE,
    }
}

unsafe extern "C" fn x_access(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    if let Some(rc) = after_cut(ffi::SQLITE_IOERR_ACCESS) {
        return rc;
    }
    match (*base()).xAccess {
        Some(access) => access(base(), name, flags, out),
        None => ffi::SQLITE_IOERR_ACCESS,
    }
}

/// Registers the crash VFS as the process's default (once). The methods
/// not wrapped here are the unix VFS's own, with its `pAppData`.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        let unix = ffi::sqlite3_vfs_find(ptr::null());
        assert!(!unix.is_null(), "no default VFS");
        BASE.store(unix, Ordering::SeqCst);
        let mut v: ffi::sqlite3_vfs = ptr::read(unix);
        v.szOsFile = (HDR + (*unix).szOsFile as usize) as c_int;
        v.pNext = ptr::null_mut();
        v.zName = c"crash".as_ptr();
        v.xOpen = Some(x_open);
        v.xDelete = Some(x_delete);
        v.xAccess = Some(x_access);
        let rc = ffi::sqlite3_vfs_register(Box::into_raw(Box::new(v)), 1);
        assert_eq!(rc, ffi::SQLITE_OK, "register the crash VFS");
    });
}
