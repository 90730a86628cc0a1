'use strict';
// The reference-SDK facade end to end: C2C and group receipt flows between
// users' stores over a toy server, written the way an app uses that SDK.

const test = require('node:test');
const assert = require('node:assert/strict');
const TencentCloudChat = require('../tencent');
const { ReceiptStore } = require('../index');
const { tmpDir, tmpStore } = require('../test-support/helpers');

// The toy server the shared SDK samples use (test-support/tencent_samples.mjs).
let ToyServer;
test.before(async () => {
  ({ ToyServer } = await import('../test-support/tencent_samples.mjs'));
});

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
  // A failed send rejects in the SDK's shape and marks the message failed.
  const draft = alice.createTextMessage({ to: 'team', conversationType: 'GROUP', payload: { text: 'later' } });
  await assert.rejects(alice.sendMessage(draft), (e) => e.code === 2800 && e.message === 'network unreachable');
  assert.equal(draft.status, 'fail');

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

/** Lets the facade's microtasks (CONVERSATION_LIST_UPDATED) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('messages carry the SDK type; the payload is what the app gave, whatever it holds', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const alice = login(server, dir, 'alice');
  const bob = login(server, dir, 'bob');
  const { MSG_TEXT, MSG_CUSTOM, CONV_C2C } = TencentCloudChat.TYPES;

  const message = alice.createTextMessage({ to: 'bob', conversationType: CONV_C2C, payload: { text: 'hi' }, needReadReceipt: true });
  assert.equal(message.type, MSG_TEXT);
  assert.deepEqual(message.payload, { text: 'hi' });
  const sent = (await alice.sendMessage(message)).data.message;
  assert.deepEqual([sent.type, sent.payload], [MSG_TEXT, { text: 'hi' }]);
  assert.deepEqual([alice.findMessage(message.ID).type, alice.findMessage(message.ID).payload], [MSG_TEXT, { text: 'hi' }]);
  const page = await bob.getMessageList({ conversationID: 'C2Calice' });
  const [got] = page.data.messageList;
  assert.deepEqual([got.type, got.payload], [MSG_TEXT, { text: 'hi' }]);
  const receipt = await bob.sendMessageReadReceipt([got]);
  const infos = await alice.getMessageReadReceiptList([message]);
  const [info] = infos.data.messageList;
  assert.deepEqual([info.type, info.payload, info.readReceiptInfo.isPeerRead], [MSG_TEXT, { text: 'hi' }, true]);
  // Every promise resolves {code: 0, data}, as the SDK's do.
  assert.deepEqual([page.code, receipt.code, infos.code], [0, 0, 0]);

  // A payload with its own `type` member comes back unchanged, beside the message's type.
  bob.receiveMessages([{ ID: 'order-1', from: 'alice', to: 'bob', conversationType: 'C2C', time: 1700000100, sequence: 9,
    type: MSG_CUSTOM, payload: { type: 'order', data: '42' } }]);
  const custom = bob.findMessage('order-1');
  assert.deepEqual([custom.type, custom.payload], [MSG_CUSTOM, { type: 'order', data: '42' }]);

  // What the earlier facade wrote (the type inside the payload) reads back the same way.
  const old = alice.store.createMessage({ to: 'bob', conversationType: 'C2C', payload: { type: MSG_TEXT, text: 'old' } });
  assert.deepEqual([alice.findMessage(old.ID).type, alice.findMessage(old.ID).payload], [MSG_TEXT, { text: 'old' }]);
  // A message that reached the store without a type says so with ''.
  alice.store.saveMessages({ messages: [{ ID: 'raw-1', from: 'bob', to: 'alice', conversationType: 'C2C', time: 1700000200, sequence: 10, payload: { text: 'raw' } }] });
  assert.deepEqual([alice.findMessage('raw-1').type, alice.findMessage('raw-1').payload], ['', { text: 'raw' }]);
  await alice.destroy();
  await bob.destroy();
});

test('a failed send reads "fail", in place and in the store; sending it again succeeds', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const alice = login(server, dir, 'alice');
  login(server, dir, 'bob');

  server.online = false;
  const message = alice.createTextMessage({ to: 'bob', conversationType: 'C2C', payload: { text: 'are you there?' } });
  await assert.rejects(alice.sendMessage(message), (e) => e.code === 2800);
  assert.equal(message.status, 'fail');
  assert.equal(alice.findMessage(message.ID).status, 'fail');
  const list = (await alice.getMessageList({ conversationID: 'C2Cbob' })).data.messageList;
  assert.deepEqual(list.map((m) => m.status), ['fail']);

  server.online = true;
  const sent = await alice.sendMessage(message);
  assert.deepEqual([sent.code, sent.data.message.status, message.status], [0, 'success', 'success']);
  assert.equal(alice.findMessage(message.ID).status, 'success');

  // Without a transport nothing can be sent: the message fails too.
  const offline = TencentCloudChat.create({ store: alice.store, userID: 'alice' });
  const draft = offline.createTextMessage({ to: 'bob', conversationType: 'C2C', payload: { text: 'later' } });
  await assert.rejects(offline.sendMessage(draft), (e) => e.code === -1 && /no transport/.test(e.message));
  assert.equal(offline.findMessage(draft.ID).status, 'fail');
  // Not a message: rejected before the transport is asked.
  await assert.rejects(alice.sendMessage(null), (e) => e.code === -32602);
  await alice.destroy();
});

test('EVENT and TYPES hold the SDK names; every EVENT name can be registered, others throw', async () => {
  const { TYPES, EVENT } = TencentCloudChat;
  assert.deepEqual(
    [TYPES.MSG_TEXT, TYPES.MSG_CUSTOM, TYPES.MSG_IMAGE, TYPES.CONV_C2C, TYPES.CONV_GROUP, TYPES.CONV_SYSTEM],
    ['TIMTextElem', 'TIMCustomElem', 'TIMImageElem', 'C2C', 'GROUP', '@TIM#SYSTEM']);
  assert.deepEqual(
    [TYPES.GRP_WORK, TYPES.GRP_PUBLIC, TYPES.GRP_MEETING, TYPES.GRP_AVCHATROOM, TYPES.GRP_COMMUNITY],
    ['Private', 'Public', 'ChatRoom', 'AVChatRoom', 'Community']);
  assert.deepEqual([TYPES.READ_ALL_C2C_MSG, TYPES.READ_ALL_GROUP_MSG, TYPES.READ_ALL_MSG],
    ['readAllC2CMessage', 'readAllGroupMessage', 'readAllMessage']);
  assert.deepEqual(
    [EVENT.MESSAGE_RECEIVED, EVENT.MESSAGE_READ_BY_PEER, EVENT.MESSAGE_READ_RECEIPT_RECEIVED,
      EVENT.CONVERSATION_LIST_UPDATED, EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, EVENT.SDK_READY],
    ['onMessageReceived', 'onMessageReadByPeer', 'onMessageReadReceiptReceived',
      'onConversationListUpdated', 'onTotalUnreadMessageCountUpdated', 'sdkStateReady']);
  assert.ok(Object.isFrozen(TYPES) && Object.isFrozen(EVENT));

  const server = new ToyServer();
  const dir = tmpDir();
  const alice = login(server, dir, 'alice');
  const bob = login(server, dir, 'bob');
  const never = [];
  const silent = [EVENT.SDK_READY, EVENT.KICKED_OUT, EVENT.MESSAGE_REVOKED, EVENT.NET_STATE_CHANGE, EVENT.GROUP_LIST_UPDATED];
  for (const chat of [alice, bob]) {
    for (const name of Object.values(EVENT)) chat.on(name, () => {});
    for (const name of silent) chat.on(name, (event) => never.push(event));
  }
  // A whole exchange: the events the store has no source for never fire.
  const message = alice.createTextMessage({ to: 'bob', conversationType: 'C2C', payload: { text: 'x' }, needReadReceipt: true });
  await alice.sendMessage(message);
  await bob.sendMessageReadReceipt([message]);
  await bob.setMessageRead({ conversationID: 'C2Calice' });
  await settle();
  assert.deepEqual(never, []);

  assert.throws(() => alice.on('onNoSuchEvent', () => {}), (e) => e instanceof TypeError && /unknown event onNoSuchEvent/.test(e.message));
  assert.throws(() => alice.on('MESSAGE_RECEIVED', () => {}), TypeError); // the key, not the value
  assert.throws(() => alice.on(EVENT.MESSAGE_RECEIVED, 'not a function'), TypeError);
  alice.off(EVENT.SDK_READY, () => {}); // never registered: nothing happens
  await alice.destroy();
  await bob.destroy();
});

test('MESSAGE_RECEIVED, TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, CONVERSATION_LIST_UPDATED and MESSAGE_READ_BY_PEER fire', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const alice = login(server, dir, 'alice');
  const bob = login(server, dir, 'bob');
  const { EVENT, TYPES } = TencentCloudChat;

  const received = [];
  const totals = [];
  const lists = [];
  const readByPeer = [];
  const context = { who: 'bob' };
  bob.on(EVENT.MESSAGE_RECEIVED, function onReceived(event) {
    assert.equal(this, context);
    received.push(...event.data.map((m) => [event.name, m.ID, m.type, m.payload.text, m.flow]));
  }, context);
  bob.on(EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, (event) => totals.push(event.data));
  bob.on(EVENT.CONVERSATION_LIST_UPDATED, (event) => lists.push(event.data));
  alice.on(EVENT.MESSAGE_READ_BY_PEER, (event) => readByPeer.push(...event.data.map((m) => [m.ID, m.isPeerRead, m.type])));

  const m1 = alice.createTextMessage({ to: 'bob', conversationType: 'C2C', payload: { text: 'one' } });
  const m2 = alice.createTextMessage({ to: 'bob', conversationType: 'C2C', payload: { text: 'two' } });
  await alice.sendMessage(m1);
  await alice.sendMessage(m2);
  assert.deepEqual(received, [
    ['onMessageReceived', m1.ID, TYPES.MSG_TEXT, 'one', 'in'], ['onMessageReceived', m2.ID, TYPES.MSG_TEXT, 'two', 'in']]);
  // A message delivered again is not received again.
  bob.receiveMessages([server.sent.get(m1.ID)]);
  assert.equal(received.length, 2);
  assert.deepEqual(totals, [1, 2]);

  await settle();
  assert.ok(lists.length >= 1);
  const [conversation] = lists[lists.length - 1];
  assert.deepEqual(
    [conversation.conversationID, conversation.type, conversation.unreadCount, conversation.lastMessage.fromAccount,
      conversation.lastMessage.messageForShow, conversation.lastMessage.type, conversation.lastMessage.lastSequence],
    ['C2Calice', 'C2C', 2, 'alice', 'two', TYPES.MSG_TEXT, 2]);

  // Bob reads the conversation: his unread total drops, the read report reaches alice as MESSAGE_READ_BY_PEER.
  const read = await bob.setMessageRead({ conversationID: 'C2Calice' });
  assert.equal(read.code, 0);
  assert.deepEqual(totals, [1, 2, 0]);
  assert.deepEqual(server.readReports.map(({ readTime, ...r }) => r),
    [{ reader: 'bob', conversationID: 'C2Calice', readSequence: 2 }]);
  assert.deepEqual(readByPeer, [[m1.ID, true, TYPES.MSG_TEXT], [m2.ID, true, TYPES.MSG_TEXT]]);
  assert.equal(alice.findMessage(m2.ID).isPeerRead, true);
  await settle();
  assert.equal(lists[lists.length - 1][0].unreadCount, 0);

  // off removes a handler; the others stay.
  const late = [];
  const onLate = (event) => late.push(event.data.length);
  bob.on(EVENT.MESSAGE_RECEIVED, onLate);
  bob.off(EVENT.MESSAGE_RECEIVED, onLate);
  await alice.sendMessage(alice.createTextMessage({ to: 'bob', conversationType: 'C2C', payload: { text: 'three' } }));
  assert.deepEqual([late, received.length], [[], 3]);
  await alice.destroy();
  await bob.destroy();
});

test('setMessageRead, setAllMessageRead, getConversationList, getConversationProfile, getTotalUnreadMessageCount', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const users = ['alice', 'bob', 'carol'];
  server.addGroup('team', users);
  const chats = Object.fromEntries(users.map((u) => [u, login(server, dir, u)]));
  const { alice, bob, carol } = chats;
  const { TYPES } = TencentCloudChat;
  const say = (chat, to, conversationType, text) => chat.sendMessage(chat.createTextMessage({ to, conversationType, payload: { text } }));
  await say(alice, 'carol', 'C2C', 'a1');
  await say(alice, 'carol', 'C2C', 'a2');
  await say(alice, 'team', 'GROUP', 'g1');
  await say(bob, 'team', 'GROUP', 'g2');
  await say(bob, 'carol', 'C2C', 'b1');

  assert.equal(carol.getTotalUnreadMessageCount(), 5); // a number, synchronously, as in the SDK

  const all = await carol.getConversationList();
  assert.equal(all.code, 0);
  assert.equal(all.data.isSyncCompleted, true);
  assert.deepEqual(all.data.conversationList.map((c) => [c.conversationID, c.unreadCount, c.lastMessage.messageForShow]),
    [['C2Cbob', 1, 'b1'], ['GROUPteam', 2, 'g2'], ['C2Calice', 2, 'a2']]);
  const some = await carol.getConversationList(['C2Calice', 'C2Cnobody', 'C2Calice']);
  assert.deepEqual(some.data.conversationList.map((c) => c.conversationID), ['C2Calice']);
  const groups = await carol.getConversationList({ type: TYPES.CONV_GROUP });
  assert.deepEqual(groups.data.conversationList.map((c) => c.conversationID), ['GROUPteam']);
  assert.deepEqual((await carol.getConversationList({ markType: 1 })).data.conversationList, []);
  await assert.rejects(carol.getConversationList([]), (e) => e.code === -32602);
  await assert.rejects(carol.getConversationList(['not a conversation']), (e) => e.code === -32602);

  const profile = await carol.getConversationProfile('C2Calice');
  assert.equal(profile.code, 0);
  const { conversation } = profile.data;
  assert.deepEqual([conversation.type, conversation.unreadCount, conversation.lastMessage.type, conversation.lastMessage.payload],
    ['C2C', 2, TYPES.MSG_TEXT, { text: 'a2' }]);

  const read = await carol.setMessageRead({ conversationID: 'C2Cbob' });
  assert.equal(read.code, 0);
  assert.equal(carol.getTotalUnreadMessageCount(), 4);
  const groupsRead = await carol.setAllMessageRead({ scope: TYPES.READ_ALL_GROUP_MSG });
  assert.deepEqual(groupsRead, { code: 0, data: { conversations: 1 } });
  assert.equal((await carol.getConversationProfile('GROUPteam')).data.conversation.unreadCount, 0);
  assert.equal(carol.getTotalUnreadMessageCount(), 2);
  await assert.rejects(carol.setAllMessageRead({ scope: 'readSomeMessages' }), (e) => e.code === -32602 && /scope/.test(e.message));
  assert.deepEqual(await carol.setAllMessageRead(), { code: 0, data: { conversations: 1 } });
  assert.equal(carol.getTotalUnreadMessageCount(), 0);
  assert.deepEqual((await carol.setAllMessageRead({ scope: TYPES.READ_ALL_C2C_MSG })).data, { conversations: 0 });

  // The read positions went to the server and were acked.
  assert.deepEqual(server.readReports.map((r) => r.conversationID).sort(), ['C2Calice', 'C2Cbob', 'GROUPteam']);
  assert.deepEqual(carol.store.getPendingReceipts().readReports, []);

  await assert.rejects(carol.setMessageRead(), (e) => e.code === -32602);
  await assert.rejects(carol.setMessageRead({ conversationID: 'nowhere' }), (e) => e.code === -32602);
  for (const u of users) await chats[u].destroy();
});

test('tencent.d.ts declares every export of tencent.js and is in the package', () => {
  const fs = require('fs');
  const path = require('path');
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  assert.ok(pkg.files.includes('tencent.js') && pkg.files.includes('tencent.d.ts'));
  const dts = fs.readFileSync(path.join(__dirname, '..', 'tencent.d.ts'), 'utf8');
  for (const name of Object.keys(TencentCloudChat)) {
    assert.match(dts, new RegExp(`export declare (const|function|class) ${name}\\b`), name);
  }
  for (const table of ['TYPES', 'EVENT']) {
    for (const [key, value] of Object.entries(TencentCloudChat[table])) {
      assert.ok(dts.includes(`readonly ${key}: '${value}';`), `${table}.${key}`);
    }
  }
  // Chat's own and those it inherits from the shared facade (lib/tencent.js).
  const methods = new Set();
  for (let proto = TencentCloudChat.Chat.prototype; proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const n of Object.getOwnPropertyNames(proto)) if (n !== 'constructor' && !n.startsWith('_')) methods.add(n);
  }
  assert.ok(methods.has('sendMessageReadReceipt') && methods.size > 15, [...methods].join(' '));
  for (const name of methods) assert.match(dts, new RegExp(`^  ${name}[(<]`, 'm'), `Chat.${name}`);
});

/**
 * A store that answers later, as the browser's does (its worker): every
 * method resolves on a later tick, its events before it resolves.
 */
function answersLater(store) {
  return new Proxy(store, {
    get(target, name) {
      const v = target[name];
      if (typeof v !== 'function' || name === 'on' || name === 'off') return typeof v === 'function' ? v.bind(target) : v;
      return (...args) => new Promise((resolve) => setImmediate(resolve)).then(() => v.apply(target, args));
    },
  });
}

test('the reference SDK samples run through the facade, over the addon and over a store that answers later', async () => {
  const { runSamples } = await import('../test-support/tencent_samples.mjs');
  const dir = tmpDir();
  const now = await runSamples({
    TencentCloudChat,
    login: async (userID, transport) => TencentCloudChat.create({ path: tmpStore(dir), userID, transport }),
  });
  const later = await runSamples({
    TencentCloudChat,
    login: async (userID, transport) => TencentCloudChat.create({ store: answersLater(new ReceiptStore(tmpStore(dir), userID)), userID, transport }),
  });
  assert.deepEqual(now, { c2c: 1, labels: 250, readPages: 2, unreadPages: 2 });
  assert.deepEqual(later, now);
});

test('deleteMessage and clearHistoryMessage remove messages from this store for good', async () => {
  const server = new ToyServer();
  const dir = tmpDir();
  const alice = login(server, dir, 'alice');
  const bob = login(server, dir, 'bob');
  const sent = [];
  for (const text of ['one', 'two', 'three']) {
    const m = alice.createTextMessage({ to: 'bob', conversationType: TencentCloudChat.TYPES.CONV_C2C, payload: { text } });
    sent.push((await alice.sendMessage(m)).data.message);
  }
  const del = await bob.deleteMessage([sent[0]]);
  assert.deepEqual(del.data.messageList.map((m) => m.ID), [sent[0].ID]);
  assert.equal(bob.findMessage(sent[0].ID), null);
  // Deleting again deletes nothing; the others are still there.
  assert.deepEqual((await bob.deleteMessage(sent[0])).data.messageList, []);
  const { data } = await bob.getMessageList({ conversationID: 'C2Calice' });
  assert.deepEqual(data.messageList.map((m) => m.payload.text), ['two', 'three']);
  await bob.clearHistoryMessage('C2Calice');
  assert.deepEqual((await bob.getMessageList({ conversationID: 'C2Calice' })).data.messageList, []);
  // Alice's store keeps its copies: deleting is local.
  assert.equal((await alice.getMessageList({ conversationID: 'C2Cbob' })).data.messageList.length, 3);
  await alice.destroy();
  await bob.destroy();
});
