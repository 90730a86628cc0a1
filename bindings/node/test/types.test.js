'use strict';
// The package's types hold for what the runtime sends: every params, result
// and event of the conformance corpus is written as a typed constant
// (`const r: ResultOf<'findMessage'> = {...}`) and compiled with
// `tsc --strict`, together with test/types/*.ts (every export used as an app
// would). An answer the types do not describe, or a field they miss, fails.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { METHODS } = require('..');
const { parse, stringify } = require('../lib/json');
const { PKG, tmpDir } = require('../test-support/helpers');
const { loadAll } = require('../test-support/corpus');

const TSC = path.join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');

/** A TS expression for a JSON value: placeholders as `any` (made-up IDs and times), BigInt as `n` literals. */
function tsValue(v) {
  return stringify(v)
    .replace(/"<[A-Za-z0-9_]+>"/g, '(null as any)')
    .replace(/(?<=[:\[,])(-?\d{16,})(?=[,\]}])/g, (n) => (Number.isSafeInteger(Number(n)) ? n : `${n}n`));
}

/** One typed constant per method call with a result, and per event, of every corpus file. */
function corpusAsTypeScript() {
  const out = [
    `import { ParamsOf, ResultOf, Events } from ${JSON.stringify(path.join(PKG, 'lib', 'types'))};`,
    '',
  ];
  let n = 0;
  for (const script of loadAll()) {
    for (const step of script.steps) {
      let req;
      try { req = parse(step.request); } catch { continue; }
      if (!req || typeof req !== 'object' || !METHODS.includes(req.method)) continue;
      const lines = step.expected.map((l) => parse(l));
      const response = lines[lines.length - 1];
      const where = `// ${script.name}:${step.line}`;
      for (const ev of lines.slice(0, -1)) {
        n += 1;
        out.push(where, `const e${n}: Events[${JSON.stringify(ev.method)}] = ${tsValue(ev.params)};`);
      }
      if (!response || !('result' in response)) continue;
      n += 1;
      const m = JSON.stringify(req.method);
      // `params: null` is the protocol's leniency (read as none), not the API's.
      const params = req.params === undefined || req.params === null ? 'undefined' : tsValue(req.params);
      out.push(where, `const p${n}: ParamsOf<${m}> = ${params};`, `const r${n}: ResultOf<${m}> = ${tsValue(response.result)};`);
      out.push(`void p${n}; void r${n};`);
    }
  }
  return { text: out.join('\n') + '\n', count: n };
}

function tsc(files) {
  return spawnSync(process.execPath, [TSC, '--strict', '--noEmit', '--target', 'es2020', '--module', 'commonjs',
    '--moduleResolution', 'node', '--noUnusedLocals', 'false', ...files], { cwd: PKG, encoding: 'utf8', timeout: 120000 });
}

test('every corpus params, result and event fits the types, and the usage files compile under --strict', () => {
  assert.ok(fs.existsSync(TSC), `typescript is not installed: run \`npm ci\` in ${PKG} (scripts/setup.sh does)`);
  const { text, count } = corpusAsTypeScript();
  assert.ok(count >= 100, `only ${count} typed values from the corpus`);
  const dir = tmpDir();
  const generated = path.join(dir, 'corpus.ts');
  fs.writeFileSync(generated, text);
  const usage = fs.readdirSync(path.join(PKG, 'test', 'types')).filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(PKG, 'test', 'types', f));
  const r = tsc([generated, ...usage]);
  assert.equal(r.status, 0, `tsc --strict failed:\n${r.stdout}${r.stderr}\n(generated file: ${generated})`);
});

test('the type check can fail: a result with a field the types lack is an error', () => {
  assert.ok(fs.existsSync(TSC), 'typescript is installed');
  const dir = tmpDir();
  const f = path.join(dir, 'wrong.ts');
  fs.writeFileSync(f, `import { ResultOf } from ${JSON.stringify(path.join(PKG, 'lib', 'types'))};\n`
    + "const r: ResultOf<'getTotalUnreadMessageCount'> = { totalUnreadCount: 1, extra: true };\nvoid r;\n");
  const r = tsc([f]);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /extra/);
});
