'use strict';
// The `receiptdb` package: the whole store in-process through a Node-API addon
// (docs/EMBEDDING.md). The addon hands back the JSON-RPC lines a request produced; this
// file emits the events, then returns the result or throws the error.

const path = require('path');
const {
  METHODS, EVENTS, ReceiptDBError, CLOSED_ERROR, reportListenerError, defineMethods, defineListeners, requestLine, parseLine,
} = require('./lib/common');

const ADDON_PATH = path.join(__dirname, 'receiptdb.node');

let native = null;
function loadNative() {
  if (native) return native;
  try {
    native = require(ADDON_PATH);
  } catch (e) {
    const err = new Error(`receiptdb: cannot load the addon ${ADDON_PATH} (run \`npm run build\` in ` +
      `${__dirname}): ${e.message}`);
    err.cause = e;
    throw err;
  }
  return native;
}

/**
 * One user's store, opened in this thread. Synchronous, like better-sqlite3.
 * Each worker thread opens its own; two stores on one file work as two processes do.
 */
class ReceiptStore {
  /**
   * @param {string} file the store file (created if missing)
   * @param {string} userID the logged-in user who owns it
   * @param {{events?: string[], durability?: 'normal' | 'full', key?: string}} [options] `events`: opt-in events to
   *   turn on at once (`subscribe`); `durability`: "normal" (default: a commit survives the process
   *   dying) or "full" (also a power cut; each commit waits for the disk); `key`: the passphrase
   *   of an encrypted store (a new store is created encrypted with it)
   */
  constructor(file, userID, options = {}) {
    if (typeof file !== 'string' || typeof userID !== 'string') {
      throw new TypeError('new ReceiptStore(path, userID, options?): path and userID are strings');
    }
    const { NativeStore } = loadNative();
    const n = new NativeStore();
    const durability = options && options.durability !== undefined ? options.durability : undefined;
    if (durability !== undefined && typeof durability !== 'string') {
      throw new TypeError('new ReceiptStore(path, userID, {durability}): durability is "normal" or "full"');
    }
    const key = options && options.key !== undefined ? options.key : undefined;
    if (key !== undefined && (typeof key !== 'string' || key === '')) {
      throw new TypeError('new ReceiptStore(path, userID, {key}): key is a non-empty string');
    }
    const failure = n.open(file, userID, durability, key);
    if (failure !== null && failure !== undefined) {
      throw new ReceiptDBError(parseLine(failure).error);
    }
    this._native = n;
    this._nextID = 1;
    this._listeners = new Map();
    // No listener yet: writes need not build their events (see `_listening`).
    n.setForwarding(false);
    // One queue per store: a call made from inside a listener appends its
    // events here and the outermost emitter drains them, in commit order.
    this._queue = [];
    this._draining = false;
    if (options && Array.isArray(options.events) && options.events.length > 0) {
      this.call('subscribe', { events: options.events });
    }
  }

  /** Whether the store is open. */
  get isOpen() { return this._native !== null; }

  /**
   * Sends one JSON-RPC request through the same handler as `receiptdb rpc`.
   * Emits the events it caused, then returns `result` or throws a ReceiptDBError.
   * BigInt is accepted anywhere in params; NaN and ±Infinity are INVALID_PARAMS
   * (thrown here, the store untouched); integers beyond Number's safe range in
   * results and events come back as BigInt.
   */
  call(method, params) {
    if (this._native === null) throw new ReceiptDBError(CLOSED_ERROR);
    if (typeof method !== 'string') throw new TypeError('call(method, params): method is a string');
    const lines = this._native.call(requestLine(this._nextID++, method, params));
    let response = null;
    for (const line of lines) {
      const msg = parseLine(line);
      if (msg.id === undefined && typeof msg.method === 'string') this._queue.push(msg);
      else response = msg;
    }
    this._drain();
    if (response === null) throw new ReceiptDBError({ code: -32603, message: 'no response', data: { name: 'INTERNAL' } });
    if (response.error) throw new ReceiptDBError(response.error);
    return response.result;
  }

  /** The first listener came (`true`) or the last went: events are built only while someone listens. */
  _listening(on) {
    if (this._native !== null) this._native.setForwarding(on);
  }

  _drain() {
    if (this._draining) return; // the outer emitter is draining: it will reach our events
    this._draining = true;
    try {
      while (this._queue.length > 0) {
        const ev = this._queue.shift();
        const ls = this._listeners.get(ev.method);
        if (!ls) continue;
        // A copy, so `off` inside a listener does not skip the next one.
        for (const fn of [...ls]) {
          try { fn(ev.params); } catch (e) { reportListenerError(e); }
        }
      }
    } finally {
      this._draining = false;
    }
  }

  /**
   * Deletes a closed store for good (logout): its database, -wal and -shm.
   * Returns whether there was one; throws STORE_BUSY while any store (this
   * process or another) has it open, OWNER_MISMATCH for another user's.
   * @param {string} file @param {string} userID @param {{key?: string}} [options]
   */
  static deleteStore(file, userID, options = {}) {
    if (typeof file !== 'string' || typeof userID !== 'string') {
      throw new TypeError('ReceiptStore.deleteStore(path, userID, options?): path and userID are strings');
    }
    const key = options && typeof options.key === 'string' ? options.key : undefined;
    const msg = parseLine(loadNative().deleteStore(file, userID, key));
    if (msg.error) throw new ReceiptDBError(msg.error);
    return msg.result.deleted;
  }

  /** Closes the store. Idempotent; later calls throw STORE_CLOSED. */
  close() {
    if (this._native === null) return;
    const n = this._native;
    this._native = null;
    n.close();
  }
}

defineMethods(ReceiptStore.prototype);
defineListeners(ReceiptStore.prototype);

module.exports = { ReceiptStore, ReceiptDBError, METHODS, EVENTS };
