// Headless Chromium tests of receiptdb-web (docs/EMBEDDING.md, bindings/web/README.md): the conformance corpus
// through the package in a page, the module's method list, and persistence
// across a reload and a browser restart on one profile. Debian's
// /usr/bin/chromium driven by playwright-core; the package served from
// 127.0.0.1 (a secure context, so OPFS works). Run after `npm run build`.
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { serveStatic } from './static-server.mjs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
// One runner for every JavaScript transport (same format, same report).
const { loadAll, runCorpus } = require('../../node/test-support/corpus.js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SUPPORT = resolve(ROOT, '..', 'node', 'test-support');
const EXAMPLE = resolve(ROOT, '..', '..', 'examples', 'web');
const CHROMIUM = process.env.RECEIPTDB_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!existsSync(join(ROOT, 'receiptdb_web_bg.wasm'))) {
  console.error('browser tests: receiptdb_web_bg.wasm is missing; run `npm run build` first');
  process.exit(1);
}

function serve() {
  // /node-support/: the Node package's test-support (the shared SDK samples), read-only.
  // /examples/web/ and /bindings/web/: the example page as a developer serves it.
  return serveStatic([['/node-support', SUPPORT], ['/examples/web', EXAMPLE], ['/bindings/web', ROOT], ['', ROOT]]);
}

async function launch(profile) {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
}

async function openPage(ctx, base) {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`page console: ${m.text()}`); });
  await page.goto(`${base}/test/page.html`);
  await page.waitForFunction(() => window.rdbReady === true);
  return page;
}


/** The browser's main process: the chromium child of this node process (we started it). */
async function browserPid() {
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await readFile(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8');
      if (ppid === process.pid && cmd.includes(`--user-data-dir=${profile}`)) return Number(d);
    } catch { /* gone meanwhile */ }
  }
  throw new Error('the browser process was not found');
}

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name} (${Date.now() - t0} ms)\n  ${String(e && e.stack ? e.stack : e).split('\n').join('\n  ')}`);
  }
}

const server = await serve();
const base = `http://127.0.0.1:${server.address().port}`;
const profile = await mkdtemp(join(tmpdir(), 'receiptdb-web-profile-'));
let ctx = await launch(profile);
let page = await openPage(ctx, base);
const run = Date.now().toString(36);

try {
  await step('the browser snippets of README.md and bindings/web/README.md run as pasted in a page', async () => {
    // A ```js block that imports bindings/web is a browser snippet; the Node
    // suite runs the others. Its import is pointed at this server's copy.
    const blocks = [];
    for (const f of [join(ROOT, '..', '..', 'README.md'), join(ROOT, 'README.md')]) {
      const text = await readFile(f, 'utf8');
      for (const m of text.matchAll(/^```js\n([\s\S]*?)^```$/gm)) {
        if (m[1].includes('bindings/web/')) blocks.push({ f, code: m[1] });
      }
    }
    assert.ok(blocks.length >= 1, 'a browser snippet in the READMEs');
    for (const b of blocks) {
      const code = b.code.replace(/["'][^"']*bindings\/web\/(index|tencent)\.js["']/g, (_, f) => JSON.stringify(`${base}/${f}.js`));
      const err = await page.evaluate(async (src) => {
        const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
        try { await import(url); return null; } catch (e) { return String(e && e.stack ? e.stack : e); }
      }, code);
      assert.equal(err, null, `${b.f}: the snippet failed:\n${err}\n${b.code}`);
    }
  });

  await step('the package lists the module\'s methods (receiptdb::rpc::METHODS)', async () => {
    const { module, package: pkg } = await page.evaluate(() => window.rdb.methods());
    assert.deepEqual(pkg, module);
  });

  await step('the conformance corpus through the package in a page', async () => {
    let n = 0;
    const open = async (user) => {
      const name = `corpus-${run}-${n++}.db`;
      const r = await page.evaluate(([nm, u]) => window.rdb.open(nm, u), [name, user]);
      if (r.error) throw new Error(`open ${name}: ${JSON.stringify(r.error)}`);
      return {
        call: (line) => page.evaluate(([h, l]) => window.rdb.line(h, l), [r.handle, line]),
        close: () => page.evaluate((h) => window.rdb.close(h), r.handle),
      };
    };
    const scripts = loadAll();
    const { ran, failures } = await runCorpus('web', open, scripts);
    console.log(`# corpus: ${ran - failures.length} of ${ran} files pass (${scripts.length} in the corpus)`);
    assert.equal(failures.length, 0, `${failures.length} of ${ran} corpus files failed:\n\n${failures.join('\n\n')}`);
  });

  await step('a second opener of an open store gets STORE_BUSY; after close it opens; another owner is OWNER_MISMATCH', async () => {
    const name = `busy-${run}.db`;
    const a = await page.evaluate((nm) => window.rdb.open(nm, 'alice'), name);
    assert.ok(a.handle, JSON.stringify(a));
    const b = await page.evaluate((nm) => window.rdb.open(nm, 'alice'), name);
    assert.equal(b.error && b.error.codeName, 'STORE_BUSY', JSON.stringify(b));
    await page.evaluate((h) => window.rdb.close(h), a.handle);
    const c = await page.evaluate((nm) => window.rdb.open(nm, 'alice', { durability: 'full' }), name);
    assert.ok(c.handle, JSON.stringify(c));
    await page.evaluate((h) => window.rdb.close(h), c.handle);
    // The open checks that SQLite can make hold in the browser too.
    const d = await page.evaluate((nm) => window.rdb.open(nm, 'bob'), name);
    assert.equal(d.error && d.error.codeName, 'OWNER_MISMATCH', JSON.stringify(d));
    const e = await page.evaluate((nm) => window.rdb.open(nm, 'alice', { durability: 'fast' }), name);
    assert.equal(e.error && e.error.codeName, 'INVALID_PARAMS', JSON.stringify(e));
    const f = await page.evaluate((nm) => window.rdb.open(nm, 'alice'), name);
    assert.ok(f.handle, `still opens after refused opens: ${JSON.stringify(f)}`);
    await page.evaluate((h) => window.rdb.close(h), f.handle);
  });

  await step('a store written with the rollback journal of earlier builds opens (switching to WAL) with everything kept', async () => {
    const name = `legacy-${run}.db`;
    const message = (id, i) => ({ ID: id, conversationType: 'C2C', from: 'bob', to: 'alice', time: i, sequence: i, needReadReceipt: true, payload: { i } });
    const openAnd = async (durability, fn) => {
      const o = await page.evaluate(([nm, d]) => window.rdb.open(nm, 'alice', { durability: d }), [name, durability]);
      assert.ok(o.handle, JSON.stringify(o));
      const call = async (method, params) => {
        const r = await page.evaluate(([h, m, p]) => window.rdb.call(h, m, p), [o.handle, method, params === undefined ? undefined : JSON.stringify(params)]);
        assert.ok(r.result !== undefined, `${method}: ${JSON.stringify(r)}`);
        return JSON.parse(r.result);
      };
      try { await fn(call); } finally { await page.evaluate((h) => window.rdb.close(h), o.handle); }
    };
    const expectAll = async (call, ids) => {
      for (const id of ids) assert.equal((await call('findMessage', { messageID: id }))?.ID, id, `${id} is gone`);
      assert.deepEqual((await call('verify')).mismatches, []);
    };
    await openAnd('normal', async (call) => {
      await call('saveMessages', { messages: [message('l1', 1), message('l2', 2), message('l3', 3)] });
      await call('sendMessageReadReceipt', { messageIDs: ['l1', 'l2'] });
    });
    // As an earlier build left it: DELETE mode (a store opened today is WAL).
    assert.deepEqual(await page.evaluate((nm) => window.rdb.rollbackJournal(nm), name), { mode: 'wal' });
    await openAnd('normal', async (call) => {
      await expectAll(call, ['l1', 'l2', 'l3']);
      await call('saveMessages', { messages: [message('l4', 4)] });
    });
    // The open switched it to WAL; once more from DELETE, opened with durability full.
    assert.deepEqual(await page.evaluate((nm) => window.rdb.rollbackJournal(nm), name), { mode: 'wal' });
    await openAnd('full', async (call) => {
      await expectAll(call, ['l1', 'l2', 'l3', 'l4']);
      // The outbox kept the receipts sent before the switch.
      const pending = await call('getPendingReceipts', {});
      assert.deepEqual(pending.batches.flatMap((b) => b.messageIDs).sort(), ['l1', 'l2']);
    });
    await openAnd('normal', (call) => expectAll(call, ['l1', 'l2', 'l3', 'l4']));
  });

  await step('the reference SDK samples (C2C, a group of 250 paged) through the facade, two users\' stores in their own workers', async () => {
    const r = await page.evaluate((prefix) => window.rdb.samples(prefix), `samples-${run}`);
    assert.deepEqual(r, { c2c: 1, labels: 250, readPages: 2, unreadPages: 2 });
  });

  await step('the example page (examples/web) works as a developer clicks it, and keeps its state across a reload', async () => {
    const ex = ctx.pages()[0] ? await ctx.newPage() : page;
    ex.on('pageerror', (e) => console.error(`example page error: ${e.message}`));
    ex.on('console', (m) => { if (m.type() === 'error') console.error(`example page console: ${m.text()}`); });
    await ex.goto(`${base}/examples/web/`);
    await ex.waitForFunction(() => window.exampleReady === true);
    // Start over: the page reloads itself.
    await Promise.all([ex.waitForEvent('load'), ex.click('#reset')]);
    await ex.waitForFunction(() => window.exampleReady === true);
    await ex.click('#c2c');
    await ex.waitForFunction(() => document.querySelectorAll('#alice li').length === 1);
    await ex.click('#group');
    await ex.waitForFunction(() => document.querySelectorAll('#alice li').length === 2);
    const labels = () => ex.$$eval('#alice .label', (ls) => ls.map((l) => l.textContent));
    assert.deepEqual(await labels(), ['unread', '0 read']);
    await ex.click('#read');
    const shown = (want) => ex.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('#alice .label')].map((l) => l.textContent)) === w, JSON.stringify(want));
    await shown(['read', '1 read']);
    await ex.click('#others');
    await shown(['read', 'all read']);
    await ex.reload();
    await ex.waitForFunction(() => window.exampleReady === true);
    assert.deepEqual(await labels(), ['read', 'all read']);
    assert.deepEqual(await ex.$$eval('#bob .label', (ls) => ls.map((l) => l.textContent)), ['acked', 'acked']);
    assert.match(await ex.textContent('#status'), /unread total: 0/);
    await Promise.all([ex.waitForEvent('load'), ex.click('#reset')]);
    await ex.waitForFunction(() => window.exampleReady === true);
    if (ex !== page) await ex.close();
  });

  await step('a full origin quota: a write fails with STORAGE_FULL, nothing acknowledged is lost, and with room writes work again', async () => {
    const cdp = await ctx.newCDPSession(page);
    // Opened with room (a new store's pool takes space at once), then the quota closes in.
    await page.evaluate(async (n) => {
      const { openStore } = await import('../index.js');
      window.quotaStore = await openStore({ name: n, userID: 'alice' });
    }, `quota-${run}.db`);
    const write = (rounds, tag) => page.evaluate(async ([k, t]) => {
      const s = window.quotaStore;
      const big = 'x'.repeat(60000);
      const out = { saved: [], error: null };
      for (let i = 0; i < k && !out.error; i += 1) {
        const messages = [];
        for (let j = 0; j < 16; j += 1) {
          messages.push({ ID: `${t}${i}-${j}`, conversationType: 'C2C', from: 'bob', to: 'alice', time: 1 + i, sequence: 1 + i * 16 + j, payload: { t: big } });
        }
        try { await s.saveMessages({ messages }); out.saved.push(messages[15].ID); } catch (e) { out.error = { codeName: e.codeName, message: e.message }; }
      }
      out.found = 0;
      for (const id of out.saved) if ((await s.findMessage({ messageID: id })) !== null) out.found += 1;
      out.verify = (await s.verify()).mismatches.length === 0;
      return out;
    }, [rounds, tag]);
    let full;
    try {
      const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: base, quotaSize: usage + 3 * 1024 * 1024 });
      full = await write(100, 'a');
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: base });
    }
    assert.ok(full.error, `no write failed under the quota: ${full.saved.length} saved`);
    assert.equal(full.error.codeName, 'STORAGE_FULL', JSON.stringify(full.error));
    assert.ok(full.saved.length >= 1, 'some writes fit first');
    assert.equal(full.found, full.saved.length);
    assert.equal(full.verify, true);
    console.log(`# quota: ${full.saved.length} saves of about 1 MB fit in 3 MB of room, then STORAGE_FULL`);
    const again = await write(1, 'b');
    assert.equal(again.error, null, JSON.stringify(again.error));
    await page.evaluate(() => window.quotaStore.close());
    await cdp.detach();
  });

  await step('bad input from JavaScript: NaN is INVALID_PARAMS, BigInt is read exactly', async () => {
    const r = await page.evaluate(async () => {
      const { openStore } = await import('../index.js');
      const s = await openStore({ name: `input-${Date.now()}.db`, userID: 'alice' });
      const out = {};
      try { await s.call('markMessageSent', { ID: 'x', sequence: NaN, time: 1 }); } catch (e) { out.nan = e.codeName; }
      try { await s.getMessageList({ conversationID: 'C2Cbob', count: 10n }); out.big = 'ok'; } catch (e) { out.big = e.codeName; }
      try { await s.getMessageList({ conversationID: 'C2Cbob', count: 2n ** 70n }); } catch (e) { out.huge = e.codeName; }
      await s.close();
      try { await s.getTotalUnreadMessageCount(); } catch (e) { out.closed = e.codeName; }
      return out;
    });
    assert.deepEqual(r, { nan: 'INVALID_PARAMS', big: 'ok', huge: 'INVALID_PARAMS', closed: 'STORE_CLOSED' });
  });

  // Persistence: a message saved before a reload and a browser restart is there after.
  const pname = `persist-${run}.db`;
  const msg = JSON.stringify({ messages: [{ ID: 'm1', conversationType: 'C2C', from: 'bob', to: 'alice', time: 1, sequence: 1, needReadReceipt: true, payload: { text: 'hi' } }] });
  const find = async () => {
    const o = await page.evaluate((nm) => window.rdb.open(nm, 'alice'), pname);
    if (o.error) throw new Error(JSON.stringify(o.error));
    const r = await page.evaluate((h) => window.rdb.call(h, 'findMessage', '{"messageID":"m1"}'), o.handle);
    await page.evaluate((h) => window.rdb.close(h), o.handle);
    return r;
  };
  await step('a saved message survives reload() and a browser restart on the same profile', async () => {
    const o = await page.evaluate((nm) => window.rdb.open(nm, 'alice'), pname);
    assert.ok(o.handle, JSON.stringify(o));
    const saved = await page.evaluate(([h, p]) => window.rdb.call(h, 'saveMessages', p), [o.handle, msg]);
    assert.ok(saved.result, JSON.stringify(saved));
    // No close: the page goes away with the store open.
    await page.reload();
    await page.waitForFunction(() => window.rdbReady === true);
    const afterReload = await find();
    assert.ok(afterReload.result && afterReload.result.includes('"m1"'), JSON.stringify(afterReload));
    await ctx.close();
    ctx = await launch(profile);
    page = await openPage(ctx, base);
    const afterRestart = await find();
    assert.ok(afterRestart.result && afterRestart.result.includes('"m1"'), JSON.stringify(afterRestart));
  });
  // Crash: kill -9 the browser mid-stream; every save whose Promise resolved is there, and verify is clean.
  await step('a killed browser loses no acknowledged write, and verify finds no mismatch', async () => {
    const name = `crash-${run}.db`;
    let acked = -1;
    await page.exposeBinding('ackWrite', (_src, i) => { acked = Math.max(acked, i); });
    // Writes until the browser dies; each ack is sent after its save resolved.
    page.evaluate(async (nm) => {
      const { openStore } = await import('../index.js');
      const s = await openStore({ name: nm, userID: 'alice' });
      for (let i = 0; ; i++) {
        await s.saveMessages({ messages: [{ ID: `k${i}`, conversationType: 'C2C', from: 'bob', to: 'alice', time: i + 1, sequence: i + 1, needReadReceipt: true, payload: { i } }] });
        window.ackWrite(i);
      }
    }, name).catch(() => {});
    const t0 = Date.now();
    while (acked < 50 && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(acked >= 50, `only ${acked + 1} writes acknowledged`);
    const pid = await browserPid();
    process.kill(pid, 'SIGKILL');
    const seen = acked;
    await ctx.close().catch(() => {});
    ctx = await launch(profile);
    page = await openPage(ctx, base);
    const o = await page.evaluate((nm) => window.rdb.open(nm, 'alice'), name);
    assert.ok(o.handle, JSON.stringify(o));
    for (let i = 0; i <= seen; i += Math.max(1, Math.floor(seen / 20))) {
      const r = await page.evaluate(([h, id]) => window.rdb.call(h, 'findMessage', JSON.stringify({ messageID: id })), [o.handle, `k${i}`]);
      assert.ok(r.result && r.result.includes(`"k${i}"`), `k${i} (acknowledged) is gone: ${JSON.stringify(r)}`);
    }
    const last = await page.evaluate(([h, id]) => window.rdb.call(h, 'findMessage', JSON.stringify({ messageID: id })), [o.handle, `k${seen}`]);
    assert.ok(last.result && last.result.includes(`"k${seen}"`), `the last acknowledged write is gone: ${JSON.stringify(last)}`);
    const v = await page.evaluate((h) => window.rdb.call(h, 'verify'), o.handle);
    assert.ok(v.result && v.result.includes('"mismatches":[]'), JSON.stringify(v));
    await page.evaluate((h) => window.rdb.close(h), o.handle);
    console.log(`# crash: ${seen + 1} writes acknowledged before kill -9; all there after the restart`);
  });
} finally {
  await ctx.close();
  server.close();
  await rm(profile, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`# ${results.length - failed} of ${results.length} browser tests pass`);
process.exit(failed === 0 ? 0 : 1);
