#!/usr/bin/env bash
# Installs what the browser build (bindings/web) and its headless-Chromium
# tests need, skipping what is already there: a second run takes seconds and
# needs no network. Idempotent; safe to run before every test run.
#   - Debian's Rust 1.96 (rustc-web, cargo-web, rust-web-src): rustup's
#     toolchains here have no wasm32 std and cannot build one (docs/DESIGN.md);
#   - clang-19 (SQLite's C code for wasm32), lld-19 (wasm-ld-19), llvm-19
#     (llvm-ar-19), chromium (the tests' browser);
#   - wasm-bindgen-cli, exactly the version of the wasm-bindgen crate that
#     bindings/web pins (the two must match);
#   - the crates of std and of the workspace, so `npm run build` is offline;
#   - bindings/web's npm dev dependencies (playwright-core), from its lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

# Must equal `wasm-bindgen = "=X"` in bindings/web/Cargo.toml.
WASM_BINDGEN_VERSION=0.2.130
# rusqlite 0.43 needs Rust 1.89; bookworm's older rustc-web (1.85) is too old.
MIN_RUSTC_MINOR=89
# Where wasm-bindgen-cli goes (its bin/ is called by full path by the build).
WASM_BINDGEN_ROOT="${RECEIPTDB_WASM_BINDGEN_ROOT:-$HOME/.cargo}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
apt_updated=""
apt_install() {
  # Stale package lists offer an older rustc-web: refresh once before installing.
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

rustc_minor() {
  /usr/bin/rustc --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\)\..*/\1/p'
}

# 1. Debian packages: one `dpkg-query` for all, install only the missing.
pkgs=(rustc-web cargo-web rust-web-src clang-19 lld-19 llvm-19 chromium)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-web: installing ${missing[*]}" >&2
  apt_install "${missing[@]}" >/dev/null
fi
minor="$(rustc_minor)"
if [ -z "$minor" ] || [ "$minor" -lt "$MIN_RUSTC_MINOR" ]; then
  echo "setup-web: /usr/bin/rustc is $(/usr/bin/rustc --version 2>/dev/null || echo missing); upgrading rustc-web" >&2
  apt_install --only-upgrade rustc-web cargo-web rust-web-src >/dev/null
  minor="$(rustc_minor)"
  if [ -z "$minor" ] || [ "$minor" -lt "$MIN_RUSTC_MINOR" ]; then
    echo "setup-web: need rustc >= 1.$MIN_RUSTC_MINOR at /usr/bin/rustc" >&2
    exit 1
  fi
fi
for tool in /usr/bin/clang-19 /usr/bin/wasm-ld-19 /usr/bin/llvm-ar-19 /usr/bin/chromium \
            /usr/lib/rustlib/src/rust/library/std/Cargo.toml; do
  if [ ! -e "$tool" ]; then
    echo "setup-web: $tool is missing after the installs" >&2
    exit 1
  fi
done

# 2. wasm-bindgen-cli at exactly the pinned version. Not `--locked`: one of its
#    locked dependency versions is gone from the index.
wb="$WASM_BINDGEN_ROOT/bin/wasm-bindgen"
if [ "$("$wb" --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  echo "setup-web: cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 6 minutes)" >&2
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$WASM_BINDGEN_ROOT" --force --quiet
fi
if [ -f bindings/web/Cargo.toml ] && ! grep -q "^wasm-bindgen = \"=$WASM_BINDGEN_VERSION\"" bindings/web/Cargo.toml; then
  echo "setup-web: bindings/web/Cargo.toml does not pin wasm-bindgen =$WASM_BINDGEN_VERSION" >&2
  exit 1
fi

# 3. Crates for the offline wasm build: std's own dependencies (-Zbuild-std
#    resolves them from the registry) and the workspace's for every target.
#    Tried offline first, so a second run needs no network.
fetch() {
  RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc /usr/bin/cargo fetch --offline --quiet "$@" >/dev/null 2>&1 ||
    { echo "setup-web: cargo fetch $*" >&2; RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc /usr/bin/cargo fetch --quiet "$@"; }
}
fetch --manifest-path /usr/lib/rustlib/src/rust/library/Cargo.toml
fetch --manifest-path Cargo.toml

# 4. bindings/web's dev dependencies, when any is missing or not the pinned version.
if [ -f bindings/web/package.json ]; then
  if ! (cd bindings/web && node -e '
    const dev = require("./package.json").devDependencies || {};
    for (const [name, v] of Object.entries(dev)) {
      let got = null;
      try { got = require(`./node_modules/${name}/package.json`).version; } catch {}
      if (got !== v) process.exit(1);
    }'); then
    echo "setup-web: npm ci in bindings/web" >&2
    (cd bindings/web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
echo "setup-web: done" >&2
