// Every export of tencent.d.ts used as an app written for the reference Web SDK
// would use it. Compiled with `tsc --strict --noEmit` (test/types.test.js), never run.
import * as TencentCloudChat from '../../tencent';
import {
  Chat, ChatConversation, ChatError, ChatEvent, ChatMessage, ChatOptions, ChatResponse, EventData, EventDataOf,
  EventName, IncomingChatMessage, LastMessage, MessageRef, ReadAllScope, Transport,
} from '../../tencent';
import { ReceiptStore, Int } from '../../index';

const transport: Transport = {
  sendMessage: async (message: ChatMessage) => ({ sequence: message.sequence, time: 1700000000 }),
  sendReceipts: async ({ conversationID, messageIDs }) => {
    void conversationID;
    return { rejected: messageIDs.slice(0, 1).map((messageID) => ({ messageID, code: 10007 })) };
  },
  sendReadReports: async (reports) => reports.map((r) => r.readSequence),
};

const byPath: ChatOptions = { path: '/tmp/alice.db', userID: 'alice', transport };
const chat: Chat = TencentCloudChat.create(byPath);
const shared = new TencentCloudChat.Chat({ store: new ReceiptStore('/tmp/bob.db', 'bob'), userID: 'bob' });
// @ts-expect-error a store or a path is required
TencentCloudChat.create({ userID: 'carol' });

const c2c: 'C2C' = TencentCloudChat.TYPES.CONV_C2C;
const group: 'GROUP' = TencentCloudChat.TYPES.CONV_GROUP;
const others: string[] = [TencentCloudChat.TYPES.CONV_TOPIC, TencentCloudChat.TYPES.CONV_SYSTEM];
const groupTypes: string[] = [
  TencentCloudChat.TYPES.GRP_PRIVATE, TencentCloudChat.TYPES.GRP_WORK, TencentCloudChat.TYPES.GRP_PUBLIC,
  TencentCloudChat.TYPES.GRP_CHATROOM, TencentCloudChat.TYPES.GRP_MEETING, TencentCloudChat.TYPES.GRP_AVCHATROOM,
  TencentCloudChat.TYPES.GRP_COMMUNITY,
];
const messageTypes: string[] = [
  TencentCloudChat.TYPES.MSG_TEXT, TencentCloudChat.TYPES.MSG_IMAGE, TencentCloudChat.TYPES.MSG_SOUND,
  TencentCloudChat.TYPES.MSG_AUDIO, TencentCloudChat.TYPES.MSG_FILE, TencentCloudChat.TYPES.MSG_FACE,
  TencentCloudChat.TYPES.MSG_VIDEO, TencentCloudChat.TYPES.MSG_GEO, TencentCloudChat.TYPES.MSG_LOCATION,
  TencentCloudChat.TYPES.MSG_GRP_TIP, TencentCloudChat.TYPES.MSG_GRP_SYS_NOTICE, TencentCloudChat.TYPES.MSG_CUSTOM,
  TencentCloudChat.TYPES.MSG_MERGER,
];
const scopes: ReadAllScope[] = [
  TencentCloudChat.TYPES.READ_ALL_C2C_MSG, TencentCloudChat.TYPES.READ_ALL_GROUP_MSG, TencentCloudChat.TYPES.READ_ALL_MSG,
];
void others; void groupTypes; void messageTypes;

const allEvents: EventName[] = Object.values(TencentCloudChat.EVENT);
for (const name of allEvents) chat.on(name, () => {});

function onReceipt(event: ChatEvent<typeof TencentCloudChat.EVENT.MESSAGE_READ_RECEIPT_RECEIVED>): void {
  for (const { groupID, userID, messageID, readCount, unreadCount, isPeerRead } of event.data) {
    const message = chat.findMessage(messageID);
    if (!message || !message.readReceiptInfo) continue;
    if (message.conversationType === TencentCloudChat.TYPES.CONV_C2C) {
      const peerRead: boolean = isPeerRead || message.readReceiptInfo.isPeerRead;
      void peerRead; void userID;
    } else {
      const label: string = unreadCount === 0 ? `${groupID}: all read` : `${groupID}: ${String(readCount)} read`;
      void label;
    }
  }
}
chat.on(TencentCloudChat.EVENT.MESSAGE_READ_RECEIPT_RECEIVED, onReceipt);
chat.off(TencentCloudChat.EVENT.MESSAGE_READ_RECEIPT_RECEIVED, onReceipt);

const onReceived = (event: ChatEvent<'onMessageReceived'>) => {
  const texts: string[] = event.data.filter((m) => m.type === TencentCloudChat.TYPES.MSG_TEXT).map((m) => String(m.payload.text));
  void texts;
};
chat.on(TencentCloudChat.EVENT.MESSAGE_RECEIVED, onReceived, { some: 'context' });
chat.off(TencentCloudChat.EVENT.MESSAGE_RECEIVED, onReceived);
chat.on(TencentCloudChat.EVENT.MESSAGE_READ_BY_PEER, ({ data }) => { const read: boolean[] = data.map((m) => m.isPeerRead); void read; });
chat.on(TencentCloudChat.EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, (event) => { const total: Int = event.data; void total; });
chat.on(TencentCloudChat.EVENT.CONVERSATION_LIST_UPDATED, (event) => {
  const list: ChatConversation[] = event.data;
  void list;
});
chat.on(TencentCloudChat.EVENT.SDK_READY, (event) => { const name: 'sdkStateReady' = event.name; void name; });
// @ts-expect-error not an event name of the SDK
chat.on('onSomethingElse', () => {});

const unreadData: EventData['onTotalUnreadMessageCountUpdated'] = 3;
const neverData: EventDataOf<'kickedOut'>[] = [];
void unreadData; void neverData;

async function app(): Promise<void> {
  const message: ChatMessage = chat.createTextMessage({
    to: 'bob', conversationType: c2c, payload: { text: 'lunch at noon?' }, needReadReceipt: true,
  });
  const kind: string = message.type;
  void kind;
  try {
    const sent: ChatResponse<{ message: ChatMessage }> = await chat.sendMessage(message);
    const code: 0 = sent.code;
    void code;
  } catch (e) {
    const err = e as ChatError;
    const failed: boolean = message.status === 'fail' && typeof err.code === 'number' && err.codeName !== 'x';
    void failed;
  }

  const { data } = await chat.getMessageList({ conversationID: 'C2Cbob', nextReqMessageID: '', count: 15 });
  const refs: MessageRef[] = [...data.messageList, data.messageList[0].ID];
  const queued: string[] = (await chat.sendMessageReadReceipt(data.messageList)).data.queued;
  const withInfo = (await chat.getMessageReadReceiptList(refs)).data.messageList;
  void queued; void withInfo;
  const page = await chat.getGroupMessageReadMemberList({ message, filter: 0, cursor: '', count: 30 });
  const readers: string[] = page.data.readUserIDList ?? [];
  void readers;
  const batches: number = await chat.flushReceipts();
  void batches;

  const read = await chat.setMessageRead({ conversationID: 'C2Cbob' });
  void read.data.readSequence;
  for (const scope of scopes) await chat.setAllMessageRead({ scope });
  await chat.setAllMessageRead();
  // @ts-expect-error not a scope
  await chat.setAllMessageRead({ scope: 'readSome' });

  const all = await chat.getConversationList();
  const some = await chat.getConversationList(['C2Cbob', 'GROUPteam']);
  const groups = await chat.getConversationList({ type: group });
  const synced: boolean = all.data.isSyncCompleted && some.data.isSyncCompleted && groups.data.isSyncCompleted;
  void synced;
  for (const conversation of all.data.conversationList) {
    const last: LastMessage | null = conversation.lastMessage;
    const line: string = last ? `${last.fromAccount}: ${last.messageForShow} (${String(last.lastTime)}, ${String(last.lastSequence)})` : '';
    const unread: Int = conversation.unreadCount;
    void line; void unread;
  }
  const profile: ChatConversation = (await chat.getConversationProfile('GROUPteam')).data.conversation;
  void profile;
  const total: Int = chat.getTotalUnreadMessageCount();
  void total;

  const incoming: IncomingChatMessage[] = [{
    ID: 'm1', from: 'bob', to: 'alice', conversationType: c2c, time: 1700000001, sequence: 1,
    type: TencentCloudChat.TYPES.MSG_TEXT, payload: { text: 'hi' }, needReadReceipt: true,
  }];
  const saved: Int = chat.receiveMessages(incoming).saved;
  const changed: string[] = chat.receiveReadReceipts([{ messageID: 'm1', conversationID: 'C2Cbob', userID: 'bob' }]).changed;
  const reports: string[] = chat.receiveReadReports([{ conversationID: 'C2Cbob', peerReadSequence: 1 }]).changed;
  void saved; void changed; void reports;

  const t: Transport | null = shared.transport;
  const owner: string = shared.userID + chat.userID;
  const open: boolean = shared.store.isOpen;
  void t; void owner; void open;
  await shared.destroy();
  await chat.destroy();
}
void app;
