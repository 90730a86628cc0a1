// `npm run bench`: the workload of workload.mjs through the Node addon
// (native: in-process, WAL, durability "normal" and "full") and through
// receiptdb-web in headless Chromium (its worker, OPFS, WAL in exclusive
// locking, durability "normal" and "full"), ROUNDS times alternating; prints
// medians, the ratios (browser normal over native normal, browser full over
// native full) and the .wasm size, as a Markdown table for BENCHMARKS.md.
// Needs `npm run build` here and in bindings/node.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { runWorkload } from './workload.mjs';
import { serveStatic } from '../test/static-server.mjs';

const require = createRequire(import.meta.url);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { ReceiptStore } = require(join(ROOT, '..', 'node'));
const ROUNDS = Number(process.env.ROUNDS || 3);

const server = await serveStatic([['', ROOT]]);
const base = `http://127.0.0.1:${server.address().port}`;
const profile = mkdtempSync(join(tmpdir(), 'receiptdb-web-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.RECEIPTDB_CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
const page = ctx.pages()[0] || await ctx.newPage();
await page.goto(`${base}/test/page.html`);

const dir = mkdtempSync(join(tmpdir(), 'receiptdb-native-bench-'));
const runs = { native: [], full: [], browser: [], browserFull: [] };
for (let r = 0; r < ROUNDS; r += 1) {
  for (const [key, durability] of [['native', 'normal'], ['full', 'full']]) {
    const store = new ReceiptStore(join(dir, `${key}-${r}.db`), 'alice', { durability });
    runs[key].push(await runWorkload(store));
    store.close();
  }
  for (const [key, durability] of [['browser', 'normal'], ['browserFull', 'full']]) {
    runs[key].push(await page.evaluate(async ([name, d]) => {
      const { openStore } = await import('/index.js');
      const { runWorkload: run } = await import('/bench/workload.mjs');
      const s = await openStore({ name, userID: 'alice', durability: d });
      const out = await run(s);
      await s.close();
      return out;
    }, [`bench-${Date.now()}-${r}-${durability}.db`, durability]));
  }
}
await ctx.close();
server.close();
rmSync(profile, { recursive: true, force: true });
rmSync(dir, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [
  ['sendMessageReadReceipt (30 messages)', 'send30'],
  ['applyReceiptNotifications (1,000 new readers)', 'notify1000'],
  ['getGroupMessageReadMemberList (read page of 100)', 'page100'],
];
console.log(`${ROUNDS} rounds, native and browser alternating; medians of each round's per-call medians`);
console.log('| call | native normal | native full | browser normal | browser full | browser / native, normal | browser / native, full | ≤ 3× of full? |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [label, key] of rows) {
  const [n, f, b, bf] = ['native', 'full', 'browser', 'browserFull'].map((k) => median(runs[k].map((x) => x[key])));
  console.log(`| ${label} | ${n.toFixed(0)} µs | ${f.toFixed(0)} µs | ${b.toFixed(0)} µs | ${bf.toFixed(0)} µs | ${(b / n).toFixed(2)}× | ${(bf / f).toFixed(2)}× | ${bf / f <= 3 ? 'yes' : 'no'} |`);
}
const wasm = readFileSync(join(ROOT, 'receiptdb_web_bg.wasm'));
console.log(`\nreceiptdb_web_bg.wasm: ${(wasm.length / 1e6).toFixed(2)} MB raw, ${(gzipSync(wasm, { level: 9 }).length / 1e6).toFixed(2)} MB gzipped`);
