'use strict';
// Every JavaScript snippet of README.md and docs/EMBEDDING.md runs as pasted:
// each in a fresh folder where `receiptdb` (and `./bindings/node`) resolve to
// this package and `electron` to test-support/fake-electron. A `// preload`
// block runs in the same process as the block before it (Electron's main and
// preload halves). The Electron sample is then driven as a renderer would.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { PKG, BINARY, tmpDir } = require('../test-support/helpers');

const ROOT = path.resolve(PKG, '..', '..');

/** The ```js blocks of a Markdown file, with the line each starts on. */
function jsBlocks(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  let cur = null;
  lines.forEach((l, i) => {
    if (cur === null && /^```js\s*$/.test(l)) cur = { file: path.relative(ROOT, file), line: i + 1, code: [] };
    else if (cur !== null && /^```\s*$/.test(l)) { blocks.push({ ...cur, code: cur.code.join('\n') }); cur = null; }
    else if (cur !== null) cur.code.push(l);
  });
  // Browser snippets (they import bindings/web) run in Chromium: bindings/web/test.
  const node = blocks.filter((b) => !b.code.includes('bindings/web/'));
  // A preload half joins its main half.
  const runs = [];
  for (const b of node) {
    if (b.code.startsWith('// preload') && runs.length > 0) runs[runs.length - 1].code += `\n${b.code}\n`;
    else runs.push(b);
  }
  return runs;
}

/** Runs one snippet in a fresh folder; returns the child's output. */
function runSnippet(snippet, env = {}) {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(PKG, path.join(dir, 'node_modules', 'receiptdb'));
  fs.symlinkSync(path.join(PKG, 'test-support', 'fake-electron'), path.join(dir, 'node_modules', 'electron'));
  fs.mkdirSync(path.join(dir, 'bindings'));
  fs.symlinkSync(PKG, path.join(dir, 'bindings', 'node'));
  const file = path.join(dir, 'snippet.js');
  fs.writeFileSync(file, snippet.code);
  const userData = path.join(dir, 'userData');
  fs.mkdirSync(userData);
  return spawnSync(process.execPath, ['--preserve-symlinks', file], {
    cwd: dir, encoding: 'utf8', timeout: 60000,
    env: { ...process.env, RECEIPTDB_BIN: BINARY, FAKE_ELECTRON_USER_DATA: userData, ...env },
  });
}

const SNIPPETS = [path.join(ROOT, 'README.md'), path.join(ROOT, 'docs', 'EMBEDDING.md')].flatMap(jsBlocks);

const RENDERER = [
  ['receipts', 'login', 'alice'],
  ['receipts', 'call', 'setGroup', { groupID: 'team', groupType: 'Work', members: [{ userID: 'alice' }, { userID: 'bob' }] }],
  ['receipts', 'call', 'saveMessages', { messages: [{ ID: 'm1', conversationType: 'GROUP', from: 'alice', to: 'team', time: 10, sequence: 1, needReadReceipt: true }] }],
  ['receipts', 'call', 'applyReceiptNotifications', { notifications: [{ messageID: 'm1', groupID: 'team', readerIDs: ['bob'] }] }],
  ['receipts', 'call', 'closeTheStore', {}],
];

test('the docs have JavaScript snippets to run', () => {
  assert.ok(SNIPPETS.length >= 5, `only ${SNIPPETS.length} snippets found`);
  assert.ok(SNIPPETS.some((s) => s.code.includes('require("electron")')), 'the Electron sample is among them');
});

for (const snippet of SNIPPETS) {
  test(`${snippet.file}:${snippet.line} runs as pasted`, () => {
    const electron = snippet.code.includes('ipcMain');
    const r = runSnippet(snippet, electron ? { FAKE_ELECTRON_SCRIPT: JSON.stringify(RENDERER) } : {});
    assert.equal(r.status, 0, `exit ${r.status}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
    assert.equal(r.stderr.trim(), '', `stderr:\n${r.stderr}`);
    if (electron) {
      const line = r.stdout.split('\n').find((l) => l.startsWith('FAKE_ELECTRON '));
      assert.ok(line, `the renderer script ran:\n${r.stdout}`);
      const { results, sent } = JSON.parse(line.slice('FAKE_ELECTRON '.length));
      assert.deepEqual(results.slice(0, 4).map((x) => x.error), [undefined, undefined, undefined, undefined], JSON.stringify(results));
      assert.deepEqual(results[3].ok, { changed: ['m1'] });
      assert.match(results[4].error || '', /not allowed: closeTheStore/, 'a method outside METHODS is refused');
      assert.equal(sent.length, 1, 'the window got the receipt event');
      assert.equal(sent[0][0], 'receipts');
      assert.equal(sent[0][1].data[0].readCount, 1);
    }
  });
}
