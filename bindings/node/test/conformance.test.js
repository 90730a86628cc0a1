'use strict';
// The conformance corpus (tests/conformance/*.jsonl) through the package:
// - `node`: the addon behind ReceiptStore. A line that is a plain method call
//   goes through `store.call(method, params)` (the package's JSON, its
//   listeners and its errors), and the events and the result or error are
//   written back as the lines receiptdb rpc would give; any other line (not
//   JSON, not a request object) goes to the addon as it is.
// - `node-rpc-client`: RpcReceiptStore over a `receiptdb rpc` process, for
//   method calls only; a file with other lines says `# skip node-rpc-client`.
// The Rust runners (tests/conformance.rs, bindings/c/tests/conformance.rs)
// run the same files in-process, through rpc and through the C ABI.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ReceiptStore, EVENTS, METHODS } = require('..');
const { RpcReceiptStore } = require('../rpc-client');
const { parse, stringify } = require('../lib/json');
const { tmpDir, tmpStore } = require('../test-support/helpers');
const { loadAll, run, runCorpus } = require('../test-support/corpus');

const native = require('../receiptdb.node');
const DIR = tmpDir();

/** `{id, method, params}` when the line is a plain JSON-RPC method call, else null. */
function methodCall(line) {
  let req;
  try { req = parse(line); } catch { return null; }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return null;
  if (Object.keys(req).some((k) => !['jsonrpc', 'id', 'method', 'params'].includes(k))) return null;
  if (req.jsonrpc !== '2.0' || !(Number.isSafeInteger(req.id) || typeof req.id === 'string') || typeof req.method !== 'string') return null;
  if (req.params !== undefined && (req.params === null || typeof req.params !== 'object' || Array.isArray(req.params))) return null;
  return req;
}

/** The lines receiptdb rpc writes for a call: its events, then the result or the error. */
async function linesOf(req, events, invoke) {
  events.length = 0;
  let response;
  try {
    response = { jsonrpc: '2.0', id: req.id, result: await invoke(req.method, req.params) };
  } catch (e) {
    assert.ok(e instanceof Error, 'a failed call throws an Error');
    const error = { code: e.code, message: e.message };
    if (e.data !== undefined) error.data = e.data;
    response = { jsonrpc: '2.0', id: req.id, error };
  }
  return [...events.splice(0).map((ev) => stringify({ jsonrpc: '2.0', method: ev.method, params: ev.params })), stringify(response)];
}

function listenAll(store) {
  const events = [];
  for (const name of EVENTS) store.on(name, (params) => events.push({ method: name, params }));
  return events;
}

function openAddon(user) {
  const s = new ReceiptStore(tmpStore(DIR), user);
  const events = listenAll(s);
  return {
    call: (line) => {
      const req = methodCall(line);
      // Not a method call: straight to the addon, as an app's raw call would go.
      if (req === null) return s._native.call(line);
      return linesOf(req, events, (m, p) => s.call(m, p));
    },
    close: () => s.close(),
  };
}

async function openRpcClient(user) {
  const s = await RpcReceiptStore.open(tmpStore(DIR), user);
  const events = listenAll(s);
  return {
    call: (line) => {
      const req = methodCall(line);
      if (req === null) throw new Error('not a method call: the file needs `# skip node-rpc-client: why`');
      return linesOf(req, events, (m, p) => s.call(m, p));
    },
    close: () => s.close(),
  };
}

function check(transport, { ran, failures }) {
  assert.ok(ran >= 6, `${transport}: only ${ran} corpus files ran`);
  assert.equal(failures.length, 0, `${transport}: ${failures.length} of ${ran} corpus files failed:\n\n${failures.join('\n\n')}`);
}

test('the corpus through the addon (ReceiptStore)', async () => {
  check('node', await runCorpus('node', openAddon));
});

test('the corpus through rpc-client.js (RpcReceiptStore)', async () => {
  check('node-rpc-client', await runCorpus('node-rpc-client', openRpcClient));
});

test('the runner can fail: a changed answer, a lost event and a missing skip are caught', async () => {
  const [script] = loadAll().filter((s) => s.steps.some((st) => st.expected.length > 1));
  assert.ok(script, 'a corpus file with an event');
  const step = script.steps.findIndex((st) => st.expected.length > 1);
  // A transport that drops every event.
  const quiet = openAddon(script.user);
  const dropEvents = async (line) => (await quiet.call(line)).filter((l) => parse(l).id !== undefined);
  const f1 = await run(script, dropEvents);
  quiet.close();
  assert.match(f1 || '', /want \d+ lines, got \d+/);
  // A changed expected value.
  const changed = { ...script, steps: script.steps.map((st, i) => (i === step ? { ...st, expected: st.expected.map((e) => e.replace(/"commitSeq":\d+/, '"commitSeq":999')) } : st)) };
  const t = openAddon(script.user);
  const f2 = await run(changed, t.call);
  t.close();
  assert.match(f2 || '', /commitSeq: want 999/);
  // rpc-client refuses a raw line.
  const garbage = { ...script, name: 'garbage.jsonl', skip: new Map(), steps: [{ line: 1, request: '{not json', expected: ['{}'] }] };
  const { failures } = await runCorpus('node-rpc-client', openRpcClient, [garbage]);
  assert.match(failures[0] || '', /skip node-rpc-client/);
});

test('METHODS is the handler\'s own list (the addon reports it), in order', () => {
  assert.deepEqual([...METHODS], native.methods());
});
