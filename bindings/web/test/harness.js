// The page side of test/browser.test.mjs: opens stores through the package and
// turns each corpus request line into the lines `receiptdb rpc` would write,
// as bindings/node/test/conformance.test.js does for the addon.
import { openStore, EVENTS, moduleMethods, METHODS } from '../index.js';
import { parse, stringify } from '../lib/json.js';

const stores = new Map();
let next = 1;

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

window.rdb = {
  async open(name, userID, options = {}) {
    try {
      const s = await openStore({ name, userID, ...options });
      const events = [];
      for (const n of EVENTS) s.on(n, (params) => events.push({ method: n, params }));
      const h = next++;
      stores.set(h, { s, events });
      return { handle: h };
    } catch (e) {
      return { error: { code: e.code, codeName: e.codeName, message: e.message } };
    }
  },
  /** The lines of one request line: events, then the response (method calls go through `call`). */
  async line(h, line) {
    const { s, events } = stores.get(h);
    const req = methodCall(line);
    if (req === null) return s.callLine(line);
    events.length = 0;
    let response;
    try {
      response = { jsonrpc: '2.0', id: req.id, result: await s.call(req.method, req.params) };
    } catch (e) {
      if (!(e instanceof Error)) throw new Error('a failed call rejects with an Error');
      const error = { code: e.code, message: e.message };
      if (e.data !== undefined) error.data = e.data;
      response = { jsonrpc: '2.0', id: req.id, error };
    }
    return [...events.splice(0).map((ev) => stringify({ jsonrpc: '2.0', method: ev.method, params: ev.params })), stringify(response)];
  },
  /** `call(method, params)` with params given as a JSON line (BigInt-safe); the result as a line. */
  async call(h, method, paramsLine) {
    const { s } = stores.get(h);
    try {
      return { result: stringify(await s.call(method, paramsLine === undefined ? undefined : parse(paramsLine))) };
    } catch (e) {
      return { error: { code: e.code, codeName: e.codeName, message: e.message } };
    }
  },
  async close(h) {
    const st = stores.get(h);
    if (!st) return;
    stores.delete(h);
    await st.s.close();
  },
  /** The SDK samples (bindings/node/test-support/tencent_samples.mjs) through the package's facade. */
  async samples(prefix) {
    const TencentCloudChat = await import('../tencent.js');
    const { runSamples } = await import('/node-support/tencent_samples.mjs');
    return runSamples({
      TencentCloudChat,
      login: (userID, transport) => TencentCloudChat.open({ name: `${prefix}-${userID}.db`, userID, transport }),
    });
  },
  /**
   * Rewrites the closed store `name` as builds before 2026-12-07 left it (a
   * rollback journal, DELETE mode), in a worker of its own; resolves with
   * the journal mode it had, or {failure}.
   */
  async rollbackJournal(name) {
    const worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
    try {
      const r = await new Promise((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => resolve({ failure: `the worker failed: ${e.message}` });
        worker.postMessage({ id: 1, op: 'rollbackJournalForTests', name });
      });
      return r.failure ? { failure: r.failure } : { mode: r.mode };
    } finally {
      worker.terminate();
    }
  },
  async methods() {
    return { module: await moduleMethods(), package: [...METHODS] };
  },
};
window.rdbReady = true;
