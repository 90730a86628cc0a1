'use strict';
// `npm run bench`: two small calls on one group message (200 members, 100
// readers): getMessageReadReceiptList of it, and a read page of 100 of it
// (getGroupMessageReadMemberList), each timed four ways over the same store
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
const TIMED = [
  ['getMessageReadReceiptList', { messageIDs: ['m1'] }],
  ['getGroupMessageReadMemberList', { messageID: 'm1', filter: 0, cursor: '', count: 100 }],
];
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

async function measure(timed) {
  // Rust: the same lines through Session::handle_line.
  const script = path.join(dir, 'script.jsonl');
  fs.writeFileSync(script, [...setup, timed].map((s, i) => line(i + 1, s)).join('\n') + '\n');
  const cargo = process.env.CARGO || 'cargo';
  const out = execFileSync(cargo, ['run', '--quiet', '--release', '-p', 'receiptdb-node', '--example', 'rust_call_bench', '--',
    path.join(dir, `${timed[0]}-rust.db`), 'alice', script, String(ITERS), String(ROUNDS)], { cwd: root, encoding: 'utf8' });
  const rust = JSON.parse(out.trim().split('\n').pop()).rustNsPerCall;

  // Addon: ReceiptStore.call (what an app calls) and the bare native call.
  const store = new ReceiptStore(path.join(dir, `${timed[0]}-addon.db`), 'alice');
  for (const [m, p] of setup) store.call(m, p);
  const addon = rounds(ROUNDS, ITERS, (n) => { for (let i = 0; i < n; i++) store.call(timed[0], timed[1]); });
  store.close();
  const native = new NativeStore();
  native.open(path.join(dir, `${timed[0]}-addon.db`), 'alice');
  const req = line(1, timed);
  const bare = rounds(ROUNDS, ITERS, (n) => { for (let i = 0; i < n; i++) native.call(req); });
  native.close();

  // rpc: one request in flight at a time, through rpc-client.js.
  const rpc = await RpcReceiptStore.open(path.join(dir, `${timed[0]}-rpc.db`), 'alice', { binary: process.env.RECEIPTDB_BIN || DEFAULT_BINARY });
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

  return { rust, bare, addon, viaRpc };
}

async function main() {
  const results = [];
  for (const timed of TIMED) results.push([timed, await measure(timed)]);
  fs.rmSync(dir, { recursive: true, force: true });
  const us = (ns) => (ns / 1000).toFixed(1);
  console.log(`one group message (200 members, 100 readers); median of ${ROUNDS} rounds; node ${process.version}, ${os.cpus().length} cores`);
  console.log('');
  console.log('| call | path | µs / call | vs Rust |');
  console.log('| --- | --- | ---: | ---: |');
  for (const [[method], { rust, bare, addon, viaRpc }] of results) {
    console.log(`| ${method} | Rust: \`Session::handle_line\` in a loop | ${us(rust)} | 1.00× |`);
    console.log(`| ${method} | addon: native \`call(line)\` (lines back, no parsing) | ${us(bare)} | ${(bare / rust).toFixed(2)}× |`);
    console.log(`| ${method} | addon: \`ReceiptStore.call\` (JSON both ways, events) | ${us(addon)} | ${(addon / rust).toFixed(2)}× |`);
    console.log(`| ${method} | \`receiptdb rpc\` via rpc-client.js, one in flight | ${us(viaRpc)} | ${(viaRpc / rust).toFixed(2)}× |`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
