// Types of docs/PROTOCOL.md: every method's params and result, and every event.
// Shared by index.d.ts (synchronous) and rpc-client.d.ts (Promises); each
// method is declared once, here (test/types.test.js checks every corpus
// answer against these types).

export type ConversationType = 'C2C' | 'GROUP';
export type GroupType = 'Work' | 'Public' | 'Meeting' | 'Community' | 'AVChatRoom';
export type MessageStatus = 'unSend' | 'success' | 'fail';
export type ReceiptSentState = 'none' | 'pending' | 'acked';

/**
 * An integer across the binding. The store's sequences, times and counts are
 * 64-bit: in results and events (and payloads) an integer comes back as a
 * `number` while it is within Number's safe range (|n| <= 2^53 - 1) and as a
 * `bigint` beyond it, never rounded. Params take either, anywhere; a `bigint`
 * is sent as its exact integer. NaN, Infinity and -Infinity anywhere in params
 * are refused with INVALID_PARAMS before the call reaches the store.
 */
export type Int = number | bigint;

export interface ReadReceiptInfo {
  readCount: Int; unreadCount: Int | null; isPeerRead: boolean;
  /** With `withDelivery` only: how many of the audience received it (readers included). */
  deliveredCount?: Int;
  /** With `withDelivery` only: C2C, the peer received (or read) it. */
  isPeerDelivered?: boolean;
  /** With `withReadTime` only, C2C: when the peer read it (unix seconds), when known. */
  readTime?: Int;
}

/** A message as the store gives it. */
export interface Message {
  ID: string;
  conversationID: string;
  conversationType: ConversationType;
  from: string;
  to: string;
  /** Unix seconds. */
  time: Int;
  sequence: Int;
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
  /** Present (true) once the message was recalled: its receipt figures stay as they were. */
  isRevoked?: boolean;
}

/** A message from the transport (pushed, synced, or sent from another device). */
export interface IncomingMessage {
  ID: string;
  conversationID?: string;
  conversationType?: ConversationType;
  from: string;
  to: string;
  /** Unix seconds; 0 or absent: not given (a held message keeps its own). */
  time?: Int;
  sequence?: Int;
  status?: MessageStatus;
  needReadReceipt?: boolean;
  payload?: Record<string, unknown>;
  isPeerRead?: boolean;
  readReceiptInfo?: { readCount?: Int; unreadCount?: Int; isPeerRead?: boolean; deliveredCount?: Int; isPeerDelivered?: boolean };
  /** The server says the message was recalled. */
  isRevoked?: boolean;
}

export interface Member { userID: string; joinTime?: Int | null; }

export interface Conversation {
  conversationID: string;
  type: ConversationType;
  unreadCount: Int;
  readSequence: Int;
  peerReadSequence: Int | null;
  lastMessage: Message | null;
  /** Present (true) while the conversation is marked unread apart from its count. */
  markedUnread?: boolean;
  /** Present (true) while reading it sends no read receipts. */
  privateReading?: boolean;
}

export interface ReceiptInfoInput {
  messageID: string;
  readCount?: Int;
  unreadCount?: Int;
  isPeerRead?: boolean;
  readerIDs?: string[];
  /** Readers with the time each read it (unix seconds; snapshots). */
  readTimes?: { userID: string; readTime: Int }[];
  /** Users who received the message (readers count as delivered too). */
  deliveredIDs?: string[];
  deliveredCount?: Int;
  isPeerDelivered?: boolean;
}
export interface ReceiptNotification extends ReceiptInfoInput {
  conversationID?: string;
  groupID?: string;
  /** One user who read the message: the same as `readerIDs: [userID]`. */
  userID?: string;
  /** When `userID` read it (unix seconds). */
  readTime?: Int;
}

export interface Batch { batchID: string; conversationID: string; messageIDs: string[]; }
/** `readTime`: the owner's newest read to the end (unix ms); in an ack, absent acknowledges it too. */
export interface ReadReport { conversationID: string; readSequence: Int; readTime?: Int; private?: boolean; }
/** A mark (true) or unmark of a conversation as unread, at `markTime` (unix ms). */
export interface MarkReport { conversationID: string; marked: boolean; markTime: Int; }
/** The read state the server pushes or syncs for one conversation. */
export interface ServerReadState {
  readSequence?: Int;
  peerReadSequence?: Int;
  readTime?: Int;
  /** With `markTime`. */
  marked?: boolean;
  markTime?: Int;
}

export type OptionalEventName = 'MESSAGE_DELIVERY_RECEIPT_RECEIVED' | 'MESSAGES_CHANGED' | 'MESSAGES_DELETED' | 'CONVERSATION_CHANGED' | 'OUTBOX_CHANGED' | 'SNAPSHOT_APPLIED';

/** Params and results of every method, in the order of docs/PROTOCOL.md. */
export interface Methods {
  // Setup
  setReceiptConfig: [{ enabled?: boolean; groupTypes?: GroupType[]; deliveryReceipts?: boolean; privateReading?: boolean }, {}];
  getReceiptConfig: [Record<string, never> | undefined, { enabled: boolean; groupTypes: GroupType[]; deliveryReceipts: boolean; privateReading: boolean }];
  setGroup: [{ groupID: string; groupType: GroupType; members: Member[] }, {}];
  addGroupMembers: [{ groupID: string; members: Member[] }, {}];
  removeGroupMembers: [{ groupID: string; userIDs: string[] }, {}];
  getGroup: [{ groupID: string }, { groupID: string; groupType: GroupType; memberCount: number; receiptsEnabled: boolean } | null];
  getGroupMemberList: [
    { groupID: string; cursor?: string | null; count?: Int },
    { groupID: string; memberList: Member[]; cursor: string; isCompleted: boolean },
  ];
  // Messages
  createMessage: [{ to: string; conversationType: ConversationType; payload?: Record<string, unknown>; needReadReceipt?: boolean }, Message];
  markMessageSent: [{ ID: string; sequence: Int; time: Int }, Message];
  saveMessages: [{ messages: IncomingMessage[] }, { saved: Int }];
  findMessage: [{ messageID: string }, Message | null];
  deleteMessages: [{ messageIDs: string[] }, { deleted: string[] }];
  clearHistory: [{ conversationID: string }, { deleted: Int; clearedSequence: Int }];
  getMessageList: [{ conversationID: string; nextReqMessageID?: string | null; count?: Int }, { messageList: Message[]; nextReqMessageID: string | null; isCompleted: boolean }];
  getConversation: [{ conversationID: string }, Conversation];
  getConversationList: [{ cursor?: string | null; count?: Int } | undefined, { conversationList: Conversation[]; cursor: string; isCompleted: boolean }];
  setMessageRead: [{ conversationID: string; sequence?: Int }, { readSequence?: Int }];
  setAllMessageRead: [Record<string, never> | undefined, { conversations: Int }];
  getTotalUnreadMessageCount: [Record<string, never> | undefined, { totalUnreadCount: Int }];
  setConversationPrivateReading: [{ conversationID: string; enable?: boolean | null }, { privateReading: boolean }];
  markConversationUnread: [{ conversationIDList: string[]; enableMark: boolean }, { changed: string[] }];
  // Read receipts
  sendMessageReadReceipt: [{ messageIDs: string[] }, { queued: string[]; skipped?: { messageID: string; reason: 'PRIVATE_READING' }[] }];
  getMessageReadReceiptList: [{ messageIDs: string[]; withDelivery?: boolean; withReadTime?: boolean }, { messageList: Message[] }];
  getGroupMessageReadMemberList: [
    { messageID: string; filter: 0 | 1 | 2 | 3; cursor?: string | null; count: Int; withReadTime?: boolean },
    {
      isCompleted: boolean; cursor: string; messageID: string; isStale: boolean;
      readUserIDList?: string[]; unreadUserIDList?: string[];
      readMemberList?: { userID: string; readTime?: Int }[];
      deliveredUserIDList?: string[]; undeliveredUserIDList?: string[];
    },
  ];
  // Sync
  getPendingReceipts: [{ limit?: Int } | undefined, { batches: Batch[]; readReports?: ReadReport[]; markReports?: MarkReport[]; deliveryBatches?: Batch[] }];
  ackReadReports: [{ reports: ReadReport[] }, { acked: Int }];
  ackMarkReports: [{ reports: MarkReport[] }, { acked: Int }];
  ackDeliveryReceipts: [{ batchID: string }, { acked: boolean }];
  ackReceipts: [{ batchID: string; rejected?: { messageID: string; code: number }[] }, { acked: boolean }];
  applyReceiptNotifications: [{ notifications: ReceiptNotification[] }, { changed: string[] }];
  applySnapshot: [
    { conversationID: string; messages?: IncomingMessage[]; receipts?: ReceiptInfoInput[]; selfRead?: string[] } & ServerReadState,
    { changed: string[] },
  ];
  applyReadReports: [{ reports: ({ conversationID: string } & ServerReadState)[] }, { changed: string[] }];
  // Opt-in events
  subscribe: [{ events?: OptionalEventName[] } | undefined, { events: OptionalEventName[] }];
  unsubscribe: [{ events?: OptionalEventName[] } | undefined, { events: OptionalEventName[] }];
  // Support
  verify: [Record<string, never> | undefined, VerifyReport];
  // A store's life (native builds; the browser answers IO_ERROR)
  backup: [{ path: string }, { path: string; bytes: Int }];
  restore: [{ path: string }, { totalUnreadCount: Int }];
  compact: [Record<string, never> | undefined, { bytesBefore: Int; bytesAfter: Int; reclaimedBytes: Int }];
  deleteStore: [{ path: string; userID?: string }, { deleted: boolean }];
  rekey: [{ key: string }, Record<string, never>];
}

/** What `verify` found: every check it ran, and each stored value that differs from its recount. */
export interface VerifyReport {
  checks: string[];
  mismatches: { check: string; subject: string; stored: string; recounted: string }[];
}
export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = Methods[M][0];
export type ResultOf<M extends MethodName> = Methods[M][1];

/** One method as a function: params optional when the method takes none. */
type Fn<M extends MethodName, R> = undefined extends ParamsOf<M>
  ? (params?: ParamsOf<M>) => R
  : (params: ParamsOf<M>) => R;
/** Every method, synchronous (ReceiptStore). */
export type SyncMethods = { [M in MethodName]: Fn<M, ResultOf<M>> };
/** Every method, as Promises (RpcReceiptStore). */
export type AsyncMethods = { [M in MethodName]: Fn<M, Promise<ResultOf<M>>> };

export interface ReceiptChange {
  /** `""` for C2C. */ groupID: string;
  /** The peer for C2C, `""` for groups. */ userID: string;
  messageID: string;
  readCount: Int;
  unreadCount: Int | null;
  isPeerRead: boolean;
}

/** Every event's params (the default and the opt-in kinds). `commitSeq` orders them. */
export interface Events {
  MESSAGE_READ_RECEIPT_RECEIVED: { data: ReceiptChange[]; commitSeq: Int };
  MESSAGE_DELIVERY_RECEIPT_RECEIVED: { data: { groupID: string; userID: string; messageID: string; deliveredCount: Int; isPeerDelivered: boolean }[]; commitSeq: Int };
  MESSAGE_READ_BY_PEER: { data: Message[]; commitSeq: Int };
  TOTAL_UNREAD_MESSAGE_COUNT_UPDATED: { data: Int; commitSeq: Int };
  MESSAGES_CHANGED: { data: { conversationID: string; messageID: string }[]; commitSeq: Int };
  MESSAGES_DELETED: { data: { conversationID: string; messageID: string }[]; commitSeq: Int };
  CONVERSATION_CHANGED: { conversationID: string; unreadCount: Int; readSequence: Int; peerReadSequence: Int | null; markedUnread?: boolean; commitSeq: Int };
  OUTBOX_CHANGED: { pending: Int; commitSeq: Int };
  SNAPSHOT_APPLIED: { conversationID: string; changed: string[]; commitSeq: Int };
  /** `restore` replaced the store's contents: re-read what you show. */
  STORE_RESTORED: { commitSeq: Int };
  /** This store's subscriber fell behind and `missed` events were dropped. */
  LAGGED: { missed: Int; commitSeq: Int };
}
export type EventName = keyof Events;

/** The error names of docs/PROTOCOL.md. STORE_CLOSED (-32000) is a call on a closed store. */
export type ErrorCodeName =
  | 'INVALID_PARAMS' | 'MESSAGE_NOT_FOUND' | 'MIXED_CONVERSATIONS' | 'RECEIPTS_DISABLED'
  | 'UNSUPPORTED_GROUP_TYPE' | 'OWNER_MISMATCH' | 'STORE_CORRUPT' | 'SCHEMA_TOO_NEW'
  | 'MESSAGE_RECALLED' | 'WRONG_KEY' | 'RECEIPT_INFO_NOT_FOUND' | 'STORAGE_FULL' | 'STORE_BUSY' | 'STORE_MOVED' | 'READ_ONLY'
  | 'INTERNAL' | 'IO_ERROR'
  | 'PARSE_ERROR' | 'INVALID_REQUEST' | 'METHOD_NOT_FOUND' | 'STORE_CLOSED';

/** A failed call. */
export declare class ReceiptDBError extends Error {
  /** The store's number (e.g. 10062), or a JSON-RPC code. */
  code: number;
  codeName: ErrorCodeName | string;
  data?: { name: string } & Record<string, unknown>;
}
