'use strict';
// The same scripted session through the addon, through a raw `receiptdb rpc`
// process (the oracle) and through rpc-client.js gives identical results,
// errors and events. The only things normalised are what each new store makes
// up for itself: the IDs createMessage invents (from a per-store random
// nonce) and the wall-clock `time` it stamps.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ReceiptStore, EVENTS } = require('..');
const { RpcReceiptStore } = require('../rpc-client');
const { tmpStore, rawRpc } = require('../test-support/helpers');

const G = (ID, from, sequence, extra = {}) => ({
  ID, conversationType: 'GROUP', from, to: 'team', time: 100 + sequence, sequence, needReadReceipt: true, status: 'success', ...extra,
});
const C = (ID, from, to, sequence, extra = {}) => ({
  ID, conversationType: 'C2C', from, to, time: 100 + sequence, sequence, needReadReceipt: true, status: 'success', ...extra,
});

/** [label, method, params or (results) => params]. `results[label]` is an earlier step's result. */
const SCRIPT = [
  ['cfg', 'getReceiptConfig', undefined],
  ['cfgBad', 'setReceiptConfig', { groupTypes: ['Work', 'Community'] }],
  ['subscribe', 'subscribe', { events: ['CONVERSATION_CHANGED', 'OUTBOX_CHANGED', 'MESSAGES_CHANGED', 'SNAPSHOT_APPLIED'] }],
  ['team', 'setGroup', { groupID: 'team', groupType: 'Work', members: [
    { userID: 'alice' }, { userID: 'bob', joinTime: 1 }, { userID: 'carol', joinTime: 50 }, { userID: 'dave', joinTime: 500 }, { userID: 'erin' },
  ] }],
  ['community', 'setGroup', { groupID: 'town', groupType: 'Community', members: [{ userID: 'alice' }, { userID: 'bob' }] }],
  ['save', 'saveMessages', { messages: [
    G('g1', 'alice', 1), G('g2', 'alice', 2), G('g3', 'bob', 3), G('g4', 'alice', 4, { needReadReceipt: false }),
    C('c1', 'alice', 'bob', 1), C('c2', 'bob', 'alice', 2), C('c3', 'alice', 'bob', 3),
  ] }],
  ['saveAgain', 'saveMessages', { messages: [G('g1', 'alice', 1)] }],
  ['saveContradicts', 'saveMessages', { messages: [G('g1', 'alice', 9)] }],
  ['create', 'createMessage', { to: 'team', conversationType: 'GROUP', payload: { text: 'ship it?' }, needReadReceipt: true }],
  ['sent', 'markMessageSent', (r) => ({ ID: r.create.ID, sequence: 5, time: 105 })],
  ['createCommunity', 'createMessage', { to: 'town', conversationType: 'GROUP', payload: { text: 'hi' }, needReadReceipt: true }],
  ['notes', 'applyReceiptNotifications', { notifications: [
    { messageID: 'g1', groupID: 'team', readerIDs: ['bob', 'carol'] },
    { messageID: 'g2', groupID: 'team', userID: 'erin' },
    { messageID: 'c1', conversationID: 'C2Cbob', isPeerRead: true },
  ] }],
  ['notesAgain', 'applyReceiptNotifications', { notifications: [{ messageID: 'g1', groupID: 'team', readerIDs: ['bob'] }] }],
  ['early', 'applyReceiptNotifications', { notifications: [{ messageID: 'later', groupID: 'team', readerIDs: ['bob'] }] }],
  ['createdRead', 'applyReceiptNotifications', (r) => ({ notifications: [{ messageID: r.create.ID, groupID: 'team', readerIDs: ['erin', 'dave'] }] })],
  ['laterArrives', 'saveMessages', { messages: [G('later', 'alice', 6)] }],
  ['list', 'getMessageReadReceiptList', (r) => ({ messageIDs: ['g1', 'g2', 'g1', r.create.ID, 'later'] })],
  ['listMixed', 'getMessageReadReceiptList', { messageIDs: ['g1', 'c1'] }],
  ['listMissing', 'getMessageReadReceiptList', { messageIDs: ['nope'] }],
  ['read1', 'getGroupMessageReadMemberList', { messageID: 'g1', filter: 0, cursor: '', count: 1 }],
  ['read2', 'getGroupMessageReadMemberList', (r) => ({ messageID: 'g1', filter: 0, cursor: r.read1.cursor, count: 1 })],
  ['unread', 'getGroupMessageReadMemberList', { messageID: 'g1', filter: 1, cursor: '', count: 100 }],
  ['unreadNullCursor', 'getGroupMessageReadMemberList', { messageID: 'g1', filter: 1, cursor: null, count: 100 }],
  ['wrongCursor', 'getGroupMessageReadMemberList', (r) => ({ messageID: 'g2', filter: 0, cursor: r.read1.cursor, count: 1 })],
  ['badFilter', 'getGroupMessageReadMemberList', { messageID: 'g1', filter: 2, cursor: '', count: 1 }],
  ['noInfo', 'getGroupMessageReadMemberList', { messageID: 'g4', filter: 0, cursor: '', count: 1 }],
  ['c2cList', 'getGroupMessageReadMemberList', { messageID: 'c1', filter: 0, cursor: '', count: 1 }],
  ['send', 'sendMessageReadReceipt', { messageIDs: ['g3', 'g1', 'g4'] }],
  ['sendAgain', 'sendMessageReadReceipt', { messageIDs: ['g3'] }],
  ['sendC2C', 'sendMessageReadReceipt', { messageIDs: ['c2'] }],
  ['sendMixed', 'sendMessageReadReceipt', { messageIDs: ['c2', 'g3'] }],
  ['sendEmpty', 'sendMessageReadReceipt', { messageIDs: [] }],
  ['pending', 'getPendingReceipts', undefined],
  ['ack', 'ackReceipts', (r) => ({ batchID: r.pending.batches[0].batchID })],
  ['ackAgain', 'ackReceipts', (r) => ({ batchID: r.pending.batches[0].batchID })],
  ['ackReject', 'ackReceipts', (r) => ({ batchID: r.pending.batches[1].batchID, rejected: [{ messageID: 'c2', code: 10062 }] })],
  ['pending2', 'getPendingReceipts', { limit: 5 }],
  ['pendingBad', 'getPendingReceipts', { limit: 0 }],
  ['snapshot', 'applySnapshot', { conversationID: 'C2Cbob', receipts: [{ messageID: 'c3', isPeerRead: true }], readSequence: 2, peerReadSequence: 1, selfRead: ['c2'] }],
  ['snapshotStale', 'applySnapshot', { conversationID: 'C2Cbob', receipts: [{ messageID: 'c3', isPeerRead: false }] }],
  ['conv', 'getConversation', { conversationID: 'C2Cbob' }],
  ['convTeam', 'getConversation', { conversationID: 'GROUPteam' }],
  ['page1', 'getMessageList', { conversationID: 'GROUPteam', count: 2 }],
  ['page2', 'getMessageList', (r) => ({ conversationID: 'GROUPteam', nextReqMessageID: r.page1.nextReqMessageID, count: 100 })],
  ['pageBad', 'getMessageList', { conversationID: 'GROUPteam', count: 101 }],
  ['setRead', 'setMessageRead', { conversationID: 'GROUPteam' }],
  ['find', 'findMessage', { messageID: 'g1' }],
  ['findNone', 'findMessage', { messageID: 'nope' }],
  ['leave', 'removeGroupMembers', { groupID: 'team', userIDs: ['dave', 'erin'] }],
  ['join', 'addGroupMembers', { groupID: 'team', members: [{ userID: 'frank', joinTime: 1 }] }],
  ['afterLeave', 'getMessageReadReceiptList', (r) => ({ messageIDs: ['g1', 'g2', r.create.ID] })],
  ['convList', 'getConversationList', { cursor: '', count: 10 }],
  ['allRead', 'setAllMessageRead', undefined],
  ['total', 'getTotalUnreadMessageCount', undefined],
  ['ackReports', 'ackReadReports', { reports: [{ conversationID: 'GROUPteam', readSequence: 6 }] }],
  ['readReports', 'applyReadReports', { reports: [{ conversationID: 'C2Cbob', peerReadSequence: 3 }] }],
  ['unknown', 'noSuchMethod', {}],
  ['notObject', 'findMessage', 7],
  ['unsubscribe', 'unsubscribe', undefined],
  ['cfgOff', 'setReceiptConfig', { enabled: false }],
  ['createOff', 'createMessage', { to: 'bob', conversationType: 'C2C', payload: {}, needReadReceipt: true }],
  ['cfgEnd', 'getReceiptConfig', {}],
];

/**
 * Runs SCRIPT through `call` (sync or async) with `events` collecting the
 * notifications; returns the transcript: per step the result or the error
 * ({code, codeName, message}) and the events the step caused.
 */
async function runScript(call, events) {
  const results = {};
  const transcript = [];
  for (const [label, method, p] of SCRIPT) {
    const params = typeof p === 'function' ? p(results) : p;
    events.length = 0;
    let entry;
    try {
      const result = await call(method, params);
      results[label] = result;
      entry = { label, result };
    } catch (e) {
      assert.ok(e instanceof Error, `${label}: thrown value is an Error`);
      entry = { label, error: { code: e.code, codeName: e.codeName, message: e.message } };
    }
    entry.events = events.splice(0);
    transcript.push(entry);
  }
  return normalise(transcript, results);
}

function normalise(transcript, results) {
  const created = results.create;
  assert.ok(created && typeof created.ID === 'string', 'createMessage succeeded');
  assert.ok(Math.abs(created.time - Date.now() / 1000) < 600, 'createMessage stamps the current time');
  let text = JSON.stringify(transcript).split(JSON.stringify(created.ID)).join('"<created>"');
  const parsed = JSON.parse(text);
  parsed.find((e) => e.label === 'create').result.time = '<now>';
  text = JSON.stringify(parsed);
  assert.ok(!text.includes(created.ID.slice(0, 8)) || created.ID.length < 8, 'no other occurrence of the created ID');
  return parsed;
}

function addonRunner(file) {
  const s = new ReceiptStore(file, 'alice');
  const events = [];
  for (const name of EVENTS) s.on(name, (params) => events.push({ method: name, params }));
  return { run: () => runScript((m, p) => s.call(m, p), events), close: () => s.close() };
}

async function rawRunner(file) {
  const rpc = rawRpc(file, 'alice');
  const events = [];
  let id = 0;
  const call = async (method, params) => {
    id += 1;
    const req = { jsonrpc: '2.0', id, method };
    if (params !== undefined) req.params = params;
    const lines = await rpc.send(JSON.stringify(req));
    const response = JSON.parse(lines.pop());
    for (const l of lines) { const ev = JSON.parse(l); events.push({ method: ev.method, params: ev.params }); }
    assert.equal(response.id, id);
    if (response.error) {
      const e = new Error(response.error.message);
      e.code = response.error.code;
      e.codeName = response.error.data && response.error.data.name;
      throw e;
    }
    return response.result;
  };
  return { run: () => runScript(call, events), close: () => rpc.close() };
}

async function clientRunner(file) {
  const s = await RpcReceiptStore.open(file, 'alice');
  const events = [];
  for (const name of EVENTS) s.on(name, (params) => events.push({ method: name, params }));
  return { run: () => runScript((m, p) => s.call(m, p), events), close: () => s.close() };
}

test('the addon gives exactly the results, errors and events of receiptdb rpc', async () => {
  const addon = addonRunner(tmpStore());
  const a = await addon.run();
  addon.close();
  const raw = await rawRunner(tmpStore());
  const b = await raw.run();
  assert.equal(await raw.close(), 0);
  assert.deepEqual(a, b);
  // The script exercised what it claims to: successes, errors and events.
  assert.ok(a.filter((e) => e.error).length >= 10);
  assert.ok(a.filter((e) => e.events.length > 0).length >= 5);
  assert.ok(a.some((e) => e.events.some((ev) => ev.method === 'MESSAGE_READ_RECEIPT_RECEIVED')));
});

test('rpc-client.js gives the same answers as the addon', async () => {
  const addon = addonRunner(tmpStore());
  const a = await addon.run();
  addon.close();
  const client = await clientRunner(tmpStore());
  const c = await client.run();
  await client.close();
  assert.deepEqual(c, a);
});

test('rpc-client: OWNER_MISMATCH on open, calls after close, events before the result', async () => {
  const file = tmpStore();
  const s = await RpcReceiptStore.open(file, 'alice');
  await assert.rejects(RpcReceiptStore.open(file, 'bob'), (e) => {
    assert.ok(e instanceof Error);
    assert.equal(e.code, 2005);
    assert.equal(e.codeName, 'OWNER_MISMATCH');
    return true;
  });
  await s.setGroup({ groupID: 'team', groupType: 'Work', members: [{ userID: 'alice' }, { userID: 'bob' }] });
  await s.saveMessages({ messages: [G('g1', 'alice', 1)] });
  const seen = [];
  s.on('MESSAGE_READ_RECEIPT_RECEIVED', (p) => seen.push(p.data[0].readCount));
  const r = await s.applyReceiptNotifications({ notifications: [{ messageID: 'g1', readerIDs: ['bob'] }] });
  assert.deepEqual(seen, [1], 'the listener ran before the promise resolved');
  assert.deepEqual(r, { changed: ['g1'] });
  await assert.rejects(s.getGroupMessageReadMemberList({ messageID: 'g9', filter: 0, cursor: '', count: 1 }),
    { code: 2001, codeName: 'MESSAGE_NOT_FOUND' });
  await s.close();
  await s.close();
  await assert.rejects(s.getReceiptConfig(), { code: -32000, codeName: 'STORE_CLOSED' });
});
