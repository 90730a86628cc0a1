'use strict';
// The store over a separate process: spawns `receiptdb rpc --db PATH --user ID`
// and offers the methods and events of docs/PROTOCOL.md as Promises, with the same
// errors as the addon. Needs no addon, so it serves any platform the
// `receiptdb` binary runs on.

const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');
const {
  METHODS, EVENTS, ReceiptDBError, CLOSED_ERROR, reportListenerError, defineMethods, defineListeners, requestLine, parseLine,
} = require('./lib/common');

/** Where the binary is looked for when no option or RECEIPTDB_BIN names it. */
const DEFAULT_BINARY = path.resolve(__dirname, '..', '..', 'target', 'release',
  process.platform === 'win32' ? 'receiptdb.exe' : 'receiptdb');

const EXITED = { code: -32603, message: 'the receiptdb rpc process exited', data: { name: 'INTERNAL' } };

class RpcReceiptStore {
  /**
   * Spawns the server and checks the store opened.
   * @param {string} file the store file
   * @param {string} userID the logged-in user
   * @param {{binary?: string, events?: string[], key?: string}} [options] `key`: the passphrase of an encrypted store
   * @returns {Promise<RpcReceiptStore>} rejects with a ReceiptDBError (e.g. OWNER_MISMATCH)
   */
  static async open(file, userID, options = {}) {
    const s = new RpcReceiptStore(file, userID, options);
    try {
      // The server answers an open failure with one `id: null` error line and
      // exits; a first request tells the two apart.
      await s.call('getReceiptConfig');
      if (Array.isArray(options.events) && options.events.length > 0) {
        await s.call('subscribe', { events: options.events });
      }
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** Use `RpcReceiptStore.open`, which waits for the store to open. */
  constructor(file, userID, options = {}) {
    if (typeof file !== 'string' || typeof userID !== 'string') {
      throw new TypeError('path and userID are strings');
    }
    const binary = options.binary || process.env.RECEIPTDB_BIN || DEFAULT_BINARY;
    const args = ['rpc', '--db', file, '--user', userID];
    const env = { ...process.env };
    if (typeof options.key === 'string') {
      // Through the child's environment: a key in argv would show in `ps`.
      env.RECEIPTDB_KEY = options.key;
      args.push('--key-env', 'RECEIPTDB_KEY');
    }
    this._child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
    this._nextID = 1;
    this._pending = new Map();
    this._listeners = new Map();
    this._closed = false;
    this._openError = null;
    this._exit = new Promise((resolve) => {
      this._child.on('close', () => { this._failAll(this._openError || EXITED); resolve(); });
    });
    this._child.on('error', (e) => {
      this._failAll({ code: -32603, message: `cannot run ${binary}: ${e.message}`, data: { name: 'INTERNAL' } });
    });
    this._child.stdin.on('error', () => {}); // EPIPE after the server exited: reported through 'close'
    const rl = readline.createInterface({ input: this._child.stdout, crlfDelay: Infinity });
    rl.on('line', (line) => this._onLine(line));
  }

  _onLine(line) {
    let msg;
    try { msg = parseLine(line); } catch { return; }
    if (msg.id === undefined && typeof msg.method === 'string') {
      // Events come before their call's response, and lines in commit order,
      // so emitting each as it arrives runs listeners before the call resolves.
      const ls = this._listeners.get(msg.method);
      if (ls) for (const fn of [...ls]) { try { fn(msg.params); } catch (e) { reportListenerError(e); } }
      return;
    }
    if (msg.id === null) { // the open failure
      this._openError = msg.error;
      return;
    }
    const p = this._pending.get(msg.id);
    if (!p) return;
    this._pending.delete(msg.id);
    if (msg.error) p.reject(new ReceiptDBError(msg.error));
    else p.resolve(msg.result);
  }

  _failAll(errObj) {
    for (const p of this._pending.values()) p.reject(new ReceiptDBError(errObj));
    this._pending.clear();
  }

  /** Whether the store is open. */
  get isOpen() { return !this._closed; }

  /**
   * Sends one JSON-RPC request; resolves with `result`, rejects with a ReceiptDBError.
   * Numbers as in the addon: BigInt accepted in params, NaN and ±Infinity
   * rejected with INVALID_PARAMS before anything is sent, unsafe integers back as BigInt.
   */
  call(method, params) {
    if (this._closed) return Promise.reject(new ReceiptDBError(CLOSED_ERROR));
    if (typeof method !== 'string') return Promise.reject(new TypeError('method is a string'));
    const id = this._nextID++;
    let line;
    try { line = requestLine(id, method, params); } catch (e) { return Promise.reject(e); }
    return new Promise((resolve, reject) => {
      if (this._child.exitCode !== null || this._child.stdin.destroyed) {
        reject(new ReceiptDBError(this._openError || EXITED));
        return;
      }
      this._pending.set(id, { resolve, reject });
      this._child.stdin.write(line + '\n');
    });
  }

  /** Closes the server's input and waits for it to exit; calls already sent are answered first. Idempotent. */
  close() {
    if (!this._closed) {
      this._closed = true;
      this._child.stdin.end();
    }
    return this._exit;
  }
}

defineMethods(RpcReceiptStore.prototype);
defineListeners(RpcReceiptStore.prototype);

module.exports = { RpcReceiptStore, ReceiptDBError, METHODS, EVENTS, DEFAULT_BINARY };
