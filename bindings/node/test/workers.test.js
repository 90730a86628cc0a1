'use strict';
// Each worker thread opens its own store; two stores on one file work as two
// processes do: nothing either writes is lost.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { Worker } = require('worker_threads');
const { ReceiptStore } = require('..');
const { tmpStore } = require('../test-support/helpers');

const N = 150;

const WORKER = `
  const { workerData, parentPort } = require('worker_threads');
  const { ReceiptStore } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
  const { file, k, n } = workerData;
  const s = new ReceiptStore(file, 'alice');
  let events = 0;
  s.on('MESSAGE_READ_RECEIPT_RECEIVED', () => { events += 1; });
  for (let i = 0; i < n; i++) {
    // A message of its own, and one more reader on the message both share.
    s.saveMessages({ messages: [{ ID: 'w' + k + '-' + i, conversationType: 'GROUP', from: 'alice', to: 'team',
      time: 1000 + i, sequence: 1000 * (k + 1) + i, needReadReceipt: true, status: 'success' }] });
    s.applyReceiptNotifications({ notifications: [{ messageID: 'shared', groupID: 'team', readerIDs: ['u' + k + '-' + i] }] });
  }
  s.close();
  parentPort.postMessage({ events });
`;

function runWorker(file, k) {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { file, k, n: N } });
    let out = null;
    w.on('message', (m) => { out = m; });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && out ? resolve(out) : reject(new Error(`worker ${k} exited ${code}`))));
  });
}

test('two worker threads writing one file lose nothing', async () => {
  const file = tmpStore();
  const members = [{ userID: 'alice' }];
  for (const k of [0, 1]) for (let i = 0; i < N; i++) members.push({ userID: `u${k}-${i}` });
  const s = new ReceiptStore(file, 'alice');
  s.setGroup({ groupID: 'team', groupType: 'Work', members });
  s.saveMessages({ messages: [{ ID: 'shared', conversationType: 'GROUP', from: 'alice', to: 'team', time: 1, sequence: 1, needReadReceipt: true, status: 'success' }] });

  const [a, b] = await Promise.all([runWorker(file, 0), runWorker(file, 1)]);
  // Each store reports the changes its own calls made.
  assert.equal(a.events, N);
  assert.equal(b.events, N);

  let ids = [];
  let next = null;
  for (;;) {
    const page = s.getMessageList({ conversationID: 'GROUPteam', nextReqMessageID: next, count: 100 });
    ids = ids.concat(page.messageList.map((m) => m.ID));
    if (page.isCompleted) break;
    next = page.nextReqMessageID;
  }
  assert.equal(ids.length, 2 * N + 1);
  assert.equal(new Set(ids).size, 2 * N + 1);
  const [shared] = s.getMessageReadReceiptList({ messageIDs: ['shared'] }).messageList;
  assert.equal(shared.readReceiptInfo.readCount, 2 * N);
  assert.equal(shared.readReceiptInfo.unreadCount, 0);
  let readers = [];
  let cursor = '';
  for (;;) {
    const page = s.getGroupMessageReadMemberList({ messageID: 'shared', filter: 0, cursor, count: 100 });
    readers = readers.concat(page.readUserIDList);
    if (page.isCompleted) break;
    cursor = page.cursor;
  }
  assert.equal(new Set(readers).size, 2 * N);
  s.close();
});
