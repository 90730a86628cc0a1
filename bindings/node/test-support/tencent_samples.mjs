// The reference SDK's read-receipt samples (C2C and group), written the way
// its documentation shows them (promise.then chains, findMessage inside the
// receipt handler, cursor paging of the member lists), run through the
// Tencent-style facade between users connected by a toy server. One source for
// every place the facade runs: the Node addon (synchronous store), an
// asynchronous store in Node, and the browser package in a page
// (bindings/web/test). Standard JavaScript only: it runs in a page as is.

/** A failed expectation. */
function fail(what, got, want) {
  throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function eq(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(what, got, want);
}

/**
 * A toy chat server: assigns sequences and times, pushes to the other users'
 * facades, answers receipts, and pushes a C2C read position to the peer.
 * `online = false` makes every call fail as a dropped network would.
 */
export class ToyServer {
  constructor() {
    this.clients = new Map();
    this.sent = new Map();
    this.seq = new Map();
    this.clock = 1700000000;
    this.online = true;
    this.groups = new Map();
    this.readReports = [];
  }

  addGroup(groupID, userIDs) { this.groups.set(groupID, userIDs); }

  /** The transport of one user's facade. */
  connect(userID) {
    return {
      sendMessage: async (message) => this._message(userID, message),
      sendReceipts: async (batch) => this._receipts(userID, batch),
      sendReadReports: async (reports) => this._readReports(userID, reports),
    };
  }

  _check() {
    if (!this.online) { const e = new Error('network unreachable'); e.code = 2800; throw e; }
  }

  async _message(from, m) {
    this._check();
    const key = m.conversationType === 'C2C' ? [from, m.to].sort().join('|') : m.to;
    const sequence = (this.seq.get(key) || 0) + 1;
    this.seq.set(key, sequence);
    const time = ++this.clock;
    const wire = { ID: m.ID, conversationType: m.conversationType, from, to: m.to, time, sequence,
      status: 'success', needReadReceipt: m.needReadReceipt, type: m.type, payload: m.payload };
    this.sent.set(m.ID, wire);
    const to = m.conversationType === 'C2C' ? [m.to] : this.groups.get(m.to).filter((u) => u !== from);
    for (const u of to) {
      const client = this.clients.get(u);
      if (client) await client.receiveMessages([wire]);
    }
    return { sequence, time };
  }

  async _receipts(reader, { messageIDs }) {
    this._check();
    for (const id of messageIDs) await this.readBy(reader, id);
    return {};
  }

  /** `reader` read message `id`: the sender's facade is told, as the server's push would. */
  async readBy(reader, id) {
    const m = this.sent.get(id);
    const note = m.conversationType === 'C2C'
      ? { messageID: id, conversationID: `C2C${reader}`, userID: reader }
      : { messageID: id, groupID: m.to, userID: reader };
    await this.clients.get(m.from).receiveReadReceipts([note]);
  }

  /** A C2C read position is pushed to the peer as how far they were read. */
  async _readReports(reader, reports) {
    this._check();
    this.readReports.push(...reports.map((r) => ({ reader, ...r })));
    for (const { conversationID, readSequence } of reports) {
      const peer = conversationID.startsWith('C2C') && this.clients.get(conversationID.slice(3));
      if (peer) await peer.receiveReadReports([{ conversationID: `C2C${reader}`, peerReadSequence: readSequence }]);
    }
  }
}

/**
 * Runs the samples. `TencentCloudChat` is the facade module (`TYPES`, `EVENT`);
 * `login(userID, transport)` resolves with a facade for that user's store.
 * Resolves with a summary of what was seen (the caller may print it).
 */
export async function runSamples({ TencentCloudChat, login }) {
  const { TYPES, EVENT } = TencentCloudChat;
  const server = new ToyServer();
  const members = ['alice', 'bob'];
  for (let i = 1; i <= 248; i += 1) members.push(`member${String(i).padStart(3, '0')}`);
  server.addGroup('test', members);
  const chats = {};
  for (const u of ['alice', 'bob']) {
    chats[u] = await login(u, server.connect(u));
    server.clients.set(u, chats[u]);
    await chats[u].store.setGroup({ groupID: 'test', groupType: 'Work', members: members.map((userID) => ({ userID })) });
  }
  const chat = chats.alice; // the sender, as in the samples
  const seen = { c2cPeerRead: [], groupLabels: [] };

  // The sender listens for receipts and updates its UI from findMessage.
  const onMessageReadReceiptReceived = function (event) {
    event.data.forEach((item) => {
      const { messageID } = item;
      const message = chat.findMessage(messageID);
      if (message) {
        if (message.conversationType === TYPES.CONV_C2C) {
          if (message.readReceiptInfo.isPeerRead === true) seen.c2cPeerRead.push(messageID);
        } else if (message.conversationType === TYPES.CONV_GROUP) {
          if (message.readReceiptInfo.unreadCount === 0) seen.groupLabels.push('all read');
          else seen.groupLabels.push(`${message.readReceiptInfo.readCount} read`);
        }
      }
    });
  };
  chat.on(EVENT.MESSAGE_READ_RECEIPT_RECEIVED, onMessageReadReceiptReceived);

  // 1. C2C: a message that needs a receipt, sent as the samples send it.
  const c2c = chat.createTextMessage({
    to: 'bob', conversationType: TYPES.CONV_C2C, payload: { text: 'Hello world!' }, needReadReceipt: true,
  });
  const c2cSent = await chat.sendMessage(c2c).then((imResponse) => imResponse.data.message);
  eq('C2C message sent', c2cSent.status, 'success');

  // The receiver reads the conversation and sends receipts for what it shows.
  await chats.bob.getMessageList({ conversationID: 'C2Calice' }).then((imResponse) => {
    const messageList = imResponse.data.messageList;
    eq('bob holds the C2C message', messageList.map((m) => m.ID), [c2cSent.ID]);
    return chats.bob.sendMessageReadReceipt(messageList).then((r) => eq('bob queued a receipt', r.data.queued, [c2cSent.ID]));
  });
  eq('the handler saw isPeerRead through findMessage', seen.c2cPeerRead, [c2cSent.ID]);
  await chat.getMessageList({ conversationID: 'C2Cbob' }).then((imResponse) => chat.getMessageReadReceiptList(imResponse.data.messageList))
    .then((imResponse) => eq('C2C isPeerRead pulled', imResponse.data.messageList.map((m) => m.readReceiptInfo.isPeerRead), [true]));
  // C2C messages have no member list: 10062.
  let code = null;
  await chat.getGroupMessageReadMemberList({ message: c2cSent, filter: 0, cursor: '', count: 30 }).catch((e) => { code = e.code; });
  eq('member list of a C2C message', code, 10062);

  // 2. Group of 250: bob reads through his facade, 119 others as the server reports them.
  const group = chat.createTextMessage({
    to: 'test', conversationType: TYPES.CONV_GROUP, payload: { text: 'Hello world!' }, needReadReceipt: true,
  });
  const groupSent = await chat.sendMessage(group).then((imResponse) => imResponse.data.message);
  eq('group message, unread count known once sent', seen.groupLabels, ['0 read']);
  await chats.bob.getMessageList({ conversationID: 'GROUPtest' }).then((imResponse) => chats.bob.sendMessageReadReceipt(imResponse.data.messageList));
  const readers = members.slice(2, 121); // member001..member119
  for (const u of readers) await server.readBy(u, groupSent.ID);
  eq('labels after 120 readers', seen.groupLabels.slice(-1), ['120 read']);
  const info = (await chat.getMessageReadReceiptList([groupSent])).data.messageList[0].readReceiptInfo;
  eq('group figures pulled', { readCount: info.readCount, unreadCount: info.unreadCount }, { readCount: 120, unreadCount: 129 });

  // Paging the read and unread members, 100 a page, with the cursor, as the samples do.
  async function allMembers(filter) {
    const ids = [];
    let cursor = '';
    let pages = 0;
    for (;;) {
      const imResponse = await chat.getGroupMessageReadMemberList({ message: groupSent, filter, cursor, count: 100 });
      const { isCompleted, readUserIDList, unreadUserIDList } = imResponse.data;
      ids.push(...(filter === 0 ? readUserIDList : unreadUserIDList));
      pages += 1;
      if (isCompleted) return { ids, pages };
      cursor = imResponse.data.cursor;
    }
  }
  const read = await allMembers(0);
  eq('read members', [...read.ids].sort(), ['bob', ...readers].sort());
  eq('read pages', read.pages, 2);
  const unread = await allMembers(1);
  eq('unread members', [...unread.ids].sort(), members.slice(121).sort());
  eq('unread pages', unread.pages, 2);
  eq('disjoint and complete', new Set([...read.ids, ...unread.ids]).size, 249);

  // The rest read: "all read".
  for (const u of members.slice(121)) await server.readBy(u, groupSent.ID);
  eq('last label', seen.groupLabels.slice(-1), ['all read']);
  eq('bob sees his receipt acked', chats.bob.findMessage(groupSent.ID).receiptSentState, 'acked');

  chat.off(EVENT.MESSAGE_READ_RECEIPT_RECEIVED, onMessageReadReceiptReceived);
  for (const u of Object.keys(chats)) await chats[u].destroy();
  return { c2c: seen.c2cPeerRead.length, labels: seen.groupLabels.length, readPages: read.pages, unreadPages: unread.pages };
}
