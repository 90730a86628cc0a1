'use strict';
// Shared by the node tests: temporary stores, the rpc binary.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const readline = require('readline');
const { DEFAULT_BINARY } = require('../rpc-client');

const PKG = path.resolve(__dirname, '..');
const BINARY = process.env.RECEIPTDB_BIN || DEFAULT_BINARY;

/** A fresh directory, removed when the process exits. */
function tmpDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'receiptdb-node-'));
  process.on('exit', () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A path for a new store file. */
let n = 0;
function tmpStore(dir) {
  n += 1;
  return path.join(dir || tmpDir(), `store-${process.pid}-${n}.db`);
}

/**
 * A raw `receiptdb rpc` process driven one line at a time: the oracle the
 * bindings are compared with. `send(obj)` resolves with the lines it produced.
 */
function rawRpc(file, userID) {
  const child = spawn(BINARY, ['rpc', '--db', file, '--user', userID], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
  let buf = [];
  let waiter = null;
  rl.on('line', (line) => {
    buf.push(line);
    const msg = JSON.parse(line);
    if (msg.id !== undefined && waiter) { const w = waiter; waiter = null; const out = buf; buf = []; w(out); }
  });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return {
    send(line) {
      return new Promise((resolve) => { waiter = resolve; child.stdin.write(line + '\n'); });
    },
    async close() { child.stdin.end(); return exited; },
    exited,
  };
}

module.exports = { PKG, BINARY, tmpDir, tmpStore, rawRpc };
