'use strict';
// The reference-SDK facade end to end: C2C and group receipt flows between
// users' stores over a toy server, written the way an app uses that SDK.

const test = require('node:test');
const assert = require('node:assert/strict');
const TencentCloudChat = require('../tencent');
const { tmpDir, tmpStore } = require('../test-support/helpers');

/** A toy chat server: assigns sequences and times, and pushes to the other users' clients. */
class ToyServer {
  constructor() {
    this.clients = new Map();
    this.sent = new Map();
    this.seq = new Map();
    this.clock = 1700000000;
    this.online = true;
    this.groups = new Map();
  }

  addGroup(groupID, userIDs) { this.groups.set(groupID, userIDs); }

  connect(userID) {
    return {
      sendMessage: async (message) => this._message(userID, message),
      sendReceipts: async (batch) => this._receipts(userID, batch),
    };
  }

  _check() {
    if (!this.online) { const e = new Error('network unreachable'); e.code = 2800; throw e; }
  }

  _message(from, m) {
    this._check();
    const key = m.conversationType === 'C2C' ? [from, m.to].sort().join('|') : m.to;
    const sequence = (this.seq.get(key) || 0) + 1;
    this.seq.set(key, sequence);
    const time = ++this.clock;
    const wire = { ID: m.ID, conversationType: m.conversationType, from, to: m.to, time, sequence,
      status: 'success', needReadReceipt: m.needReadReceipt, payload: m.payload };
    this.sent.set(m.ID, wire);
    const to = m.conversationType === 'C2C' ? [m.to] : this.groups.get(m.to).filter((u) => u !== from);
    for (const u of to) this.clients.get(u).receiveMessages([wire]);
    return { sequence, time };
  }

  _receipts(reader, { messageIDs }) {
    this._check();
    for (const id of messageIDs) {
      const m = this.sent.get(id);
      const note = m.conversationType === 'C2C'
        ? { messageID: id, conversationID: `C2C${reader}`, userID: reader }
        : { messageID: id, groupID: m.to, userID: reader };
      this.clients.get(m.from).receiveReadReceipts([note]);
    }
    return {};
  }
}

function login(server, dir, userID) {
  const chat = TencentCloudChat.create({ path: tmpStore(dir), userID, transport: server.connect(userID) });
  server.clients.set(userID, chat);
  return chat;
}

test('C2C: alice asks for a receipt, bob reads, alice sees isPeerRead', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const alice = login(server, dir, 'alice');
  const bob = login(server, dir, 'bob');

  const received = [];
  const onMessageReadReceiptReceived = (event) => {
    event.data.forEach((item) => {
      const { userID, messageID, isPeerRead } = item;
      const message = alice.findMessage(messageID);
      if (message && message.conversationType === TencentCloudChat.TYPES.CONV_C2C) {
        received.push({ userID, messageID, isPeerRead, stored: message.readReceiptInfo.isPeerRead, name: event.name });
      }
    });
  };
  alice.on(TencentCloudChat.EVENT.MESSAGE_READ_RECEIPT_RECEIVED, onMessageReadReceiptReceived);

  const message = alice.createTextMessage({
    to: 'bob', conversationType: TencentCloudChat.TYPES.CONV_C2C, payload: { text: 'lunch at noon?' }, needReadReceipt: true,
  });
  assert.equal(message.status, 'unSend');
  const sent = await alice.sendMessage(message);
  assert.equal(sent.data.message.status, 'success');

  // Bob opens the conversation and sends receipts for what he sees.
  const { data } = await bob.getMessageList({ conversationID: 'C2Calice' });
  assert.equal(data.messageList.length, 1);
  assert.equal(data.messageList[0].payload.text, 'lunch at noon?');
  assert.equal(data.messageList[0].needReadReceipt, true);
  const r = await bob.sendMessageReadReceipt(data.messageList);
  assert.deepEqual(r.data.queued, [message.ID]);

  assert.deepEqual(received, [{ userID: 'bob', messageID: message.ID, isPeerRead: true, stored: true, name: 'onMessageReadReceiptReceived' }]);
  const list = await alice.getMessageReadReceiptList([message]);
  assert.equal(list.data.messageList[0].readReceiptInfo.isPeerRead, true);
  // Receipts never touch the read report flag.
  assert.equal(list.data.messageList[0].isPeerRead, false);
  // Bob's receipt was acked by the server.
  assert.equal(bob.findMessage(message.ID).receiptSentState, 'acked');

  // C2C messages have no member list: 10062, as the SDK rejects.
  await assert.rejects(alice.getGroupMessageReadMemberList({ message, filter: 0, cursor: '', count: 30 }),
    (e) => e.code === 10062 && typeof e.message === 'string');

  alice.off(TencentCloudChat.EVENT.MESSAGE_READ_RECEIPT_RECEIVED, onMessageReadReceiptReceived);
  await alice.destroy();
  await bob.destroy();
});

test('group: read and unread members, counts, offline receipts flushed later', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const users = ['alice', 'bob', 'carol'];
  server.addGroup('team', users);
  const chats = Object.fromEntries(users.map((u) => [u, login(server, dir, u)]));
  // The app's group sync tells each store the members.
  for (const u of users) {
    chats[u].store.setGroup({ groupID: 'team', groupType: 'Work', members: users.map((userID) => ({ userID })) });
  }
  const { alice, bob, carol } = chats;

  const labels = [];
  alice.on(TencentCloudChat.EVENT.MESSAGE_READ_RECEIPT_RECEIVED, (event) => {
    for (const { groupID, messageID, readCount, unreadCount } of event.data) {
      const message = alice.findMessage(messageID);
      assert.equal(message.conversationType, TencentCloudChat.TYPES.CONV_GROUP);
      labels.push(unreadCount === 0 ? `${groupID}: all read` : `${groupID}: ${readCount} read`);
    }
  });

  const message = alice.createTextMessage({
    to: 'team', conversationType: TencentCloudChat.TYPES.CONV_GROUP, payload: { text: 'release at 5' }, needReadReceipt: true,
  });
  await alice.sendMessage(message);
  // The server's time fixes the audience: the unread count becomes known.
  assert.deepEqual(labels, ['team: 0 read']);
  labels.length = 0;

  // Bob reads while online.
  const bobList = (await bob.getMessageList({ conversationID: 'GROUPteam' })).data.messageList;
  await bob.sendMessageReadReceipt(bobList);
  assert.deepEqual(labels, ['team: 1 read']);

  let page = await alice.getGroupMessageReadMemberList({ message, filter: 0, cursor: '', count: 30 });
  assert.deepEqual(page.data.readUserIDList, ['bob']);
  assert.equal(page.data.isCompleted, true);
  page = await alice.getGroupMessageReadMemberList({ message, filter: 1, cursor: '', count: 30 });
  assert.deepEqual(page.data.unreadUserIDList, ['carol']);

  // Carol reads while the network is down: the receipt waits in her outbox.
  server.online = false;
  const carolList = (await carol.getMessageList({ conversationID: 'GROUPteam' })).data.messageList;
  const queued = await carol.sendMessageReadReceipt(carolList);
  assert.deepEqual(queued.data.queued, [message.ID]);
  assert.equal(carol.findMessage(message.ID).receiptSentState, 'pending');
  assert.deepEqual(labels, ['team: 1 read']);
  // A failed send rejects in the SDK's shape and leaves the message unsent.
  const draft = alice.createTextMessage({ to: 'team', conversationType: 'GROUP', payload: { text: 'later' } });
  await assert.rejects(alice.sendMessage(draft), (e) => e.code === 2800 && e.message === 'network unreachable');

  server.online = true;
  assert.equal(await carol.flushReceipts(), 1);
  assert.equal(carol.findMessage(message.ID).receiptSentState, 'acked');
  assert.deepEqual(labels, ['team: 1 read', 'team: all read']);

  const info = (await alice.getMessageReadReceiptList([message])).data.messageList[0].readReceiptInfo;
  assert.deepEqual({ readCount: info.readCount, unreadCount: info.unreadCount }, { readCount: 2, unreadCount: 0 });
  page = await alice.getGroupMessageReadMemberList({ message, filter: 1, cursor: '', count: 30 });
  assert.deepEqual(page.data.unreadUserIDList, []);

  // Bad input rejects with {code, message}, as the SDK does.
  await assert.rejects(alice.getGroupMessageReadMemberList({ message, filter: 0, cursor: '', count: 1000 }),
    (e) => e.code === -32602 && /count/.test(e.message));
  await assert.rejects(alice.sendMessageReadReceipt('not a list'), (e) => e.code === -32602);
  for (const u of users) await chats[u].destroy();
});
