'use strict';
// rpc-client.js beyond what the corpus checks through it
// (test/conformance.test.js): open errors, events before the promise
// resolves, calls after close.

const test = require('node:test');
const assert = require('node:assert/strict');
const { RpcReceiptStore } = require('../rpc-client');
const { tmpStore } = require('../test-support/helpers');

const G = (ID, from, sequence, extra = {}) => ({
  ID, conversationType: 'GROUP', from, to: 'team', time: 100 + sequence, sequence, needReadReceipt: true, status: 'success', ...extra,
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
