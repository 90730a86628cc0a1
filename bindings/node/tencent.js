'use strict';
// A facade with the read-receipt method names of Tencent Cloud Chat's Web SDK,
// over a receiptdb store, so receipt code written for that SDK runs unchanged
// and answers offline. Methods return Promises of `{data}` and reject with an
// Error carrying `{code, message}` (plus `codeName`), as that SDK does.
//
// What the SDK does on its server, the app does here through a transport it
// provides:
//   transport.sendMessage(message)  -> Promise<{sequence, time}>  (the server's)
//   transport.sendReceipts({conversationID, messageIDs}) -> Promise<void | {rejected}>
// and what the server pushes, the app hands to `receiveMessages` and
// `receiveReadReceipts`. Receipts are queued durably before
// sendMessageReadReceipt resolves; a failed transport leaves them queued for
// `flushReceipts` to retry.

const { ReceiptStore, ReceiptDBError } = require('./index');

/** The SDK's constant names this facade uses. */
const TYPES = Object.freeze({
  CONV_C2C: 'C2C',
  CONV_GROUP: 'GROUP',
  MSG_TEXT: 'TIMTextElem',
});

/** Event names as the SDK spells them; handlers get `{name, data}`. */
const EVENT = Object.freeze({
  MESSAGE_READ_RECEIPT_RECEIVED: 'onMessageReadReceiptReceived',
});

const STORE_EVENT = { [EVENT.MESSAGE_READ_RECEIPT_RECEIVED]: 'MESSAGE_READ_RECEIPT_RECEIVED' };

/** Turns anything thrown into the SDK's error shape: an Error with a numeric code. */
function sdkError(e) {
  if (e instanceof ReceiptDBError) return e;
  const err = new Error(e && e.message ? e.message : String(e));
  err.code = e && typeof e.code === 'number' ? e.code : -1;
  return err;
}

function idsOf(messageList) {
  if (!Array.isArray(messageList)) {
    throw new ReceiptDBError({ code: -32602, message: 'invalid params: messageList must be an array', data: { name: 'INVALID_PARAMS' } });
  }
  return messageList.map((m) => (m && typeof m === 'object' ? m.ID : m));
}

class Chat {
  /**
   * @param {{store?: ReceiptStore, path?: string, userID: string, transport?: object}} options
   *   either an open `store`, or `path` and `userID` to open one
   */
  constructor(options) {
    this.userID = options.userID;
    this.store = options.store || new ReceiptStore(options.path, options.userID);
    this.transport = options.transport || null;
    this._handlers = new Map(); // sdk handler -> store listener
  }

  /** The SDK's createTextMessage: a new `out` message (`status: unSend`). Synchronous, as in the SDK. */
  createTextMessage({ to, conversationType, payload, needReadReceipt = false }) {
    const text = payload && typeof payload.text === 'string' ? payload.text : '';
    return this.store.createMessage({ to, conversationType, payload: { type: TYPES.MSG_TEXT, text }, needReadReceipt });
  }

  /** Sends through the transport; the server's sequence and time are recorded. Resolves `{data: {message}}`. */
  async sendMessage(message) {
    try {
      if (!this.transport || typeof this.transport.sendMessage !== 'function') {
        throw sdkError({ code: -1, message: 'no transport: pass {transport} to create()' });
      }
      const { sequence, time } = await this.transport.sendMessage(message);
      return { data: { message: this.store.markMessageSent({ ID: message.ID, sequence, time }) } };
    } catch (e) {
      throw sdkError(e);
    }
  }

  /** Resolves `{data: {messageList, nextReqMessageID, isCompleted}}`, answered from the store. */
  async getMessageList({ conversationID, nextReqMessageID, count } = {}) {
    try {
      return { data: this.store.getMessageList({ conversationID, nextReqMessageID, count }) };
    } catch (e) { throw sdkError(e); }
  }

  /**
   * Queues read receipts for the messages that need one (others are skipped),
   * durably, then tries to deliver them. Resolves `{data: {queued}}`.
   */
  async sendMessageReadReceipt(messageList) {
    let queued;
    try {
      ({ queued } = this.store.sendMessageReadReceipt({ messageIDs: idsOf(messageList) }));
    } catch (e) { throw sdkError(e); }
    // Delivery failing is not the call failing: the receipts stay in the outbox.
    await this.flushReceipts().catch(() => {});
    return { data: { queued } };
  }

  /** Sends every pending receipt batch through the transport and acks it. Resolves how many batches were sent. */
  async flushReceipts() {
    if (!this.transport || typeof this.transport.sendReceipts !== 'function') return 0;
    let sent = 0;
    for (const batch of this.store.getPendingReceipts().batches) {
      const reply = await this.transport.sendReceipts({ conversationID: batch.conversationID, messageIDs: batch.messageIDs });
      this.store.ackReceipts({ batchID: batch.batchID, rejected: (reply && reply.rejected) || [] });
      sent += 1;
    }
    return sent;
  }

  /** Resolves `{data: {messageList}}` with each message's current readReceiptInfo. */
  async getMessageReadReceiptList(messageList) {
    try {
      return { data: this.store.getMessageReadReceiptList({ messageIDs: idsOf(messageList) }) };
    } catch (e) { throw sdkError(e); }
  }

  /** Resolves `{data: {isCompleted, cursor, messageID, readUserIDList | unreadUserIDList}}`. */
  async getGroupMessageReadMemberList({ message, filter, cursor = '', count } = {}) {
    try {
      const messageID = message && typeof message === 'object' ? message.ID : message;
      return { data: this.store.getGroupMessageReadMemberList({ messageID, filter, cursor: cursor === null ? '' : cursor, count }) };
    } catch (e) { throw sdkError(e); }
  }

  /** The SDK's findMessage: the message or null, synchronously. */
  findMessage(messageID) {
    return this.store.findMessage({ messageID });
  }

  /** Registers an SDK-style handler: it gets `{name, data}`. */
  on(eventName, handler) {
    const storeEvent = STORE_EVENT[eventName];
    if (!storeEvent) throw new TypeError(`unknown event ${eventName}`);
    const listener = (params) => handler({ name: eventName, data: params.data });
    let byEvent = this._handlers.get(eventName);
    if (!byEvent) { byEvent = new Map(); this._handlers.set(eventName, byEvent); }
    const list = byEvent.get(handler) || [];
    list.push(listener);
    byEvent.set(handler, list);
    this.store.on(storeEvent, listener);
  }

  /** Removes one registration of `handler`. */
  off(eventName, handler) {
    const byEvent = this._handlers.get(eventName);
    const list = byEvent && byEvent.get(handler);
    if (!list || list.length === 0) return;
    this.store.off(STORE_EVENT[eventName], list.pop());
    if (list.length === 0) byEvent.delete(handler);
  }

  // What the server pushes. Not SDK names: the SDK does this inside.

  /** Messages the server delivered (pushed or synced). */
  receiveMessages(messageList) {
    return this.store.saveMessages({ messages: messageList });
  }

  /** Receipts the server delivered: `[{messageID, conversationID?, groupID?, userID?, readCount?, unreadCount?, isPeerRead?}]`. */
  receiveReadReceipts(notifications) {
    return this.store.applyReceiptNotifications({ notifications });
  }

  /** Closes the store. */
  destroy() {
    this.store.close();
    return Promise.resolve();
  }
}

/** As the SDK's `create`: `TencentCloudChat.create({...})`. */
function create(options) {
  return new Chat(options);
}

module.exports = { create, Chat, TYPES, EVENT };
