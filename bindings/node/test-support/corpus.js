'use strict';
// The conformance corpus runner for Node: a port of tests/conformance/runner.rs
// (same format, same placeholders, same failure report). The format is in
// tests/conformance/README.md. Lines are parsed with lib/json.js, so integers
// beyond Number's safe range compare exactly (as BigInt).

const fs = require('fs');
const path = require('path');
const { parse: parseJSON, stringify } = require('../lib/json');

const CORPUS = path.resolve(__dirname, '..', '..', '..', 'tests', 'conformance');

/** Parses one corpus file into {file, user, skip: Map, steps: [{line, request, expected}]}; throws on a bad line. */
function parseScript(file) {
  const text = fs.readFileSync(file, 'utf8');
  const script = { file, name: path.basename(file), user: 'alice', skip: new Map(), steps: [] };
  text.split('\n').forEach((raw, i) => {
    const at = `${file}:${i + 1}`;
    if (raw.startsWith('#')) {
      const c = raw.slice(1).trim();
      if (c.startsWith('user:')) script.user = c.slice(5).trim();
      else if (c.startsWith('skip ')) {
        const rest = c.slice(5);
        const colon = rest.indexOf(':');
        if (colon < 0) throw new Error(`${at}: \`# skip TRANSPORT: why\``);
        const why = rest.slice(colon + 1).trim();
        if (!why) throw new Error(`${at}: a skip says why`);
        script.skip.set(rest.slice(0, colon).trim(), why);
      }
    } else if (raw.startsWith('> ')) {
      script.steps.push({ line: i + 1, request: raw.slice(2), expected: [] });
    } else if (raw.startsWith('< ')) {
      const step = script.steps[script.steps.length - 1];
      if (!step) throw new Error(`${at}: an answer before any request`);
      parseJSON(raw.slice(2));
      step.expected.push(raw.slice(2));
    } else if (raw.trim() !== '') {
      throw new Error(`${at}: a line starts with >, <, # or is blank`);
    }
  });
  if (script.steps.length === 0) throw new Error(`${file}: no request`);
  return script;
}

/** Every corpus file, sorted by name. */
function loadAll() {
  return fs.readdirSync(CORPUS).filter((f) => f.endsWith('.jsonl')).sort()
    .map((f) => parseScript(path.join(CORPUS, f)));
}

const show = (v) => stringify(v);

function placeholder(s) {
  const m = /^<([A-Za-z0-9_]+)>$/.exec(s);
  return m ? m[1] : null;
}

function equalJSON(a, b) {
  return show(sortKeys(a)) === show(sortKeys(b));
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
    return o;
  }
  return v;
}

/**
 * Compares `got` with `want` as the Rust runner does: equal JSON, except that
 * "<any>" matches anything and "<NAME>" binds on first sight. Returns null or
 * the first difference.
 */
function matches(want, got, at, bound) {
  if (typeof want === 'string') {
    if (want === '<any>') return null;
    const name = placeholder(want);
    if (name !== null) {
      if (!bound.has(name)) { bound.set(name, got); return null; }
      return equalJSON(bound.get(name), got) ? null : `${at}: want <${name}> = ${show(bound.get(name))}, got ${show(got)}`;
    }
  }
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(want) && isObj(got)) {
    for (const k of Object.keys(want)) {
      if (!Object.prototype.hasOwnProperty.call(got, k)) return `${at}.${k}: want ${show(want[k])}, got nothing`;
      const d = matches(want[k], got[k], `${at}.${k}`, bound);
      if (d) return d;
    }
    const extra = Object.keys(got).find((k) => !Object.prototype.hasOwnProperty.call(want, k));
    return extra === undefined ? null : `${at}.${extra}: want nothing, got ${show(got[extra])}`;
  }
  if (Array.isArray(want) && Array.isArray(got)) {
    for (let i = 0; i < Math.min(want.length, got.length); i++) {
      const d = matches(want[i], got[i], `${at}[${i}]`, bound);
      if (d) return d;
    }
    return want.length === got.length ? null : `${at}: want ${want.length} items, got ${got.length}`;
  }
  return equalJSON(want, got) ? null : `${at}: want ${show(want)}, got ${show(got)}`;
}

/** The request with every bound "<NAME>" replaced by its value. */
function substitute(request, bound) {
  let out = request;
  for (const [name, v] of bound) out = out.split(`"<${name}>"`).join(show(v));
  return out;
}

/**
 * Runs one script through `call(line) -> lines` (sync or async); resolves
 * with null or the failure report (file, line, step, difference, request, lines got).
 */
async function run(script, call) {
  const bound = new Map();
  for (let n = 0; n < script.steps.length; n++) {
    const step = script.steps[n];
    const request = substitute(step.request, bound);
    let got;
    try {
      got = await call(request);
    } catch (e) {
      got = [`<the transport threw: ${e && e.stack ? e.stack : e}>`];
    }
    const fail = (what) => `${script.name}:${step.line} (step ${n + 1}): ${what}\n  request: ${request}\n  got:\n    ${got.join('\n    ')}`;
    if (got.length !== step.expected.length) return fail(`want ${step.expected.length} lines, got ${got.length}`);
    for (let k = 0; k < got.length; k++) {
      let g;
      try { g = parseJSON(got[k]); } catch (e) { return fail(`line ${k + 1} is not JSON: ${e.message}`); }
      const d = matches(parseJSON(step.expected[k]), g, `line ${k + 1}: $`, bound);
      if (d) return fail(d);
    }
  }
  return null;
}

/**
 * Runs every file not skipped for `transport`, each on a fresh store from
 * `open(user)` (which returns {call, close}); returns {ran, failures}.
 */
async function runCorpus(transport, open, scripts = loadAll()) {
  const failures = [];
  let ran = 0;
  for (const script of scripts) {
    if (script.skip.has(transport)) continue;
    const t = await open(script.user);
    try {
      const f = await run(script, t.call);
      if (f) failures.push(f);
    } finally {
      await t.close();
    }
    ran += 1;
  }
  return { ran, failures };
}

module.exports = { CORPUS, parseScript, loadAll, matches, run, runCorpus };
