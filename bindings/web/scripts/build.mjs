// `npm run build`: the store crate and this binding for wasm32-unknown-unknown,
// then wasm-bindgen's JS glue, left beside index.js. Offline (after
// scripts/setup-web.sh). Debian's Rust 1.96 builds std from its own source
// (rustup's toolchains here have no wasm32 std); clang-19 compiles SQLite's
// C code and wasm-ld-19 links (Debian ships no rust-lld). docs/DESIGN.md.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(here, '..', '..');
const targetDir = process.env.RECEIPTDB_WEB_TARGET_DIR || join(root, 'target', 'web');
const wasmBindgen = join(process.env.RECEIPTDB_WASM_BINDGEN_ROOT || join(homedir(), '.cargo'), 'bin', 'wasm-bindgen');
const profile = process.env.RECEIPTDB_WEB_PROFILE === 'debug' ? 'debug' : 'release';

for (const tool of ['/usr/bin/rustc', '/usr/bin/cargo', '/usr/bin/clang-19', '/usr/bin/wasm-ld-19', '/usr/bin/llvm-ar-19']) {
  if (!existsSync(tool)) {
    console.error(`build: ${tool} is missing; run scripts/setup-web.sh first`);
    process.exit(1);
  }
}

function run(cmd, args, env) {
  console.error(`build: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const t0 = Date.now();
run('/usr/bin/cargo', [
  'build', '--offline', '-p', 'receiptdb-web', '--lib',
  ...(profile === 'release' ? ['--release'] : []),
  '-Zbuild-std=std,panic_abort', '--target', 'wasm32-unknown-unknown', '--target-dir', targetDir,
], {
  // Debian's rustc, not rustup's (first on PATH); build-std is unstable.
  RUSTC: '/usr/bin/rustc',
  RUSTDOC: '/usr/bin/rustdoc',
  RUSTC_BOOTSTRAP: '1',
  RUSTUP_TOOLCHAIN: '',
  CC_wasm32_unknown_unknown: '/usr/bin/clang-19',
  AR_wasm32_unknown_unknown: '/usr/bin/llvm-ar-19',
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER: '/usr/bin/wasm-ld-19',
  // Shrinks the panic machinery; panics abort (none is expected on input).
  CARGO_PROFILE_RELEASE_PANIC: 'abort',
  CARGO_PROFILE_RELEASE_OPT_LEVEL: '3',
  CARGO_PROFILE_RELEASE_LTO: 'true',
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS: '1',
});
const wasm = join(targetDir, 'wasm32-unknown-unknown', profile, 'receiptdb_web.wasm');
const pkg = join(here, 'pkg');
mkdirSync(pkg, { recursive: true });
if (!existsSync(wasmBindgen)) {
  console.error(`build: ${wasmBindgen} is missing; run scripts/setup-web.sh first`);
  process.exit(1);
}
run(wasmBindgen, ['--target', 'web', '--out-dir', pkg, '--out-name', 'receiptdb_web', wasm], {});
// The glue beside index.js, as the package's files list says.
for (const f of ['receiptdb_web.js', 'receiptdb_web_bg.wasm']) copyFileSync(join(pkg, f), join(here, f));
const size = statSync(join(here, 'receiptdb_web_bg.wasm')).size;
console.error(`build: receiptdb_web_bg.wasm ${(size / 1e6).toFixed(2)} MB, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
