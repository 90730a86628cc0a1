// Types of `receiptdb/rpc-client`: the same store over a `receiptdb rpc` process, as Promises.
import { EventName, Events, MethodName, ParamsOf, ResultOf, ReceiptDBError, OptionalEventName } from './lib/types';
export * from './lib/types';

export interface RpcOptions {
  /** The `receiptdb` binary (default: $RECEIPTDB_BIN, else target/release/receiptdb of this repository). */
  binary?: string;
  events?: OptionalEventName[];
}

export declare class RpcReceiptStore {
  /** Spawns the server; rejects with a ReceiptDBError when the store cannot be opened. */
  static open(path: string, userID: string, options?: RpcOptions): Promise<RpcReceiptStore>;
  readonly isOpen: boolean;
  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<ResultOf<M>>;
  call(method: string, params?: unknown): Promise<unknown>;
  on<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  off<E extends EventName>(event: E, listener: (params: Events[E]) => void): this;
  /** Ends the server's input and resolves when it has exited. Idempotent. */
  close(): Promise<void>;
  setReceiptConfig(params: ParamsOf<'setReceiptConfig'>): Promise<ResultOf<'setReceiptConfig'>>;
  getReceiptConfig(params?: ParamsOf<'getReceiptConfig'>): Promise<ResultOf<'getReceiptConfig'>>;
  setGroup(params: ParamsOf<'setGroup'>): Promise<ResultOf<'setGroup'>>;
  addGroupMembers(params: ParamsOf<'addGroupMembers'>): Promise<ResultOf<'addGroupMembers'>>;
  removeGroupMembers(params: ParamsOf<'removeGroupMembers'>): Promise<ResultOf<'removeGroupMembers'>>;
  createMessage(params: ParamsOf<'createMessage'>): Promise<ResultOf<'createMessage'>>;
  markMessageSent(params: ParamsOf<'markMessageSent'>): Promise<ResultOf<'markMessageSent'>>;
  saveMessages(params: ParamsOf<'saveMessages'>): Promise<ResultOf<'saveMessages'>>;
  findMessage(params: ParamsOf<'findMessage'>): Promise<ResultOf<'findMessage'>>;
  getMessageList(params: ParamsOf<'getMessageList'>): Promise<ResultOf<'getMessageList'>>;
  getConversation(params: ParamsOf<'getConversation'>): Promise<ResultOf<'getConversation'>>;
  getConversationList(params?: ParamsOf<'getConversationList'>): Promise<ResultOf<'getConversationList'>>;
  setMessageRead(params: ParamsOf<'setMessageRead'>): Promise<ResultOf<'setMessageRead'>>;
  setAllMessageRead(params?: ParamsOf<'setAllMessageRead'>): Promise<ResultOf<'setAllMessageRead'>>;
  getTotalUnreadMessageCount(params?: ParamsOf<'getTotalUnreadMessageCount'>): Promise<ResultOf<'getTotalUnreadMessageCount'>>;
  sendMessageReadReceipt(params: ParamsOf<'sendMessageReadReceipt'>): Promise<ResultOf<'sendMessageReadReceipt'>>;
  getMessageReadReceiptList(params: ParamsOf<'getMessageReadReceiptList'>): Promise<ResultOf<'getMessageReadReceiptList'>>;
  getGroupMessageReadMemberList(params: ParamsOf<'getGroupMessageReadMemberList'>): Promise<ResultOf<'getGroupMessageReadMemberList'>>;
  getPendingReceipts(params?: ParamsOf<'getPendingReceipts'>): Promise<ResultOf<'getPendingReceipts'>>;
  ackReadReports(params: ParamsOf<'ackReadReports'>): Promise<ResultOf<'ackReadReports'>>;
  ackReceipts(params: ParamsOf<'ackReceipts'>): Promise<ResultOf<'ackReceipts'>>;
  applyReceiptNotifications(params: ParamsOf<'applyReceiptNotifications'>): Promise<ResultOf<'applyReceiptNotifications'>>;
  applySnapshot(params: ParamsOf<'applySnapshot'>): Promise<ResultOf<'applySnapshot'>>;
  applyReadReports(params: ParamsOf<'applyReadReports'>): Promise<ResultOf<'applyReadReports'>>;
  subscribe(params?: ParamsOf<'subscribe'>): Promise<ResultOf<'subscribe'>>;
  unsubscribe(params?: ParamsOf<'unsubscribe'>): Promise<ResultOf<'unsubscribe'>>;
}

export declare const DEFAULT_BINARY: string;
export declare const METHODS: readonly MethodName[];
export declare const EVENTS: readonly EventName[];
export { ReceiptDBError };
