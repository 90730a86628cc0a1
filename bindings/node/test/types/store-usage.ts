// Compiled by test/types.test.js with `tsc --strict`: every export of the
// package's two entry points used the way an app uses them.
import {
  ReceiptStore, ReceiptDBError, METHODS, EVENTS, Message, Conversation, Int, MethodName,
  Events, ErrorCodeName, VerifyReport,
} from '../../index';
import { RpcReceiptStore } from '../../rpc-client';

function sync(file: string): void {
  const store = new ReceiptStore(file, 'alice', { events: ['CONVERSATION_CHANGED'] });
  store.setGroup({ groupID: 'team', groupType: 'Work', members: [{ userID: 'alice' }, { userID: 'bob', joinTime: 1 }] });
  const saved: Int = store.saveMessages({ messages: [{ ID: 'm1', conversationType: 'GROUP', from: 'alice', to: 'team', time: 1, sequence: 1n, needReadReceipt: true }] }).saved;
  const found: Message | null = store.findMessage({ messageID: 'm1' });
  const unread: Int | null | undefined = found?.readReceiptInfo?.unreadCount;
  const page = store.getGroupMessageReadMemberList({ messageID: 'm1', filter: 1, cursor: '', count: 100 });
  const who: string[] | undefined = page.unreadUserIDList;
  const conv: Conversation = store.getConversation({ conversationID: 'GROUPteam' });
  const total: Int = store.getTotalUnreadMessageCount().totalUnreadCount;
  const report: VerifyReport = store.verify();
  store.on('CONVERSATION_CHANGED', (e: Events['CONVERSATION_CHANGED']) => {
    const r: Int = e.readSequence;
    const p: Int | null = e.peerReadSequence;
    void r; void p;
  });
  store.on('MESSAGE_READ_RECEIPT_RECEIVED', (e) => { for (const d of e.data) void d.readCount; });
  try {
    store.sendMessageReadReceipt({ messageIDs: ['m1'] });
  } catch (e) {
    if (e instanceof ReceiptDBError) { const n: number = e.code; const c: ErrorCodeName | string = e.codeName; void n; void c; }
  }
  const any: unknown = store.call('getReceiptConfig');
  const names: readonly MethodName[] = METHODS;
  const events: readonly string[] = EVENTS;
  void saved; void unread; void who; void conv; void total; void report; void any; void names; void events;
  store.close();
}

async function overRpc(file: string): Promise<void> {
  const store = await RpcReceiptStore.open(file, 'alice');
  const cfg = await store.getReceiptConfig();
  const enabled: boolean = cfg.enabled;
  const list = await store.getMessageReadReceiptList({ messageIDs: ['m1'] });
  const first: Message | undefined = list.messageList[0];
  store.on('TOTAL_UNREAD_MESSAGE_COUNT_UPDATED', (e) => { const n: Int = e.data; void n; });
  void enabled; void first;
  await store.close();
}

void sync; void overRpc;
