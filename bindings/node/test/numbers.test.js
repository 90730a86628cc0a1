'use strict';
// Numbers across the JSON boundary. JSON.stringify writes NaN and ±Infinity as
// `null`, which the store reads as "absent" (a NaN `sequence` in
// setMessageRead would mark the whole conversation read), and JSON.parse
// rounds integers beyond 2^53 - 1. The binding refuses non-finite numbers with
// INVALID_PARAMS before anything reaches the store, accepts BigInt in params
// and hands back integers beyond the safe range as BigInt.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ReceiptStore, ReceiptDBError } = require('..');
const { RpcReceiptStore } = require('../rpc-client');
const { tmpStore, rawRpc } = require('../test-support/helpers');

const inC2C = (ID, sequence, extra = {}) => ({
  ID, conversationType: 'C2C', from: 'bob', to: 'alice', time: 100, sequence, needReadReceipt: true, status: 'success', ...extra,
});
const outC2C = (ID, sequence, extra = {}) => ({
  ID, conversationType: 'C2C', from: 'alice', to: 'bob', time: 100, sequence, needReadReceipt: true, status: 'success', ...extra,
});

/** A store with three unread messages from bob (sequences 1..3) and one of alice's. */
function c2cStore() {
  const s = new ReceiptStore(tmpStore(), 'alice');
  s.saveMessages({ messages: [inC2C('b1', 1), inC2C('b2', 2), inC2C('b3', 3), outC2C('a4', 4)] });
  return s;
}

/** Everything a refused call could have changed, as one comparable value. */
function state(s) {
  return {
    conversation: s.getConversation({ conversationID: 'C2Cbob' }),
    list: s.getMessageList({ conversationID: 'C2Cbob', count: 100 }),
    pending: s.getPendingReceipts(),
    total: s.getTotalUnreadMessageCount(),
  };
}

function isInvalidParams(e) {
  assert.ok(e instanceof ReceiptDBError, `a ReceiptDBError, not ${e && e.constructor && e.constructor.name}: ${e}`);
  assert.equal(e.code, -32602);
  assert.equal(e.codeName, 'INVALID_PARAMS');
  assert.deepEqual(e.data, { name: 'INVALID_PARAMS' });
  assert.match(e.message, /^invalid params: /);
  return true;
}

const NON_FINITE = [NaN, Infinity, -Infinity];

test('NaN, Infinity and -Infinity as setMessageRead sequence are INVALID_PARAMS; nothing is marked read', () => {
  const s = c2cStore();
  const before = state(s);
  assert.equal(before.conversation.readSequence, 0);
  assert.equal(before.conversation.unreadCount, 3);
  for (const v of NON_FINITE) {
    assert.throws(() => s.setMessageRead({ conversationID: 'C2Cbob', sequence: v }), isInvalidParams, String(v));
    assert.throws(() => s.call('setMessageRead', { conversationID: 'C2Cbob', sequence: v }), isInvalidParams, String(v));
    assert.deepEqual(state(s), before, `${v}: the store is unchanged`);
  }
  // The error names where the number was.
  assert.throws(() => s.setMessageRead({ conversationID: 'C2Cbob', sequence: NaN }), /sequence is NaN/);
  // Params that are themselves non-finite are refused too (JSON.stringify would send `null`: "no params").
  assert.throws(() => s.call('setAllMessageRead', NaN), isInvalidParams);
  assert.deepEqual(state(s), before);
  // The store is still usable, and a finite sequence still works.
  assert.deepEqual(s.setMessageRead({ conversationID: 'C2Cbob', sequence: 2 }), { readSequence: 2 });
  assert.equal(s.getConversation({ conversationID: 'C2Cbob' }).unreadCount, 1);
  s.close();
});

test('non-finite numbers nested in objects and arrays are INVALID_PARAMS; the store is unchanged', () => {
  const s = c2cStore();
  const before = state(s);
  const calls = (v) => [
    ['saveMessages', { messages: [inC2C('n1', 9), inC2C('n2', v)] }, /messages\[1\]\.sequence is /],
    ['saveMessages', { messages: [inC2C('n1', 9, { time: v })] }, /messages\[0\]\.time is /],
    ['saveMessages', { messages: [inC2C('n1', 9, { payload: { text: 'hi', deep: [1, { x: [v] }] } })] }, /messages\[0\]\.payload\.deep\[1\]\.x\[0\] is /],
    ['applyReadReports', { reports: [{ conversationID: 'C2Cbob', readSequence: v }] }, /reports\[0\]\.readSequence is /],
    ['applySnapshot', { conversationID: 'C2Cbob', readSequence: 9, receipts: [{ messageID: 'a4', readCount: v }] }, /receipts\[0\]\.readCount is /],
    ['ackReadReports', { reports: [{ conversationID: 'C2Cbob', readSequence: v }] }, /reports\[0\]\.readSequence is /],
    ['getMessageList', { conversationID: 'C2Cbob', count: v }, /count is /],
    // Boxed, or from a toJSON: what JSON.stringify would have written is what is checked.
    ['setMessageRead', { conversationID: 'C2Cbob', sequence: Object(v) }, /sequence is /],
    ['setMessageRead', { conversationID: 'C2Cbob', sequence: { toJSON: () => v } }, /sequence is /],
  ];
  for (const v of NON_FINITE) {
    for (const [method, params, where] of calls(v)) {
      assert.throws(() => s.call(method, params), (e) => isInvalidParams(e) && where.test(e.message), `${method} ${v}`);
    }
    assert.deepEqual(state(s), before, `${v}: the store is unchanged`);
    assert.equal(s.findMessage({ messageID: 'n1' }), null, 'no message of a refused batch was saved');
  }
  s.close();
});

test('rpc-client rejects non-finite numbers with the same error, before sending', async () => {
  let addonError = null;
  const a = c2cStore();
  try { a.setMessageRead({ conversationID: 'C2Cbob', sequence: NaN }); } catch (e) { addonError = e; }
  a.close();
  assert.ok(addonError !== null);
  const c = await RpcReceiptStore.open(tmpStore(), 'alice');
  try {
    await c.saveMessages({ messages: [inC2C('b1', 1), inC2C('b2', 2)] });
    for (const v of NON_FINITE) {
      await assert.rejects(c.setMessageRead({ conversationID: 'C2Cbob', sequence: v }), isInvalidParams);
      await assert.rejects(c.saveMessages({ messages: [inC2C('n1', 3, { payload: { x: [v] } })] }), isInvalidParams);
    }
    await assert.rejects(c.setMessageRead({ conversationID: 'C2Cbob', sequence: NaN }), (e) => {
      assert.deepEqual({ code: e.code, codeName: e.codeName, message: e.message, data: e.data },
        { code: addonError.code, codeName: addonError.codeName, message: addonError.message, data: addonError.data });
      return true;
    });
    const conv = await c.getConversation({ conversationID: 'C2Cbob' });
    assert.equal(conv.readSequence, 0);
    assert.equal(conv.unreadCount, 2);
    assert.equal(await c.findMessage({ messageID: 'n1' }), null);
  } finally {
    await c.close();
  }
});

const MAX_I64 = 2n ** 63n - 1n;
/** The largest sequence the store accepts (one can always be added to it). */
const MAX_SEQ = MAX_I64 - 1n;
const P53 = 2n ** 53n;

test('a 2^63-2 sequence and a 2^63-1 payload round-trip exactly through saveMessages and findMessage', () => {
  const s = new ReceiptStore(tmpStore(), 'alice');
  // 2^63-1 reaches the store exactly: it refuses it by its own rule, naming the exact value.
  assert.throws(() => s.saveMessages({ messages: [inC2C('over', MAX_I64)] }),
    (e) => isInvalidParams(e) && /sequence must be below 9223372036854775807/.test(e.message));
  assert.deepEqual(s.saveMessages({ messages: [inC2C('big', MAX_SEQ, { time: 1700000000n, payload: { max: MAX_I64, min: -(2n ** 63n) } })] }), { saved: 1 });
  const m = s.findMessage({ messageID: 'big' });
  assert.equal(typeof m.sequence, 'bigint');
  assert.equal(m.sequence, MAX_SEQ);
  assert.deepEqual(m.payload, { max: MAX_I64, min: -(2n ** 63n) });
  // A small integer stays a Number, even when it was given as a BigInt.
  assert.equal(m.time, 1700000000);
  const conv = s.getConversation({ conversationID: 'C2Cbob' });
  assert.equal(conv.unreadCount, 1);
  assert.equal(conv.readSequence, 0);
  assert.deepEqual(s.setMessageRead({ conversationID: 'C2Cbob' }), { readSequence: MAX_SEQ });
  assert.equal(s.getConversation({ conversationID: 'C2Cbob' }).readSequence, MAX_SEQ);
  assert.equal(s.getConversation({ conversationID: 'C2Cbob' }).unreadCount, 0);
  const { readReports } = s.getPendingReceipts();
  // A read to the end also carries its time (unix ms; PROTOCOL.md, Unread marks).
  assert.equal(typeof readReports[0].readTime, 'number');
  assert.deepEqual(readReports.map(({ readTime, ...r }) => r), [{ conversationID: 'C2Cbob', readSequence: MAX_SEQ }]);
  assert.deepEqual(s.ackReadReports({ reports: readReports }), { acked: 1 });
  s.close();
});

test('sequences 2^53+1 and 2^53+2 stay distinct, in and out', () => {
  const s = new ReceiptStore(tmpStore(), 'alice');
  s.saveMessages({ messages: [inC2C('p1', P53 + 1n), inC2C('p2', P53 + 2n), inC2C('small', 7)] });
  assert.equal(s.findMessage({ messageID: 'p1' }).sequence, P53 + 1n);
  assert.equal(s.findMessage({ messageID: 'p2' }).sequence, P53 + 2n);
  assert.equal(s.findMessage({ messageID: 'small' }).sequence, 7);
  const list = s.getMessageList({ conversationID: 'C2Cbob', count: 100 }).messageList;
  assert.deepEqual(list.map((m) => [m.ID, m.sequence]), [['small', 7], ['p1', P53 + 1n], ['p2', P53 + 2n]]);
  // Read up to 2^53+1 exactly: the 2^53+2 message is still unread.
  assert.deepEqual(s.setMessageRead({ conversationID: 'C2Cbob', sequence: P53 + 1n }), { readSequence: P53 + 1n });
  const conv = s.getConversation({ conversationID: 'C2Cbob' });
  assert.equal(conv.readSequence, P53 + 1n);
  assert.equal(conv.unreadCount, 1);
  assert.equal(conv.lastMessage.ID, 'p2');
  assert.equal(conv.lastMessage.sequence, P53 + 2n);
  // The largest safe integer is still a Number.
  s.saveMessages({ messages: [inC2C('safe', Number.MAX_SAFE_INTEGER, { conversationType: 'C2C', from: 'carol' })] });
  assert.equal(s.findMessage({ messageID: 'safe' }).sequence, Number.MAX_SAFE_INTEGER);
  s.close();
});

test('big integers in payloads and events come back as BigInt', () => {
  const s = new ReceiptStore(tmpStore(), 'alice', { events: ['CONVERSATION_CHANGED'] });
  const seq = 2n ** 62n + 3n;
  s.saveMessages({ messages: [outC2C('a1', seq, { payload: { big: -(2n ** 60n) - 1n, small: 5n, list: [P53, 1] } })] });
  const m = s.findMessage({ messageID: 'a1' });
  assert.deepEqual(m.payload, { big: -(2n ** 60n) - 1n, small: 5, list: [P53, 1] });
  const byPeer = [];
  const changed = [];
  s.on('MESSAGE_READ_BY_PEER', (p) => byPeer.push(p));
  s.on('CONVERSATION_CHANGED', (p) => changed.push(p));
  s.applyReadReports({ reports: [{ conversationID: 'C2Cbob', peerReadSequence: seq }] });
  assert.equal(byPeer.length, 1);
  assert.equal(byPeer[0].data[0].ID, 'a1');
  assert.equal(byPeer[0].data[0].sequence, seq);
  assert.equal(byPeer[0].data[0].isPeerRead, true);
  assert.equal(typeof byPeer[0].commitSeq, 'number');
  assert.ok(changed.length >= 1);
  assert.equal(changed[changed.length - 1].peerReadSequence, seq);
  assert.equal(s.getConversation({ conversationID: 'C2Cbob' }).peerReadSequence, seq);
  s.close();
});

test('a big integer written by another client (a raw rpc line) is read back exactly', async () => {
  const file = tmpStore();
  const raw = rawRpc(file, 'alice');
  let lines;
  try {
    lines = await raw.send('{"jsonrpc":"2.0","id":1,"method":"saveMessages","params":{"messages":[' +
      '{"ID":"r1","conversationType":"C2C","from":"bob","to":"alice","time":100,"sequence":9223372036854775806,"status":"success"},' +
      '{"ID":"r2","conversationType":"C2C","from":"bob","to":"alice","time":100,"sequence":9007199254740993,"status":"success",' +
      '"payload":{"n":-9223372036854775808,"id":"12345678901234567890"}}]}}');
  } finally {
    assert.equal(await raw.close(), 0);
  }
  assert.deepEqual(JSON.parse(lines.pop()).result, { saved: 2 });
  const s = new ReceiptStore(file, 'alice');
  assert.equal(s.findMessage({ messageID: 'r1' }).sequence, MAX_SEQ);
  const r2 = s.findMessage({ messageID: 'r2' });
  assert.equal(r2.sequence, P53 + 1n);
  // A string of digits stays a string.
  assert.deepEqual(r2.payload, { n: -(2n ** 63n), id: '12345678901234567890' });
  s.close();
  const c = await RpcReceiptStore.open(file, 'alice');
  try {
    assert.equal((await c.findMessage({ messageID: 'r1' })).sequence, MAX_SEQ);
    assert.equal((await c.findMessage({ messageID: 'r2' })).sequence, P53 + 1n);
    // And BigInt params through the rpc client.
    await c.saveMessages({ messages: [inC2C('r3', P53 + 2n)] });
    assert.equal((await c.findMessage({ messageID: 'r3' })).sequence, P53 + 2n);
    assert.deepEqual(await c.setMessageRead({ conversationID: 'C2Cbob', sequence: P53 + 1n }), { readSequence: P53 + 1n });
    const conv = await c.getConversation({ conversationID: 'C2Cbob' });
    assert.equal(conv.readSequence, P53 + 1n);
    assert.equal(conv.unreadCount, 2);
  } finally {
    await c.close();
  }
});
