//! Two stores on one file in one process, through the C ABI, while other
//! processes come and go (the Rust-level twin is
//! `tests/one_file_many_stores.rs`). POSIX record locks belong to the process
//! and the file: closing any descriptor of the file drops all of the
//! process's locks on it. Were a store to open or close the file outside
//! SQLite, a visitor closing its store would take the exclusive lock,
//! checkpoint and delete the `-wal`/`-shm` the holder still writes to, and
//! the holder's later acknowledged writes would be invisible to others and
//! lost at kill -9.
//!
//! `tests/c/two_stores.c` is both roles: the holder (two stores on the file,
//! a refused open as another user and a passing third store now and then, a
//! stream of acknowledged saves printed to stdout) and the visitor (open,
//! check the newest acknowledged save is visible, save one of its own,
//! close). Each trial runs a holder, sends visitors, kills the holder with
//! SIGKILL, reopens the file and checks every acknowledged save and the
//! integrity check. No assertion depends on timing: the test waits for
//! counts of acknowledgements, not for durations.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use receiptdb::Store;

const OWNER: &str = "alice";
const TRIALS: usize = 10;
const VISITORS: usize = 4;
/// Acknowledgements to wait for before the first visitor, between visitors
/// and after the last one (so the holder writes after each close).
const ACKS_BEFORE: usize = 5;
const ACKS_BETWEEN: usize = 3;
const ACKS_AFTER: usize = 10;
/// The holder's loop length under valgrind.
const VALGRIND_SAVES: usize = 40;
/// How long to wait for a line before declaring the holder hung. A guard
/// against hangs only; nothing is asserted about time.
const HANG_GUARD: Duration = Duration::from_secs(120);

// ----- Building and running C programs (as in tests/c_abi.rs) -----

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo_dir() -> PathBuf {
    crate_dir().join("../..")
}

/// Where compiled C programs go.
fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("receiptdb-ffi");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The directory holding `libreceiptdb_ffi.so`: `deps/` beside this test
/// binary, where `cargo test` builds it; else `target/<profile>/` (maybe
/// stale, so checked); else a nested build.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let profile = deps.parent().unwrap();
        for d in [deps, profile] {
            if d.join("libreceiptdb_ffi.so").is_file() {
                assert_fresh(d);
                return d.to_path_buf();
            }
        }
        let target = out_dir().join("nested-target");
        eprintln!("library not beside the test binary; building it in {target:?}");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "-p", "receiptdb-ffi", "--target-dir"])
            .arg(&target)
            .current_dir(repo_dir())
            .status()
            .unwrap();
        assert!(status.success(), "nested cargo build failed");
        target.join("release")
    })
}

/// Fails when the library is older than its source: the test would then
/// check a stale build.
fn assert_fresh(dir: &Path) {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).unwrap();
    let src = mtime(&crate_dir().join("src/lib.rs"));
    assert!(
        mtime(&dir.join("libreceiptdb_ffi.so")) >= src,
        "libreceiptdb_ffi.so in {dir:?} is older than src/lib.rs: cargo did not rebuild it"
    );
}

/// `tests/c/two_stores.c`, compiled once against the header and linked to
/// the shared library.
fn program() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let src = crate_dir().join("tests/c/two_stores.c");
        let exe = out_dir().join("two_stores");
        let lib = lib_dir();
        let out = Command::new("cc")
            .args([
                "-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread",
            ])
            .arg("-I")
            .arg(crate_dir())
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(lib)
            .arg("-lreceiptdb_ffi")
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cc failed for {src:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    })
}

/// A command that runs a program linked to the library: `cargo test` puts
/// `target/<profile>/` (a possibly stale copy) on `LD_LIBRARY_PATH`, which
/// beats the program's RUNPATH, so name the fresh directory first.
fn linked(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut path = std::ffi::OsString::from(lib_dir());
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        path.push(":");
        path.push(old);
    }
    let mut cmd = Command::new(program);
    cmd.env("LD_LIBRARY_PATH", path);
    cmd
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn on_path(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

const VALGRIND: [&str; 4] = [
    "valgrind",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--error-exitcode=1",
];

// ----- The holder and the visitors -----

/// A running holder: its acknowledgements arrive on `acks`, in order.
struct Holder {
    child: Child,
    acks: Receiver<String>,
    acked: Vec<String>,
    stderr: PathBuf,
}

impl Holder {
    /// Starts `two_stores hold PATH saves` (under valgrind when asked).
    fn spawn(path: &Path, saves: usize, valgrind: bool) -> Holder {
        let stderr = path.with_extension("holder-stderr");
        let mut cmd = if valgrind {
            let mut c = linked(VALGRIND[0]);
            c.args(&VALGRIND[1..]).arg(program());
            c
        } else {
            linked(program())
        };
        let mut child = cmd
            .arg("hold")
            .arg(path)
            .arg(saves.to_string())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn holder");
        let stdout = child.stdout.take().unwrap();
        let (tx, acks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines: one cut short by the kill was never an ack.
            while r.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                if let Some(id) = line.trim_end().strip_prefix("ack ") {
                    if tx.send(id.to_string()).is_err() {
                        break;
                    }
                }
                line.clear();
            }
        });
        Holder {
            child,
            acks,
            acked: Vec::new(),
            stderr,
        }
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for `n` more acknowledgements; `Err` if the holder stops.
    fn wait_for(&mut self, n: usize) -> Result<(), String> {
        for _ in 0..n {
            match self.acks.recv_timeout(HANG_GUARD) {
                Ok(id) => self.acked.push(id),
                Err(e) => {
                    let status = self.child.try_wait();
                    return Err(format!(
                        "the holder stopped acknowledging ({e:?}, status {status:?}) \
                         after {} acks; its stderr: {}",
                        self.acked.len(),
                        self.stderr_text().trim()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Takes every acknowledgement left once the holder has exited.
    fn drain_to_end(&mut self) {
        loop {
            match self.acks.recv_timeout(HANG_GUARD) {
                Ok(id) => self.acked.push(id),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("holder stdout never closed"),
            }
        }
    }

    /// SIGKILL, then every acknowledgement left; `Err` if the holder had
    /// already stopped by itself (its own checks failing).
    fn kill(&mut self) -> Result<(), String> {
        let early = self.child.try_wait().expect("try_wait");
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
        self.drain_to_end();
        match early {
            None => Ok(()),
            Some(status) => Err(format!(
                "the holder exited by itself ({status}); its stderr: {}",
                self.stderr_text().trim()
            )),
        }
    }
}

/// A failed assertion must not leave a holder running (one in `hold PATH 0`
/// would go on for an hour).
impl Drop for Holder {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one visitor saw.
struct Visit {
    own_id: String,
    newest_visible: bool,
}

/// Runs `two_stores visit`: opens, looks for `newest`, saves `own_id`,
/// closes; `Err` if it failed (then `own_id` was not acknowledged).
fn visit(
    path: &Path,
    newest: &str,
    own_id: &str,
    seq: i64,
    valgrind: bool,
) -> Result<Visit, String> {
    let mut cmd = if valgrind {
        let mut c = linked(VALGRIND[0]);
        c.args(&VALGRIND[1..]).arg(program());
        c
    } else {
        linked(program())
    };
    let out = cmd
        .arg("visit")
        .arg(path)
        .args([newest, own_id, &seq.to_string()])
        .output()
        .expect("run visitor");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success()
        || !stdout.lines().any(|l| l == format!("ack {own_id}"))
        || (valgrind && !stderr.contains("ERROR SUMMARY: 0 errors"))
    {
        return Err(format!("visitor {own_id}: {}", show(&out)));
    }
    Ok(Visit {
        own_id: own_id.to_string(),
        newest_visible: stdout.lines().any(|l| l == format!("visible {newest}")),
    })
}

/// Reopens the file (every process on it gone) and lists what is wrong:
/// acknowledged saves missing, an integrity report other than "ok".
fn check_after_reopen(path: &Path, acked: &[String]) -> Vec<String> {
    let store = match Store::open(path, OWNER) {
        Ok(s) => s,
        Err(e) => return vec![format!("reopen failed: {e}")],
    };
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| store.find_message(id).expect("find").is_none())
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "{} of {} acknowledged saves missing after reopen (first {:?})",
            missing.len(),
            acked.len(),
            missing[0]
        ));
    }
    let report = store.integrity_check().expect("integrity check");
    if report != ["ok"] {
        problems.push(format!("integrity check: {report:?}"));
    }
    problems
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("receiptdb-two-stores")
        .tempdir()
        .unwrap()
}

/// What one trial's visitors left: their acknowledged saves, and the
/// newest holder acks they could not see.
#[derive(Default)]
struct Visitors {
    acked: Vec<String>,
    invisible: Vec<String>,
}

/// One trial while the holder runs: acks, visitors between acks, acks after.
fn run_trial(
    trial: usize,
    path: &Path,
    holder: &mut Holder,
    vs: &mut Visitors,
) -> Result<(), String> {
    holder.wait_for(ACKS_BEFORE)?;
    for v in 0..VISITORS {
        if v > 0 {
            holder.wait_for(ACKS_BETWEEN)?;
        }
        let newest = holder.acked.last().unwrap().clone();
        let id = format!("v{trial}_{v}");
        let seen = visit(path, &newest, &id, 1_000_000 + v as i64, false)?;
        if !seen.newest_visible {
            vs.invisible.push(newest);
        }
        vs.acked.push(seen.own_id);
    }
    // The holder must go on writing after the last visitor closed.
    holder.wait_for(ACKS_AFTER)
}

#[test]
fn two_stores_in_one_c_process_lose_nothing_while_visitors_come_and_go() {
    let t = Instant::now();
    let mut failed_trials = Vec::new();
    let mut total_acks = 0;
    for trial in 0..TRIALS {
        let dir = temp_dir();
        let path = dir.path().join("shared.db");
        drop(Store::open(&path, OWNER).expect("create"));
        let mut holder = Holder::spawn(&path, 0, false);
        let mut vs = Visitors::default();
        let run = run_trial(trial, &path, &mut holder, &mut vs);
        let killed = holder.kill();
        // Whatever went wrong, check what was acknowledged.
        // (A holder that stopped is reported once, by the first to see it.)
        let mut problems: Vec<String> = run.and(killed).err().into_iter().collect();
        let mut all = holder.acked.clone();
        all.extend(vs.acked);
        total_acks += all.len();
        problems.extend(check_after_reopen(&path, &all));
        if !vs.invisible.is_empty() {
            problems.push(format!(
                "newest ack invisible to {} visitor(s): {:?}",
                vs.invisible.len(),
                vs.invisible
            ));
        }
        if !problems.is_empty() {
            failed_trials.push(format!("trial {trial}: {}", problems.join("; ")));
        }
    }
    eprintln!(
        "two stores: {TRIALS} trials, {total_acks} acknowledged saves checked, {:?}",
        t.elapsed()
    );
    assert!(failed_trials.is_empty(), "{failed_trials:#?}");
}

#[test]
fn holder_is_clean_under_valgrind() {
    if !on_path("valgrind") {
        eprintln!("SKIPPED: valgrind is not on PATH (.ci/run installs it)");
        return;
    }
    let t = Instant::now();
    let dir = temp_dir();
    let path = dir.path().join("shared.db");
    let mut holder = Holder::spawn(&path, VALGRIND_SAVES, true);
    holder
        .wait_for(ACKS_BEFORE)
        .unwrap_or_else(|e| panic!("{e}"));
    // One visitor (itself under valgrind) while the holder writes.
    let newest = holder.acked.last().unwrap().clone();
    let seen =
        visit(&path, &newest, "v_valgrind", 1_000_000, true).unwrap_or_else(|e| panic!("{e}"));
    let status = holder.child.wait().expect("wait for holder");
    holder.drain_to_end();
    let stderr = holder.stderr_text();
    for line in stderr.lines() {
        if line.contains("ERROR SUMMARY") || line.contains("definitely lost") {
            eprintln!("valgrind: {line}");
        }
    }
    eprintln!("valgrind run: {:?}", t.elapsed());
    assert!(
        status.success() && stderr.contains("ERROR SUMMARY: 0 errors"),
        "holder under valgrind: status {status:?}\n--- stderr\n{stderr}"
    );
    assert_eq!(
        holder.acked.len(),
        VALGRIND_SAVES + 1,
        "h0..hN acknowledged"
    );
    assert!(seen.newest_visible, "the visitor saw {newest}");
    let mut all = holder.acked.clone();
    all.push(seen.own_id);
    let problems = check_after_reopen(&path, &all);
    assert!(problems.is_empty(), "{problems:#?}");
}
