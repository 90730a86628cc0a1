// Types of SPEC §3: every method's params and result, and every event.
// Shared by index.d.ts (synchronous) and rpc-client.d.ts (Promises).

export type ConversationType = 'C2C' | 'GROUP';
export type GroupType = 'Work' | 'Public' | 'Meeting' | 'Community' | 'AVChatRoom';
export type MessageStatus = 'unSend' | 'success' | 'fail';
export type ReceiptSentState = 'none' | 'pending' | 'acked';

export interface ReadReceiptInfo { readCount: number; unreadCount: number | null; isPeerRead: boolean; }

/** A message as the store gives it. */
export interface Message {
  ID: string;
  conversationID: string;
  conversationType: ConversationType;
  from: string;
  to: string;
  /** Unix seconds. */
  time: number;
  sequence: number;
  flow: 'in' | 'out';
  status: MessageStatus;
  needReadReceipt: boolean;
  payload: Record<string, unknown>;
  /** C2C read report: the peer read the conversation up to this message. */
  isPeerRead: boolean;
  /** On `out` messages that need a receipt. */
  readReceiptInfo?: ReadReceiptInfo | null;
  /** On `in` messages that need a receipt. */
  receiptSentState?: ReceiptSentState | null;
}

/** A message from the transport (pushed, synced, or sent from another device). */
export interface IncomingMessage {
  ID: string;
  conversationID?: string;
  conversationType?: ConversationType;
  from: string;
  to: string;
  time: number;
  sequence: number;
  status?: MessageStatus;
  needReadReceipt?: boolean;
  payload?: Record<string, unknown>;
  isPeerRead?: boolean;
  readReceiptInfo?: { readCount?: number; unreadCount?: number; isPeerRead?: boolean };
}

export interface Member { userID: string; joinTime?: number | null; }

export interface Conversation {
  conversationID: string;
  type: ConversationType;
  unreadCount: number;
  readSequence: number;
  peerReadSequence: number | null;
  lastMessage: Message | null;
}

export interface ReceiptInfoInput {
  messageID: string;
  readCount?: number;
  unreadCount?: number;
  isPeerRead?: boolean;
  readerIDs?: string[];
}
export interface ReceiptNotification extends ReceiptInfoInput {
  conversationID?: string;
  groupID?: string;
  /** One user who read the message: the same as `readerIDs: [userID]`. */
  userID?: string;
}

export interface Batch { batchID: string; conversationID: string; messageIDs: string[]; }
export interface ReadReport { conversationID: string; readSequence: number; }

export type OptionalEventName = 'MESSAGES_CHANGED' | 'CONVERSATION_CHANGED' | 'OUTBOX_CHANGED' | 'SNAPSHOT_APPLIED';

/** Params and results of every SPEC §3 method (and subscribe/unsubscribe of §6.1). */
export interface Methods {
  // §3.1 Setup
  setReceiptConfig: [{ enabled?: boolean; groupTypes?: GroupType[] }, {}];
  getReceiptConfig: [Record<string, never> | undefined, { enabled: boolean; groupTypes: GroupType[] }];
  setGroup: [{ groupID: string; groupType: GroupType; members: Member[] }, {}];
  addGroupMembers: [{ groupID: string; members: Member[] }, {}];
  removeGroupMembers: [{ groupID: string; userIDs: string[] }, {}];
  // §3.2 Messages
  createMessage: [{ to: string; conversationType: ConversationType; payload?: Record<string, unknown>; needReadReceipt?: boolean }, Message];
  markMessageSent: [{ ID: string; sequence: number; time: number }, Message];
  saveMessages: [{ messages: IncomingMessage[] }, { saved: number }];
  findMessage: [{ messageID: string }, Message | null];
  getMessageList: [{ conversationID: string; nextReqMessageID?: string | null; count?: number }, { messageList: Message[]; nextReqMessageID: string | null; isCompleted: boolean }];
  getConversation: [{ conversationID: string }, Conversation];
  getConversationList: [{ cursor?: string | null; count?: number } | undefined, { conversationList: Conversation[]; cursor: string; isCompleted: boolean }];
  setMessageRead: [{ conversationID: string; sequence?: number }, { readSequence?: number }];
  setAllMessageRead: [Record<string, never> | undefined, { conversations: number }];
  getTotalUnreadMessageCount: [Record<string, never> | undefined, { totalUnreadCount: number }];
  // §3.3 Read receipts
  sendMessageReadReceipt: [{ messageIDs: string[] }, { queued: string[] }];
  getMessageReadReceiptList: [{ messageIDs: string[] }, { messageList: Message[] }];
  getGroupMessageReadMemberList: [
    { messageID: string; filter: 0 | 1; cursor?: string | null; count: number },
    { isCompleted: boolean; cursor: string; messageID: string; isStale: boolean; readUserIDList?: string[]; unreadUserIDList?: string[] },
  ];
  // §3.4 Sync
  getPendingReceipts: [{ limit?: number } | undefined, { batches: Batch[]; readReports?: ReadReport[] }];
  ackReadReports: [{ reports: ReadReport[] }, { acked: number }];
  ackReceipts: [{ batchID: string; rejected?: { messageID: string; code: number }[] }, { acked: boolean }];
  applyReceiptNotifications: [{ notifications: ReceiptNotification[] }, { changed: string[] }];
  applySnapshot: [
    { conversationID: string; messages?: IncomingMessage[]; receipts?: ReceiptInfoInput[]; selfRead?: string[]; readSequence?: number; peerReadSequence?: number },
    { changed: string[] },
  ];
  applyReadReports: [{ reports: { conversationID: string; readSequence?: number; peerReadSequence?: number }[] }, { changed: string[] }];
  // §6.1 opt-in events
  subscribe: [{ events?: OptionalEventName[] } | undefined, { events: OptionalEventName[] }];
  unsubscribe: [{ events?: OptionalEventName[] } | undefined, { events: OptionalEventName[] }];
}
export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = Methods[M][0];
export type ResultOf<M extends MethodName> = Methods[M][1];

export interface ReceiptChange {
  /** `""` for C2C. */ groupID: string;
  /** The peer for C2C, `""` for groups. */ userID: string;
  messageID: string;
  readCount: number;
  unreadCount: number | null;
  isPeerRead: boolean;
}

/** Every event's params (SPEC §3.5 and the opt-in kinds). `commitSeq` orders them. */
export interface Events {
  MESSAGE_READ_RECEIPT_RECEIVED: { data: ReceiptChange[]; commitSeq: number };
  MESSAGE_READ_BY_PEER: { data: Message[]; commitSeq: number };
  TOTAL_UNREAD_MESSAGE_COUNT_UPDATED: { data: number; commitSeq: number };
  MESSAGES_CHANGED: { data: { conversationID: string; messageID: string }[]; commitSeq: number };
  CONVERSATION_CHANGED: { conversationID: string; unreadCount: number; commitSeq: number };
  OUTBOX_CHANGED: { pending: number; commitSeq: number };
  SNAPSHOT_APPLIED: { conversationID: string; changed: string[]; commitSeq: number };
  /** This store's subscriber fell behind and `missed` events were dropped. */
  LAGGED: { missed: number; commitSeq: number };
}
export type EventName = keyof Events;

/** The SPEC §4 names. STORE_CLOSED (-32000) is a call on a closed store. */
export type ErrorCodeName =
  | 'INVALID_PARAMS' | 'MESSAGE_NOT_FOUND' | 'MIXED_CONVERSATIONS' | 'RECEIPTS_DISABLED'
  | 'UNSUPPORTED_GROUP_TYPE' | 'OWNER_MISMATCH' | 'STORE_CORRUPT' | 'SCHEMA_TOO_NEW'
  | 'RECEIPT_INFO_NOT_FOUND' | 'STORAGE_FULL' | 'STORE_BUSY' | 'STORE_MOVED' | 'READ_ONLY'
  | 'INTERNAL' | 'IO_ERROR'
  | 'PARSE_ERROR' | 'INVALID_REQUEST' | 'METHOD_NOT_FOUND' | 'STORE_CLOSED';

/** A failed call. */
export declare class ReceiptDBError extends Error {
  /** The SPEC §4 number (e.g. 10062), or a JSON-RPC code. */
  code: number;
  codeName: ErrorCodeName | string;
  data?: { name: string } & Record<string, unknown>;
}
