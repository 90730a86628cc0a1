#!/usr/bin/env bash
# The one test command: the setup (skips what is installed), then every suite
# of the workspace in release mode (the Rust tests, the corpus through every
# transport, the C ABI under valgrind, the Node suite, the doc snippets), then
# the browser build and its tests in headless Chromium (bindings/web).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release --workspace "$@"
# SPEC §5's promises hold with encryption at rest too: the crash matrix and
# the power-loss suite once more on SQLCipher-keyed stores. A raw key (no
# passphrase derivation, tests/encryption.rs) keeps their reopens fast.
RECEIPTDB_TEST_KEY="x'C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00'" cargo test --release --test crash_matrix --test power_loss "$@"
(cd bindings/web && npm run build && npm test)
