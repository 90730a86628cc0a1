#!/usr/bin/env bash
# Installs what the builds and test suites need, skipping what is already
# there, so a second run costs seconds: OpenSSL's headers (SQLCipher), valgrind (the C ABI runs under it), Node (the
# addon's suite), the Node package's dev dependencies (typescript, from
# bindings/node/package-lock.json) and the browser toolchain (setup-web.sh). Idempotent; safe to run before every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# SQLCipher (the store's SQLite natively) takes its crypto from OpenSSL.
if ! dpkg -s libssl-dev >/dev/null 2>&1 && ! pkg-config --exists libcrypto 2>/dev/null; then
  echo "setup: installing libssl-dev (OpenSSL headers for SQLCipher)" >&2
  apt_install libssl-dev pkg-config >/dev/null
fi
if ! command -v valgrind >/dev/null 2>&1; then
  echo "setup: installing valgrind" >&2
  apt_install valgrind >/dev/null 2>&1 || echo "setup: valgrind not installed; the valgrind test will say it was skipped" >&2
fi
if ! command -v node >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm" >&2
  apt_install nodejs npm >/dev/null
fi
# Installed when every dev dependency is there at the version package.json pins.
if ! (cd bindings/node && node -e '
  const dev = require("./package.json").devDependencies || {};
  for (const [name, v] of Object.entries(dev)) {
    let got = null;
    try { got = require(`./node_modules/${name}/package.json`).version; } catch {}
    if (got !== v) process.exit(1);
  }'); then
  echo "setup: npm ci in bindings/node" >&2
  (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)
fi
# The browser build and its tests: Debian's rustc-web toolchain, wasm-bindgen-cli,
# chromium, playwright-core (scripts/setup-web.sh; also skips what is installed).
scripts/setup-web.sh
echo "setup: done" >&2
