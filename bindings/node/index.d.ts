// Types of the `receiptdb` package (SPEC §6.1): the in-process store.
import { EventName, Events, MethodName, ParamsOf, ResultOf, ReceiptDBError, OptionalEventName } from './lib/types';
export * from './lib/types';

export interface ReceiptStoreOptions {
  /** Opt-in events to turn on at open (the `subscribe` method). */
  events?: OptionalEventName[];
}

/**
 * One user's store, in this thread. Calls are synchronous and return `result`;
 * a failure throws a ReceiptDBError. Listeners run before the call that caused
 * their event returns, in commit order. Integers beyond Number's safe range
 * come back as `bigint` (see `Int`); params take `bigint` too, and NaN or
 * ±Infinity anywhere in them throws INVALID_PARAMS.
 */
export declare class ReceiptStore {
  /** Throws a ReceiptDBError (e.g. OWNER_MISMATCH, STORE_CORRUPT) when the store cannot be opened. */
  constructor(path: string, userID: string, options?: ReceiptStoreOptions);
  readonly isOpen: boolean;
  call<M extends MethodName>(method: M, params?: ParamsOf<M>): ResultOf<M>;
  call(method: string, params?: unknown): unknown;
  on<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  off<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  /** Idempotent; later calls throw STORE_CLOSED. */
  close(): void;
  setReceiptConfig(params: ParamsOf<'setReceiptConfig'>): ResultOf<'setReceiptConfig'>;
  getReceiptConfig(params?: ParamsOf<'getReceiptConfig'>): ResultOf<'getReceiptConfig'>;
  setGroup(params: ParamsOf<'setGroup'>): ResultOf<'setGroup'>;
  addGroupMembers(params: ParamsOf<'addGroupMembers'>): ResultOf<'addGroupMembers'>;
  removeGroupMembers(params: ParamsOf<'removeGroupMembers'>): ResultOf<'removeGroupMembers'>;
  createMessage(params: ParamsOf<'createMessage'>): ResultOf<'createMessage'>;
  markMessageSent(params: ParamsOf<'markMessageSent'>): ResultOf<'markMessageSent'>;
  saveMessages(params: ParamsOf<'saveMessages'>): ResultOf<'saveMessages'>;
  findMessage(params: ParamsOf<'findMessage'>): ResultOf<'findMessage'>;
  getMessageList(params: ParamsOf<'getMessageList'>): ResultOf<'getMessageList'>;
  getConversation(params: ParamsOf<'getConversation'>): ResultOf<'getConversation'>;
  getConversationList(params?: ParamsOf<'getConversationList'>): ResultOf<'getConversationList'>;
  setMessageRead(params: ParamsOf<'setMessageRead'>): ResultOf<'setMessageRead'>;
  setAllMessageRead(params?: ParamsOf<'setAllMessageRead'>): ResultOf<'setAllMessageRead'>;
  getTotalUnreadMessageCount(params?: ParamsOf<'getTotalUnreadMessageCount'>): ResultOf<'getTotalUnreadMessageCount'>;
  sendMessageReadReceipt(params: ParamsOf<'sendMessageReadReceipt'>): ResultOf<'sendMessageReadReceipt'>;
  getMessageReadReceiptList(params: ParamsOf<'getMessageReadReceiptList'>): ResultOf<'getMessageReadReceiptList'>;
  getGroupMessageReadMemberList(params: ParamsOf<'getGroupMessageReadMemberList'>): ResultOf<'getGroupMessageReadMemberList'>;
  getPendingReceipts(params?: ParamsOf<'getPendingReceipts'>): ResultOf<'getPendingReceipts'>;
  ackReadReports(params: ParamsOf<'ackReadReports'>): ResultOf<'ackReadReports'>;
  ackReceipts(params: ParamsOf<'ackReceipts'>): ResultOf<'ackReceipts'>;
  applyReceiptNotifications(params: ParamsOf<'applyReceiptNotifications'>): ResultOf<'applyReceiptNotifications'>;
  applySnapshot(params: ParamsOf<'applySnapshot'>): ResultOf<'applySnapshot'>;
  applyReadReports(params: ParamsOf<'applyReadReports'>): ResultOf<'applyReadReports'>;
  subscribe(params?: ParamsOf<'subscribe'>): ResultOf<'subscribe'>;
  unsubscribe(params?: ParamsOf<'unsubscribe'>): ResultOf<'unsubscribe'>;
}

export declare const METHODS: readonly MethodName[];
export declare const EVENTS: readonly EventName[];
export { ReceiptDBError };
