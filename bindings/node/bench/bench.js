'use strict';
// `npm run bench`: one small call, getMessageReadReceiptList of one group
// message (200 members, 100 readers), timed three ways over the same store
// contents: Session::handle_line in a Rust loop, the addon from JS
// (ReceiptStore.call, with its JSON encode/decode), and `receiptdb rpc` over a
// pipe (one request in flight). Prints a Markdown table for BENCHMARKS.md.
// Needs `npm run build` first (the addon and target/release/receiptdb).

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { ReceiptStore } = require('..');
const { NativeStore } = require(path.join(__dirname, '..', 'receiptdb.node'));
const { RpcReceiptStore, DEFAULT_BINARY } = require('../rpc-client');

const ITERS = Number(process.env.ITERS || 20000);
const ROUNDS = Number(process.env.ROUNDS || 7);
const RPC_ITERS = Number(process.env.RPC_ITERS || 5000);
const root = path.resolve(__dirname, '..', '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'receiptdb-bench-'));

const members = [{ userID: 'alice' }];
for (let i = 0; i < 199; i++) members.push({ userID: `u${String(i).padStart(3, '0')}` });
const setup = [
  ['setGroup', { groupID: 'team', groupType: 'Work', members }],
  ['saveMessages', { messages: [{ ID: 'm1', conversationType: 'GROUP', from: 'alice', to: 'team', time: 10, sequence: 1, needReadReceipt: true, status: 'success' }] }],
  ['applyReceiptNotifications', { notifications: [{ messageID: 'm1', groupID: 'team', readerIDs: members.slice(1, 101).map((m) => m.userID) }] }],
];
const timed = ['getMessageReadReceiptList', { messageIDs: ['m1'] }];
const line = (id, [method, params]) => JSON.stringify({ jsonrpc: '2.0', id, method, params });

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

function rounds(n, iters, body) {
  body(Math.min(iters, 1000)); // warm-up
  const out = [];
  for (let r = 0; r < n; r++) {
    const t = process.hrtime.bigint();
    body(iters);
    out.push(Number(process.hrtime.bigint() - t) / iters);
  }
  return median(out);
}

async function main() {
  // Rust: the same lines through Session::handle_line.
  const script = path.join(dir, 'script.jsonl');
  fs.writeFileSync(script, [...setup, timed].map((s, i) => line(i + 1, s)).join('\n') + '\n');
  const cargo = process.env.CARGO || 'cargo';
  const out = execFileSync(cargo, ['run', '--quiet', '--release', '-p', 'receiptdb-node', '--example', 'rust_call_bench', '--',
    path.join(dir, 'rust.db'), 'alice', script, String(ITERS), String(ROUNDS)], { cwd: root, encoding: 'utf8' });
  const rust = JSON.parse(out.trim().split('\n').pop()).rustNsPerCall;

  // Addon: ReceiptStore.call (what an app calls) and the bare native call.
  const store = new ReceiptStore(path.join(dir, 'addon.db'), 'alice');
  for (const [m, p] of setup) store.call(m, p);
  const addon = rounds(ROUNDS, ITERS, (n) => { for (let i = 0; i < n; i++) store.call(timed[0], timed[1]); });
  store.close();
  const native = new NativeStore();
  native.open(path.join(dir, 'addon.db'), 'alice');
  const req = line(1, timed);
  const bare = rounds(ROUNDS, ITERS, (n) => { for (let i = 0; i < n; i++) native.call(req); });
  native.close();

  // rpc: one request in flight at a time, through rpc-client.js.
  const rpc = await RpcReceiptStore.open(path.join(dir, 'rpc.db'), 'alice', { binary: process.env.RECEIPTDB_BIN || DEFAULT_BINARY });
  for (const [m, p] of setup) await rpc.call(m, p);
  for (let i = 0; i < 500; i++) await rpc.call(timed[0], timed[1]);
  const rr = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < RPC_ITERS; i++) await rpc.call(timed[0], timed[1]);
    rr.push(Number(process.hrtime.bigint() - t) / RPC_ITERS);
  }
  await rpc.close();
  const viaRpc = median(rr);

  fs.rmSync(dir, { recursive: true, force: true });
  const us = (ns) => (ns / 1000).toFixed(1);
  console.log(`getMessageReadReceiptList of one message (200 members, 100 readers); median of ${ROUNDS} rounds; node ${process.version}, ${os.cpus().length} cores`);
  console.log('');
  console.log('| path | µs / call | vs Rust |');
  console.log('| --- | ---: | ---: |');
  console.log(`| Rust: \`Session::handle_line\` in a loop | ${us(rust)} | 1.00× |`);
  console.log(`| addon: native \`call(line)\` (lines back, no parsing) | ${us(bare)} | ${(bare / rust).toFixed(2)}× |`);
  console.log(`| addon: \`ReceiptStore.call\` (JSON both ways, events) | ${us(addon)} | ${(addon / rust).toFixed(2)}× |`);
  console.log(`| \`receiptdb rpc\` via rpc-client.js, one in flight | ${us(viaRpc)} | ${(viaRpc / rust).toFixed(2)}× |`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
