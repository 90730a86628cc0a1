//! The `receiptdb` binary for tests that run it as a process.
//!
//! The binary is in another package (`receiptdb-cli`), so cargo gives this
//! package's tests no `CARGO_BIN_EXE_receiptdb`. [`receiptdb_bin`] builds it
//! once per test process with a nested `cargo build` into the same target
//! directory and profile the tests run from (cargo releases its build lock
//! before it runs test binaries, so this does not deadlock; see also
//! bindings/node/tests/node_suite.rs), and returns its path.
//! Included as `mod bin;` from `common/mod.rs`, or as
//! `#[path = "common/bin.rs"] mod bin;` by a test that does not use `common`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the `receiptdb` binary, built (once per process) from the
/// current sources with the profile of the running test.
pub fn receiptdb_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<exe> (tests) or target/<profile>/<exe>.
    let mut profile = exe
        .parent()
        .expect("the test executable is in a directory")
        .to_path_buf();
    if profile.file_name().is_some_and(|n| n == "deps") {
        profile.pop();
    }
    let target = profile
        .parent()
        .map(Path::to_path_buf)
        .expect("the profile directory is in a target directory");
    let name = profile
        .file_name()
        .and_then(|n| n.to_str())
        .expect("the profile directory has a UTF-8 name")
        .to_string();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build");
    match name.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    cmd.args(["-p", "receiptdb-cli", "--bin", "receiptdb"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target);
    let out = cmd
        .output()
        .expect("run cargo build for the receiptdb binary");
    assert!(
        out.status.success(),
        "cargo build -p receiptdb-cli --bin receiptdb failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = profile.join(format!("receiptdb{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}
