// Types of tencent.js: the read-state calls of Tencent Cloud Chat's Web SDK
// over a receiptdb store (docs/EMBEDDING.md; the store's methods, events and
// errors are in docs/PROTOCOL.md).
import {
  ReceiptStore, Int, Message, Conversation, ConversationType, ReceiptChange, ReceiptNotification,
  IncomingMessage, ReadReport, ParamsOf, ResultOf,
} from './index';

/** The SDK's constants of the read-state surface, with the SDK's values. */
export declare const TYPES: {
  readonly MSG_TEXT: 'TIMTextElem';
  readonly MSG_IMAGE: 'TIMImageElem';
  readonly MSG_SOUND: 'TIMSoundElem';
  readonly MSG_AUDIO: 'TIMSoundElem';
  readonly MSG_FILE: 'TIMFileElem';
  readonly MSG_FACE: 'TIMFaceElem';
  readonly MSG_VIDEO: 'TIMVideoFileElem';
  readonly MSG_GEO: 'TIMLocationElem';
  readonly MSG_LOCATION: 'TIMLocationElem';
  readonly MSG_GRP_TIP: 'TIMGroupTipElem';
  readonly MSG_GRP_SYS_NOTICE: 'TIMGroupSystemNoticeElem';
  readonly MSG_CUSTOM: 'TIMCustomElem';
  readonly MSG_MERGER: 'TIMRelayElem';
  /** The store holds C2C and GROUP conversations only. */
  readonly CONV_C2C: 'C2C';
  readonly CONV_GROUP: 'GROUP';
  readonly CONV_TOPIC: 'TOPIC';
  readonly CONV_SYSTEM: '@TIM#SYSTEM';
  /** The SDK's group type values; the store's `setGroup` calls GRP_WORK 'Work' and GRP_MEETING 'Meeting'. */
  readonly GRP_PRIVATE: 'Private';
  readonly GRP_WORK: 'Private';
  readonly GRP_PUBLIC: 'Public';
  readonly GRP_CHATROOM: 'ChatRoom';
  readonly GRP_MEETING: 'ChatRoom';
  readonly GRP_AVCHATROOM: 'AVChatRoom';
  readonly GRP_COMMUNITY: 'Community';
  readonly READ_ALL_C2C_MSG: 'readAllC2CMessage';
  readonly READ_ALL_GROUP_MSG: 'readAllGroupMessage';
  readonly READ_ALL_MSG: 'readAllMessage';
};

/**
 * The SDK's event names. Emitted: MESSAGE_RECEIVED, MESSAGE_READ_BY_PEER,
 * MESSAGE_READ_RECEIPT_RECEIVED, CONVERSATION_LIST_UPDATED and
 * TOTAL_UNREAD_MESSAGE_COUNT_UPDATED. The others can be registered and are
 * never called (the store has no source for them).
 */
export declare const EVENT: {
  readonly SDK_READY: 'sdkStateReady';
  readonly SDK_NOT_READY: 'sdkStateNotReady';
  readonly SDK_DESTROY: 'sdkDestroy';
  readonly MESSAGE_RECEIVED: 'onMessageReceived';
  readonly MESSAGE_MODIFIED: 'onMessageModified';
  readonly MESSAGE_REVOKED: 'onMessageRevoked';
  readonly MESSAGE_READ_BY_PEER: 'onMessageReadByPeer';
  readonly MESSAGE_READ_RECEIPT_RECEIVED: 'onMessageReadReceiptReceived';
  readonly MESSAGE_EXTENSIONS_UPDATED: 'onMessageExtensionsUpdated';
  readonly MESSAGE_EXTENSIONS_DELETED: 'onMessageExtensionsDeleted';
  readonly MESSAGE_REACTIONS_UPDATED: 'onMessageReactionsUpdated';
  readonly CONVERSATION_LIST_UPDATED: 'onConversationListUpdated';
  readonly TOTAL_UNREAD_MESSAGE_COUNT_UPDATED: 'onTotalUnreadMessageCountUpdated';
  readonly CONVERSATION_GROUP_LIST_UPDATED: 'onConversationGroupListUpdated';
  readonly CONVERSATION_IN_GROUP_UPDATED: 'onConversationInGroupUpdated';
  readonly GROUP_LIST_UPDATED: 'onGroupListUpdated';
  readonly GROUP_ATTRIBUTES_UPDATED: 'groupAttributesUpdated';
  readonly GROUP_COUNTER_UPDATED: 'onGroupCounterUpdated';
  readonly TOPIC_CREATED: 'onTopicCreated';
  readonly TOPIC_DELETED: 'onTopicDeleted';
  readonly TOPIC_UPDATED: 'onTopicUpdated';
  readonly PROFILE_UPDATED: 'onProfileUpdated';
  readonly USER_STATUS_UPDATED: 'onUserStatusUpdated';
  readonly BLACKLIST_UPDATED: 'blacklistUpdated';
  readonly FRIEND_LIST_UPDATED: 'onFriendListUpdated';
  readonly FRIEND_GROUP_LIST_UPDATED: 'onFriendGroupListUpdated';
  readonly FRIEND_APPLICATION_LIST_UPDATED: 'onFriendApplicationListUpdated';
  readonly KICKED_OUT: 'kickedOut';
  readonly ERROR: 'error';
  readonly NET_STATE_CHANGE: 'netStateChange';
};

export type EventName = (typeof EVENT)[keyof typeof EVENT];
export type ReadAllScope = (typeof TYPES)['READ_ALL_C2C_MSG' | 'READ_ALL_GROUP_MSG' | 'READ_ALL_MSG'];

/** A message as the facade gives it: the store's message with the SDK's `type`. */
export interface ChatMessage extends Omit<Message, 'payload'> {
  /** A TYPES.MSG_* value; `''` for a message that reached the store without one. */
  type: string;
  payload: Record<string, unknown>;
}

/** A message from the transport: the store's shape plus the SDK's `type`. */
export interface IncomingChatMessage extends IncomingMessage {
  type?: string;
}

/** A conversation's last message: the whole message, plus the SDK's names for some of its fields. */
export interface LastMessage extends ChatMessage {
  lastTime: Int;
  lastSequence: Int;
  fromAccount: string;
  /** The text of a text message; `''` for other types. */
  messageForShow: string;
}

export interface ChatConversation extends Omit<Conversation, 'lastMessage'> {
  lastMessage: LastMessage | null;
}

/** What the facade's promises resolve to. */
export interface ChatResponse<T> {
  code: 0;
  data: T;
}

/** What the facade's promises reject with (a ReceiptDBError for the store's errors). */
export interface ChatError extends Error {
  code: number;
  codeName?: string;
}

/** Each emitted event's `data`; the events never emitted have none. */
export interface EventData {
  onMessageReceived: ChatMessage[];
  onMessageReadByPeer: ChatMessage[];
  onMessageReadReceiptReceived: ReceiptChange[];
  onConversationListUpdated: ChatConversation[];
  onTotalUnreadMessageCountUpdated: Int;
}
export type EventDataOf<E extends EventName> = E extends keyof EventData ? EventData[E] : never;
export interface ChatEvent<E extends EventName> {
  name: E;
  data: EventDataOf<E>;
}

/** What the app does for the server. Every member is optional; what is missing is not sent. */
export interface Transport {
  /** Resolves the server's sequence and time for the message. */
  sendMessage?(message: ChatMessage): Promise<{ sequence: Int; time: Int }>;
  sendReceipts?(batch: { conversationID: string; messageIDs: string[] }): Promise<void | { rejected?: { messageID: string; code: number }[] }>;
  sendReadReports?(reports: ReadReport[]): Promise<unknown>;
}

/** Either an open `store`, or `path` and `userID` to open one. */
export type ChatOptions =
  | { store: ReceiptStore; userID: string; transport?: Transport }
  | { path: string; userID: string; transport?: Transport; store?: undefined };

/** A message, or its ID. */
export type MessageRef = { ID: string } | string;

export declare class Chat {
  constructor(options: ChatOptions);
  readonly userID: string;
  readonly store: ReceiptStore;
  transport: Transport | null;

  /** A new `out` message, `status: "unSend"`. Synchronous, as in the SDK (a Promise in the browser package). */
  createTextMessage(options: {
    to: string; conversationType: ConversationType; payload: { text: string }; needReadReceipt?: boolean;
  }): ChatMessage;
  /** On failure the message becomes `status: "fail"` (in the store and in place) and the promise rejects. */
  sendMessage(message: ChatMessage): Promise<ChatResponse<{ message: ChatMessage }>>;
  getMessageList(options: { conversationID: string; nextReqMessageID?: string | null; count?: Int }):
    Promise<ChatResponse<{ messageList: ChatMessage[]; nextReqMessageID: string | null; isCompleted: boolean }>>;
  findMessage(messageID: string): ChatMessage | null;

  sendMessageReadReceipt(messageList: readonly MessageRef[]): Promise<ChatResponse<{ queued: string[] }>>;
  getMessageReadReceiptList(messageList: readonly MessageRef[]): Promise<ChatResponse<{ messageList: ChatMessage[] }>>;
  /** Deletes up to 30 messages of one conversation from this store for good (PROTOCOL.md, Deleting messages); resolves those deleted now. */
  deleteMessage(messageList: MessageRef | readonly MessageRef[]): Promise<ChatResponse<{ messageList: MessageRef[] }>>;
  /** Deletes every message of a conversation from this store; older history a later sync brings is not saved again. */
  clearHistoryMessage(conversationID: string): Promise<ChatResponse<Record<string, never>>>;
  getGroupMessageReadMemberList(options: { message: MessageRef; filter: 0 | 1; cursor?: string | null; count: Int }):
    Promise<ChatResponse<ResultOf<'getGroupMessageReadMemberList'>>>;
  /** Sends the pending receipts and read reports; resolves how many receipt batches were sent. */
  flushReceipts(): Promise<number>;

  setMessageRead(options: { conversationID: string }): Promise<ChatResponse<{ readSequence?: Int }>>;
  setAllMessageRead(options?: { scope?: ReadAllScope }): Promise<ChatResponse<{ conversations: Int }>>;
  /** All conversations holding messages, the listed ones, or those of one type; `markType`/`groupName` match none. */
  getConversationList(options?: readonly string[] | { type?: string; markType?: number; groupName?: string }):
    Promise<ChatResponse<{ conversationList: ChatConversation[]; isSyncCompleted: boolean }>>;
  getConversationProfile(conversationID: string): Promise<ChatResponse<{ conversation: ChatConversation }>>;
  /** Synchronous, as in the SDK. */
  getTotalUnreadMessageCount(): Int;

  /** Throws a TypeError for a name that is not an EVENT value. */
  on<E extends EventName>(eventName: E, handler: (event: ChatEvent<E>) => void, context?: unknown): void;
  off<E extends EventName>(eventName: E, handler: (event: ChatEvent<E>) => void, context?: unknown): void;

  // What the server pushes (not SDK names).
  receiveMessages(messageList: IncomingChatMessage[]): ResultOf<'saveMessages'>;
  receiveReadReceipts(notifications: ReceiptNotification[]): ResultOf<'applyReceiptNotifications'>;
  receiveReadReports(reports: ParamsOf<'applyReadReports'>['reports']): ResultOf<'applyReadReports'>;

  /** Closes the store. */
  destroy(): Promise<void>;
}

/** As the SDK's `TencentCloudChat.create({...})`. */
export declare function create(options: ChatOptions): Chat;
