// receiptdb-web: the store in a dedicated worker (worker.js), its file in the
// origin private file system (docs/EMBEDDING.md, bindings/web/README.md). The worker hands back the JSON-RPC
// lines a request produced; this module emits the events, then resolves with
// the result or rejects with the error. Same method names, params, results,
// errors and events as the Node package.
import { stringify } from './lib/json.js';
import {
  METHODS, EVENTS, ReceiptDBError, CLOSED_ERROR, reportListenerError, defineMethods, defineListeners, requestLine, parseLine,
} from './lib/common.js';

export { METHODS, EVENTS, ReceiptDBError };

class WebReceiptStore {
  constructor(worker) {
    this._worker = worker;
    this._nextID = 1;
    this._nextMsg = 1;
    this._pending = new Map();
    this._listeners = new Map();
    this._closed = false;
    worker.onmessage = (e) => {
      const p = this._pending.get(e.data.id);
      if (!p) return;
      this._pending.delete(e.data.id);
      p(e.data);
    };
    worker.onerror = (e) => {
      // The worker died (its script failed to load): every pending call fails.
      const line = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `the worker failed: ${e.message || 'unknown'}`, data: { name: 'INTERNAL' } } });
      for (const p of this._pending.values()) p({ failure: line, lines: [line], closed: false });
      this._pending.clear();
    };
  }

  _post(msg) {
    return new Promise((resolve) => {
      const id = this._nextMsg++;
      this._pending.set(id, resolve);
      this._worker.postMessage({ ...msg, id });
    });
  }

  /** Whether the store is open. */
  get isOpen() { return !this._closed; }

  /**
   * One JSON-RPC request line through the request handler, as `receiptdb rpc`
   * takes it; resolves with every line it produced (events first, the
   * response last). For tests and tools; emits nothing.
   */
  async callLine(line) {
    if (this._closed) return [stringify({ jsonrpc: '2.0', id: null, error: CLOSED_ERROR })];
    return (await this._post({ op: 'call', line: String(line) })).lines;
  }

  /**
   * Calls `method`: emits the events it caused, then resolves with `result`
   * or rejects with a ReceiptDBError. BigInt is accepted in params; integers
   * beyond Number's safe range come back as BigInt.
   */
  async call(method, params) {
    if (this._closed) throw new ReceiptDBError(CLOSED_ERROR);
    if (typeof method !== 'string') throw new TypeError('call(method, params): method is a string');
    const line = requestLine(this._nextID++, method, params);
    const { lines } = await this._post({ op: 'call', line });
    let response = null;
    const events = [];
    for (const l of lines) {
      const msg = parseLine(l);
      if (msg.id === undefined && typeof msg.method === 'string') events.push(msg);
      else response = msg;
    }
    // Before the Promise settles, in commit order (calls run one at a time in the worker).
    for (const ev of events) {
      const ls = this._listeners.get(ev.method);
      if (!ls) continue;
      for (const fn of [...ls]) {
        try { fn(ev.params); } catch (e) { reportListenerError(e); }
      }
    }
    if (response === null) throw new ReceiptDBError({ code: -32603, message: 'no response', data: { name: 'INTERNAL' } });
    if (response.error) throw new ReceiptDBError(response.error);
    return response.result;
  }

  /** Closes the store and ends its worker (releasing the OPFS files). Idempotent. */
  async close() {
    if (this._closed) return;
    this._closed = true;
    await this._post({ op: 'close' });
    this._worker.terminate();
  }
}

// Every method as a method, and on/off, exactly as in the Node package's classes.
defineMethods(WebReceiptStore.prototype);
defineListeners(WebReceiptStore.prototype);

/**
 * Opens (or creates) the store `name` in this origin's private file system
 * for `userID`, in a dedicated worker of its own. Rejects with a
 * ReceiptDBError (`STORE_BUSY` when another tab or worker has it open).
 * Options: `durability` ("normal" or "full", as in the Node package: "full"
 * flushes each commit to storage before its Promise resolves), `events`
 * (opt-in events to subscribe to at once).
 */
export async function openStore({ name, userID, durability, events } = {}) {
  if (typeof name !== 'string' || typeof userID !== 'string') {
    throw new TypeError('openStore({name, userID}): name and userID are strings');
  }
  // Best effort: asks the browser not to evict the origin's storage.
  try { await navigator.storage?.persist?.(); } catch { /* not granted: still works */ }
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: `receiptdb:${name}` });
  const store = new WebReceiptStore(worker);
  const { failure } = await store._post({ op: 'open', name, userID, durability });
  if (failure) {
    worker.terminate();
    store._closed = true;
    throw new ReceiptDBError(parseLine(failure).error);
  }
  if (Array.isArray(events) && events.length > 0) await store.call('subscribe', { events });
  return store;
}

/** The methods the module serves (receiptdb::rpc::METHODS), from a throwaway worker. */
export async function moduleMethods() {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const s = new WebReceiptStore(worker);
  const { methods } = await s._post({ op: 'methods' });
  worker.terminate();
  return methods;
}
