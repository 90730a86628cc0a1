// The example page: two users' facades over receiptdb-web, a toy server in
// the page, and labels redrawn from the SDK's MESSAGE_READ_RECEIPT_RECEIVED.
import * as TencentCloudChat from '../../bindings/web/tencent.js';

const { TYPES, EVENT } = TencentCloudChat;
const $ = (id) => document.getElementById(id);
const members = ['alice', 'bob', ...Array.from({ length: 10 }, (_, i) => `member${i + 1}`)];

// A toy server: sequences and times, pushes to the other user, receipts back to the sender.
const chats = {};
const sent = new Map(JSON.parse(localStorage.getItem('receiptdb-example-sent') || '[]'));
let clock = Math.floor(Date.now() / 1000);
function transport(from) {
  return {
    async sendMessage(m) {
      const sequence = [...sent.values()].filter((s) => s.to === m.to && s.conversationType === m.conversationType).length + 1;
      const wire = { ID: m.ID, conversationType: m.conversationType, from, to: m.to, time: ++clock, sequence,
        status: 'success', needReadReceipt: m.needReadReceipt, type: m.type, payload: m.payload };
      sent.set(m.ID, wire);
      localStorage.setItem('receiptdb-example-sent', JSON.stringify([...sent]));
      if (from !== 'bob') await chats.bob.receiveMessages([wire]);
      return { sequence, time: wire.time };
    },
    async sendReceipts({ messageIDs }) {
      for (const id of messageIDs) await readBy(from, id);
      return {};
    },
    async sendReadReports() {},
  };
}
async function readBy(reader, id) {
  const m = sent.get(id);
  await chats[m.from].receiveReadReceipts([m.conversationType === 'C2C'
    ? { messageID: id, conversationID: `C2C${reader}`, userID: reader }
    : { messageID: id, groupID: m.to, userID: reader }]);
}

function label(m) {
  const info = m.readReceiptInfo;
  if (!m.needReadReceipt || !info) return '';
  if (m.conversationType === TYPES.CONV_C2C) return info.isPeerRead ? 'read' : 'unread';
  if (info.unreadCount === 0) return 'all read';
  return `${info.readCount} read`;
}

async function draw() {
  for (const u of ['alice', 'bob']) {
    const items = [];
    for (const conversationID of ['C2C' + (u === 'alice' ? 'bob' : 'alice'), 'GROUPteam']) {
      const { data } = await chats[u].getMessageList({ conversationID, count: 15 });
      const { data: withInfo } = data.messageList.length > 0
        ? await chats[u].getMessageReadReceiptList(data.messageList) : { data: { messageList: [] } };
      for (const m of withInfo.messageList) {
        const mine = m.from === u;
        items.push(`<li data-id="${m.ID}">${conversationID}: ${m.payload.text}<span class="label">${mine ? label(m) : m.receiptSentState}</span></li>`);
      }
    }
    $(u).innerHTML = items.join('');
  }
  const total = chats.bob.getTotalUnreadMessageCount();
  $('status').textContent = `bob's unread total: ${total}`;
}

async function open() {
  for (const u of ['alice', 'bob']) {
    chats[u] = await TencentCloudChat.open({ name: `example-${u}.db`, userID: u, transport: transport(u) });
    await chats[u].store.setGroup({ groupID: 'team', groupType: 'Work', members: members.map((userID) => ({ userID })) });
  }
  chats.alice.on(EVENT.MESSAGE_READ_RECEIPT_RECEIVED, () => draw());
  let n = sent.size;
  $('c2c').onclick = async () => {
    await chats.alice.sendMessage(chats.alice.createTextMessage({ to: 'bob', conversationType: TYPES.CONV_C2C, payload: { text: `hello #${++n}` }, needReadReceipt: true }));
    await draw();
  };
  $('group').onclick = async () => {
    await chats.alice.sendMessage(chats.alice.createTextMessage({ to: 'team', conversationType: TYPES.CONV_GROUP, payload: { text: `team #${++n}` }, needReadReceipt: true }));
    await draw();
  };
  $('read').onclick = async () => {
    for (const conversationID of ['C2Calice', 'GROUPteam']) {
      const { data } = await chats.bob.getMessageList({ conversationID, count: 15 });
      if (data.messageList.length > 0) await chats.bob.sendMessageReadReceipt(data.messageList);
      await chats.bob.setMessageRead({ conversationID });
    }
    await draw();
  };
  $('others').onclick = async () => {
    for (const [id, m] of sent) if (m.to === 'team') for (const u of members.slice(2)) await readBy(u, id);
    await draw();
  };
  $('reset').onclick = async () => {
    for (const u of ['alice', 'bob']) await chats[u].destroy();
    // The package keeps store `name` in the OPFS folder receiptdb/store-<name>
    // (bindings/web/worker.js); until it has a call that deletes a store, remove that.
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('receiptdb', { create: true });
    for (const u of ['alice', 'bob']) {
      await root.removeEntry(`store-${encodeURIComponent(`example-${u}.db`)}`, { recursive: true }).catch(() => {});
    }
    localStorage.removeItem('receiptdb-example-sent');
    location.reload();
  };
  await draw();
  window.exampleReady = true;
}

open().catch((e) => { $('status').textContent = `could not open the stores: ${e.codeName || ''} ${e.message}`; });
