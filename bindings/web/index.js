// receiptdb-web: the store in a dedicated worker (worker.js), its file in the
// origin private file system (docs/EMBEDDING.md, bindings/web/README.md). The worker hands back the JSON-RPC
// lines a request produced; this module emits the events, then resolves with
// the result or rejects with the error. Same method names, params, results,
// errors and events as the Node package.
import { stringify, parse, NonFiniteNumber } from './lib/json.js';
import { METHODS } from './lib/methods.js';

export { METHODS };

/** The events of docs/PROTOCOL.md, the opt-in ones, and LAGGED. */
export const EVENTS = Object.freeze([
  'MESSAGE_READ_RECEIPT_RECEIVED', 'MESSAGE_READ_BY_PEER', 'TOTAL_UNREAD_MESSAGE_COUNT_UPDATED',
  'MESSAGES_CHANGED', 'CONVERSATION_CHANGED', 'OUTBOX_CHANGED', 'SNAPSHOT_APPLIED', 'LAGGED',
]);

/** A failed call or open: `code` is the store's error number, `codeName` its name. */
export class ReceiptDBError extends Error {
  constructor(obj) {
    super(obj && typeof obj.message === 'string' ? obj.message : 'receiptdb error');
    this.name = 'ReceiptDBError';
    this.code = obj && typeof obj.code === 'number' ? obj.code : -32603;
    this.codeName = (obj && obj.data && obj.data.name) || 'INTERNAL';
    if (obj && obj.data !== undefined) this.data = obj.data;
  }
}

const CLOSED_ERROR = Object.freeze({ code: -32000, message: 'the store is closed', data: { name: 'STORE_CLOSED' } });

/** The request line; NaN/±Infinity anywhere is INVALID_PARAMS before anything reaches the store. */
function requestLine(id, method, params) {
  const req = { jsonrpc: '2.0', id, method };
  if (params !== undefined) req.params = params;
  try {
    return stringify(req);
  } catch (e) {
    if (!(e instanceof NonFiniteNumber)) throw e;
    const where = e.path === 'params' ? 'params' : e.path.replace(/^params\.?/, '');
    throw new ReceiptDBError({
      code: -32602,
      message: `invalid params: ${where} is ${e.value}; NaN, Infinity and -Infinity are not JSON numbers`,
      data: { name: 'INVALID_PARAMS' },
    });
  }
}

/** A listener threw: report it as an unhandled error would be, without losing the call's result. */
function reportListenerError(err) {
  queueMicrotask(() => { throw err; });
}

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
      const msg = parse(l);
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

  /** Adds a listener for one event (params as in PROTOCOL.md, Events). */
  on(event, listener) {
    if (typeof listener !== 'function') throw new TypeError('on(event, listener): listener is a function');
    let ls = this._listeners.get(event);
    if (!ls) { ls = []; this._listeners.set(event, ls); }
    ls.push(listener);
    return this;
  }

  /** Removes one listener added with `on`. */
  off(event, listener) {
    const ls = this._listeners.get(event);
    if (ls) {
      const i = ls.lastIndexOf(listener);
      if (i >= 0) ls.splice(i, 1);
      if (ls.length === 0) this._listeners.delete(event);
    }
    return this;
  }

  /** Closes the store and ends its worker (releasing the OPFS files). Idempotent. */
  async close() {
    if (this._closed) return;
    this._closed = true;
    await this._post({ op: 'close' });
    this._worker.terminate();
  }
}

for (const name of METHODS) {
  Object.defineProperty(WebReceiptStore.prototype, name, {
    value: { [name](params) { return this.call(name, params); } }[name],
    writable: true, configurable: true, enumerable: false,
  });
}

/**
 * Opens (or creates) the store `name` in this origin's private file system
 * for `userID`, in a dedicated worker of its own. Rejects with a
 * ReceiptDBError (`STORE_BUSY` when another tab or worker has it open).
 * Options: `durability` ("normal" or "full"; in the browser both commit with
 * `synchronous=FULL`), `events` (opt-in events to subscribe to at once).
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
    throw new ReceiptDBError(parse(failure).error);
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
