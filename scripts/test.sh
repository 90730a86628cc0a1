#!/usr/bin/env bash
# The one test command: the setup (skips what is installed), then every suite
# of the workspace in release mode (the Rust tests, the corpus through every
# transport, the C ABI under valgrind, the Node suite, the doc snippets), then
# the browser build and its tests in headless Chromium (bindings/web).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release --workspace "$@"
(cd bindings/web && npm run build && npm test)
