'use strict';
// The JSON of the request and response lines, with JavaScript's numbers made
// safe for the store's 64-bit integers:
// - `stringify` is JSON.stringify, except that a BigInt is written as the exact
//   integer it holds and NaN, Infinity and -Infinity are refused (JSON.stringify
//   would write `null`, which the store reads as "absent": a NaN `sequence`
//   would mark the whole conversation read);
// - `parse` is JSON.parse, except that an integer beyond Number's safe range
//   (|n| > 2^53 - 1) comes back as a BigInt instead of a rounded Number.

/** A NaN or ±Infinity in the value given to `stringify`; `path` says where (`messages[0].sequence`). */
class NonFiniteNumber extends Error {
  constructor(path, value) {
    super(`${path || 'the value'} is ${value}: NaN, Infinity and -Infinity have no JSON form`);
    this.name = 'NonFiniteNumber';
    this.path = path;
    this.value = value;
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** `messages[0].payload.x` from the keys from the top down (array indexes are numbers). */
function pathOf(keys) {
  let path = '';
  for (const k of keys) {
    if (typeof k === 'number') path += `[${k}]`;
    else if (IDENT.test(k)) path += path ? `.${k}` : k;
    else path += `[${JSON.stringify(k)}]`;
  }
  return path;
}

/**
 * JSON.stringify(value) with BigInt as exact integers; throws NonFiniteNumber
 * for NaN/±Infinity anywhere, TypeError for a cycle (as JSON.stringify does).
 * Same output as JSON.stringify for everything JSON.stringify accepts, apart
 * from those numbers: toJSON, boxed primitives, undefined/functions/symbols
 * (left out of objects, `null` in arrays), own enumerable string keys.
 */
function stringify(value) {
  // Most values hold neither a BigInt (JSON.stringify throws) nor a NaN or
  // ±Infinity (it writes `null`): when it answers without a `null`
  // anywhere, its text is ours, at native speed.
  let fast;
  try { fast = JSON.stringify(value); } catch { fast = undefined; }
  if (typeof fast === 'string' && !fast.includes('null')) return fast;
  return stringifySlow(value);
}

function stringifySlow(value) {
  // The objects being written, outermost first (a cycle check), and the key of each level (the error's path).
  const stack = [];
  const keys = [];

  function ser(key, v) {
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof v.toJSON === 'function') {
      v = v.toJSON(String(key));
    }
    if (v !== null && typeof v === 'object') {
      // Boxed primitives serialize as their values.
      if (v instanceof Number) v = Number(v);
      else if (v instanceof String) v = String(v);
      else if (v instanceof Boolean || v instanceof BigInt) v = v.valueOf();
    }
    switch (typeof v) {
      case 'string': return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw new NonFiniteNumber(pathOf(keys), v);
        return String(v);
      case 'bigint': return v.toString();
      case 'boolean': return v ? 'true' : 'false';
      case 'undefined': case 'function': case 'symbol': return undefined;
      default: break;
    }
    if (v === null) return 'null';
    if (stack.includes(v)) throw new TypeError('Converting circular structure to JSON');
    stack.push(v);
    let out;
    if (Array.isArray(v)) {
      out = '[';
      for (let i = 0; i < v.length; i++) {
        keys.push(i);
        const s = ser(i, v[i]);
        keys.pop();
        out += (i === 0 ? '' : ',') + (s === undefined ? 'null' : s);
      }
      out += ']';
    } else {
      out = '{';
      let first = true;
      for (const k of Object.keys(v)) {
        keys.push(k);
        const s = ser(k, v[k]);
        keys.pop();
        if (s === undefined) continue;
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + s;
        first = false;
      }
      out += '}';
    }
    stack.pop();
    return out;
  }

  return ser('', value);
}

// An integer literal of 16 digits or more may be beyond 2^53 - 1
// (9007199254740991, 16 digits); a line without such a run of digits is read
// by JSON.parse as it is. Written out, not `\d{16}`: V8 scans a 1 KB page
// answer for the unrolled form in about a fifth of the time (6.4 → 1.3 µs).
const LONG_DIGITS = /\d\d\d\d\d\d\d\d\d\d\d\d\d\d\d\d/;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WS = /[ \t\n\r]*/y;

/** JSON.parse(text), with integers beyond Number's safe range as BigInt. Throws SyntaxError on bad JSON. */
function parse(text) {
  if (typeof text !== 'string') text = String(text);
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  let i = 0;

  const fail = (what) => { throw new SyntaxError(`${what} in JSON at position ${i}`); };
  const ws = () => { WS.lastIndex = i; WS.test(text); i = WS.lastIndex; };

  function str() {
    // text[i] is the opening quote.
    let j = i + 1;
    let escaped = false;
    for (;;) {
      const c = text.charCodeAt(j);
      if (Number.isNaN(c)) fail('Unterminated string');
      if (c === 0x22) break; // "
      if (c === 0x5c) { escaped = true; j += 2; continue; } // backslash
      if (c < 0x20) escaped = true; // let JSON.parse report it
      j += 1;
    }
    const token = text.slice(i, j + 1);
    i = j + 1;
    return escaped ? JSON.parse(token) : token.slice(1, -1);
  }

  function num() {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail(`Unexpected token ${JSON.stringify(text[i])}`);
    i = NUMBER.lastIndex;
    const n = Number(m[0]);
    if (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(n)) return BigInt(m[0]);
    return n;
  }

  function word(w, v) {
    if (text.startsWith(w, i)) { i += w.length; return v; }
    return fail(`Unexpected token ${JSON.stringify(text[i])}`);
  }

  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i += 1;
      const obj = {};
      ws();
      if (text[i] === '}') { i += 1; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('Expected a property name');
        const k = str();
        ws();
        if (text[i] !== ':') fail("Expected ':'");
        i += 1;
        const v = value();
        // As JSON.parse: `__proto__` is an own property, not the prototype.
        if (k === '__proto__') {
          Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
        } else {
          obj[k] = v;
        }
        ws();
        if (text[i] === ',') { i += 1; continue; }
        if (text[i] === '}') { i += 1; return obj; }
        fail("Expected ',' or '}'");
      }
    }
    if (c === '[') {
      i += 1;
      const arr = [];
      ws();
      if (text[i] === ']') { i += 1; return arr; }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') { i += 1; continue; }
        if (text[i] === ']') { i += 1; return arr; }
        fail("Expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (c === 't') return word('true', true);
    if (c === 'f') return word('false', false);
    if (c === 'n') return word('null', null);
    if (c === undefined) return fail('Unexpected end');
    return num();
  }

  const v = value();
  ws();
  if (i < text.length) fail(`Unexpected non-whitespace character`);
  return v;
}

module.exports = { stringify, parse, NonFiniteNumber };
