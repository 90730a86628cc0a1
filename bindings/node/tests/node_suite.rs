//! Runs the package's `node --test` suite (bindings/node/test) as part of
//! `cargo test`, so the README's one test command covers the addon.
//!
//! It builds the addon and the `receiptdb` binary first with
//! `scripts/build.js` (what `npm run build` runs). The nested cargo uses the
//! same target directory: cargo releases its build lock before it runs test
//! binaries, so this does not deadlock, and only this small crate relinks.
//! Without `node` on the PATH (or in $NODE) the test says so and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn node() -> String {
    std::env::var("NODE").unwrap_or_else(|_| "node".to_string())
}

/// The major version of `node`, or `None` when it cannot be run.
fn node_major() -> Option<u32> {
    let out = Command::new(node()).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8_lossy(&out.stdout);
    v.trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The cargo profile directory this test runs from (`target/release`):
/// the test executable lives in its `deps/`.
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn node_test_suite() {
    let Some(major) = node_major() else {
        eprintln!(
            "SKIPPED: `node` was not found (set NODE to its path): the bindings/node suite did not run"
        );
        return;
    };
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(profile) = profile_dir() else {
        panic!("cannot locate the target directory from the test executable");
    };
    let target = profile
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| profile.clone());

    let build = Command::new(node())
        .arg("scripts/build.js")
        .current_dir(pkg)
        .env("CARGO_TARGET_DIR", &target)
        .output();
    let build = match build {
        Ok(o) => o,
        Err(e) => panic!("cannot run node scripts/build.js: {e}"),
    };
    assert!(
        build.status.success(),
        "{}",
        show("npm run build (node scripts/build.js)", &build)
    );

    let binary = profile.join(if cfg!(windows) {
        "receiptdb.exe"
    } else {
        "receiptdb"
    });
    let mut args = vec!["--test"];
    // --test-timeout exists from Node 20 on; Debian's Node 18 runs without it.
    if major >= 20 {
        args.push("--test-timeout=120000");
    }
    args.push("test/");
    let run = Command::new(node())
        .args(&args)
        .current_dir(pkg)
        .env("RECEIPTDB_BIN", &binary)
        .output();
    let run = match run {
        Ok(o) => o,
        Err(e) => panic!("cannot run node --test: {e}"),
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", show("node --test test/", &run));
    // The runner's closing counts, for the cargo log.
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("# tests") || l.starts_with("# pass") || l.starts_with("# fail"))
    {
        println!("node --test: {line}");
    }
    assert!(
        stdout.contains("# fail 0"),
        "{}",
        show("node --test test/", &run)
    );
}
