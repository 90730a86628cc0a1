//! The C ABI driven from C and Python, as a host app drives it: compile
//! `tests/c/test_ffi.c` and the examples with `cc` against `receiptdb.h`, link
//! the library cargo built for this run, run them (and under valgrind).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

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

/// The directory holding `libreceiptdb_ffi.so` and `.a`: `deps/` beside this
/// test binary, where `cargo test` builds them (with the rlib this binary
/// links); `cargo test` does not copy them up to `target/<profile>/`, so that
/// copy may be stale and is only the second choice. Failing both, a nested
/// build makes them.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let profile = deps.parent().unwrap();
        for d in [deps, profile] {
            if d.join("libreceiptdb_ffi.so").is_file() && d.join("libreceiptdb_ffi.a").is_file() {
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

/// Fails when the library is older than its source: these tests would then
/// check a stale build.
fn assert_fresh(dir: &Path) {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).unwrap();
    let src = mtime(&crate_dir().join("src/lib.rs"));
    for lib in ["libreceiptdb_ffi.so", "libreceiptdb_ffi.a"] {
        assert!(
            mtime(&dir.join(lib)) >= src,
            "{lib} in {dir:?} is older than src/lib.rs: cargo did not rebuild it"
        );
    }
}

/// Compiles `src` to `out_dir()/name` with `cc`, against the header, linked
/// to the shared library (or the static one).
fn compile(src: &Path, name: &str, static_lib: bool) -> PathBuf {
    let exe = out_dir().join(name);
    let lib = lib_dir();
    let mut cmd = Command::new("cc");
    cmd.args([
        "-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread",
    ])
    .arg("-I")
    .arg(crate_dir())
    .arg(src)
    .arg("-o")
    .arg(&exe);
    if static_lib {
        cmd.arg(lib.join("libreceiptdb_ffi.a"))
            .args(["-lcrypto", "-lpthread", "-ldl", "-lm"]);
    } else {
        cmd.arg("-L")
            .arg(lib)
            .arg("-lreceiptdb_ffi")
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cc failed for {src:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
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

fn test_program(name: &str, static_lib: bool) -> PathBuf {
    compile(&crate_dir().join("tests/c/test_ffi.c"), name, static_lib)
}

fn assert_all_passed(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("checks passed") && !stdout.contains("FAIL"),
        "{}",
        show(out)
    );
}

#[test]
fn c_test_program_passes() {
    let exe = test_program("test_ffi", false);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = linked(&exe).arg(dir.path()).output().unwrap();
    eprintln!(
        "test_ffi: {:?}: {}",
        t.elapsed(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    assert_all_passed(&out);
}

#[test]
fn c_test_program_passes_linked_statically() {
    let exe = test_program("test_ffi_static", true);
    let dir = tempfile::tempdir().unwrap();
    let out = linked(&exe).arg(dir.path()).output().unwrap();
    assert_all_passed(&out);
}

fn on_path(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn c_test_program_is_clean_under_valgrind() {
    if !on_path("valgrind") {
        eprintln!("SKIPPED: valgrind is not on PATH (.ci/run installs it)");
        return;
    }
    let exe = test_program("test_ffi_valgrind", false);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = linked("valgrind")
        .args([
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=1",
        ])
        .arg(&exe)
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        if line.contains("ERROR SUMMARY") || line.contains("definitely lost") {
            eprintln!("valgrind: {line}");
        }
    }
    eprintln!("valgrind run: {:?}", t.elapsed());
    assert_all_passed(&out);
    assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{}", show(&out));
}

#[test]
fn c_example_runs() {
    let exe = compile(
        &repo_dir().join("examples/c_receipts.c"),
        "c_receipts",
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = linked(&exe)
        .arg(dir.path().join("alice.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('{')).collect();
    // setGroup, saveMessages (the total unread event first), receipt,
    // notification (its event first), member list.
    assert_eq!(lines.len(), 7, "{stdout}");
    assert!(
        lines[1].contains("TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"),
        "{stdout}"
    );
    assert!(lines[2].contains("\"saved\":2"), "{stdout}");
    assert!(lines[3].contains("\"queued\":[\"m2\"]"), "{stdout}");
    assert!(
        lines[4].contains("MESSAGE_READ_RECEIPT_RECEIVED"),
        "{stdout}"
    );
    assert!(lines[5].contains("\"changed\":[\"m1\"]"), "{stdout}");
    assert!(
        lines[6].contains("\"unreadUserIDList\":[\"carol\"]"),
        "{stdout}"
    );
}

#[test]
fn python_ctypes_example_runs() {
    if !on_path("python3") {
        eprintln!("SKIPPED: python3 is not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(repo_dir().join("examples/python_ctypes.py"))
        .arg(dir.path().join("alice.db"))
        .env("RECEIPTDB_FFI_LIB", lib_dir().join("libreceiptdb_ffi.so"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("event MESSAGE_READ_RECEIPT_RECEIVED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"unreadUserIDList\": [\"carol\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("open as mallory: OWNER_MISMATCH"),
        "{stdout}"
    );
}

#[test]
fn header_is_valid_cpp_too() {
    if !on_path("c++") {
        eprintln!("SKIPPED: c++ is not on PATH");
        return;
    }
    let out = Command::new("c++")
        .args([
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-x",
            "c++",
        ])
        .arg(crate_dir().join("receiptdb.h"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
}
