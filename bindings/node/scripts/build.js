'use strict';
// `npm run build`: builds the addon (and the `receiptdb` binary the rpc client
// and the tests spawn) with cargo, offline-capable, and copies the addon to
// where `main` loads it. CARGO_TARGET_DIR is honoured.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const pkg = path.resolve(__dirname, '..');
const root = path.resolve(pkg, '..', '..');
const target = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const cargo = process.env.CARGO || 'cargo';
const args = ['build', '--release', '-p', 'receiptdb-node', '-p', 'receiptdb-cli', '--bin', 'receiptdb', '--lib'];
execFileSync(cargo, args, { cwd: root, stdio: 'inherit' });

const names = { linux: 'libreceiptdb_node.so', darwin: 'libreceiptdb_node.dylib', win32: 'receiptdb_node.dll' };
const built = path.join(target, 'release', names[process.platform] || names.linux);
const dest = path.join(pkg, 'receiptdb.node');
// Copy to a temporary name and rename: a process that has the old addon
// loaded keeps its mapping, and no one loads a half-written file.
fs.copyFileSync(built, dest + '.tmp');
fs.renameSync(dest + '.tmp', dest);
console.log(`receiptdb: ${path.relative(process.cwd(), dest)} <- ${built}`);

// lib/methods.json: the handler's method list as the addon reports it, so the
// package (and rpc-client.js, which loads no addon) never keeps a list by hand.
const methods = JSON.stringify(require(dest).methods(), null, 2) + '\n';
const listFile = path.join(pkg, 'lib', 'methods.json');
if (!fs.existsSync(listFile) || fs.readFileSync(listFile, 'utf8') !== methods) {
  fs.writeFileSync(listFile, methods);
  console.log(`receiptdb: ${path.relative(process.cwd(), listFile)} updated`);
}
