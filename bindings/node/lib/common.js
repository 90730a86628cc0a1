'use strict';
// What the in-process addon, the rpc client and the browser package share
// (bindings/web builds an ES module of this file): the method names, the
// event names, the error type (docs/PROTOCOL.md) and the JSON of the lines
// (lib/json.js: BigInt for integers beyond Number's safe range).

const { stringify, parse, NonFiniteNumber } = require('./json');

/**
 * Every method of the request handler, in the order of docs/PROTOCOL.md.
 * lib/methods.json is written by `npm run build` from the addon's
 * `methods()` (the handler's one list); test/conformance.test.js checks it.
 */
const METHODS = Object.freeze(require('./methods.json'));

/** The events of docs/PROTOCOL.md, the opt-in ones, and LAGGED (a subscriber fell behind). */
const EVENTS = Object.freeze([
  'MESSAGE_READ_RECEIPT_RECEIVED', 'MESSAGE_READ_BY_PEER', 'TOTAL_UNREAD_MESSAGE_COUNT_UPDATED', 'STORE_RESTORED',
  'MESSAGE_DELIVERY_RECEIPT_RECEIVED', 'MESSAGES_CHANGED', 'MESSAGES_DELETED', 'CONVERSATION_CHANGED', 'OUTBOX_CHANGED', 'SNAPSHOT_APPLIED', 'LAGGED',
]);

/** A failed call: `code` is the store's error number, `codeName` its name (`error.data.name`). */
class ReceiptDBError extends Error {
  /** @param {{code: number, message: string, data?: {name?: string}}} obj a JSON-RPC error object */
  constructor(obj) {
    super(obj && typeof obj.message === 'string' ? obj.message : 'receiptdb error');
    this.name = 'ReceiptDBError';
    this.code = obj && typeof obj.code === 'number' ? obj.code : -32603;
    this.codeName = (obj && obj.data && obj.data.name) || 'INTERNAL';
    if (obj && obj.data !== undefined) this.data = obj.data;
  }
}

/** The error of a call on a closed store (not one of the store's errors; same object in the addon and the rpc server). */
const CLOSED_ERROR = Object.freeze({
  code: -32000, message: 'the store is closed', data: { name: 'STORE_CLOSED' },
});

/**
 * The JSON-RPC request line of a call. Params are written by lib/json.js: a
 * BigInt as its exact integer; a NaN, Infinity or -Infinity anywhere in them
 * throws the store's INVALID_PARAMS error before anything reaches the store
 * (JSON.stringify would send `null`, which the store reads as "absent").
 */
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

/** Parses a line the store wrote: integers beyond Number's safe range come back as BigInt. */
const parseLine = parse;

/** A listener threw: report it the way an unhandled error would be, without losing the call's result. */
function reportListenerError(err) {
  queueMicrotask(() => { throw err; });
}

/** Adds a camelCase method per entry of METHODS to `proto`, each `(params) => this.call(name, params)`. */
function defineMethods(proto) {
  for (const name of METHODS) {
    Object.defineProperty(proto, name, {
      value: { [name](params) { return this.call(name, params); } }[name],
      writable: true, configurable: true, enumerable: false,
    });
  }
}

/**
 * Adds `on(event, listener)` and `off(event, listener)` over `this._listeners` (a Map of arrays).
 * When the first listener comes and the last goes, `this._listening(bool)` is called if the
 * object has one (the addon stops building events nobody would receive).
 */
function defineListeners(proto) {
  Object.defineProperty(proto, 'on', {
    value: function on(event, listener) {
      if (typeof listener !== 'function') throw new TypeError('on(event, listener): listener is a function');
      const first = this._listeners.size === 0;
      let ls = this._listeners.get(event);
      if (!ls) { ls = []; this._listeners.set(event, ls); }
      ls.push(listener);
      if (first && typeof this._listening === 'function') this._listening(true);
      return this;
    },
    writable: true, configurable: true, enumerable: false,
  });
  Object.defineProperty(proto, 'off', {
    value: function off(event, listener) {
      const ls = this._listeners.get(event);
      if (ls) {
        const i = ls.lastIndexOf(listener);
        if (i >= 0) ls.splice(i, 1);
        if (ls.length === 0) {
          this._listeners.delete(event);
          if (this._listeners.size === 0 && typeof this._listening === 'function') this._listening(false);
        }
      }
      return this;
    },
    writable: true, configurable: true, enumerable: false,
  });
}

module.exports = {
  METHODS, EVENTS, ReceiptDBError, CLOSED_ERROR, reportListenerError, defineMethods, defineListeners,
  requestLine, parseLine,
};
