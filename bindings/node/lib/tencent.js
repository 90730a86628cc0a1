'use strict';
// A facade with the read-state calls of Tencent Cloud Chat's Web SDK over a
// receiptdb store, so read-state code written for that SDK runs unchanged and
// answers offline. One source for both packages: the Node package's
// tencent.js wraps it over the addon (synchronous), and the browser package's
// lib/tencent.js is generated from this file and runs it over the store in a
// worker (every call a Promise). Methods return Promises of `{code: 0, data}`
// and reject with an Error carrying `{code, message}` (plus `codeName` for the
// store's errors, docs/PROTOCOL.md "Errors"), as that SDK does.
// `createTextMessage`, `findMessage` and `getTotalUnreadMessageCount` are
// synchronous over the addon, as in the SDK; in the browser they return
// Promises (a worker cannot answer at once), so `await` suits both.
//
// What the SDK does on its server, the app does here through a transport it
// provides (each member optional):
//   transport.sendMessage(message)  -> Promise<{sequence, time}>  (the server's)
//   transport.sendReceipts({conversationID, messageIDs}) -> Promise<void | {rejected}>
//   transport.sendReadReports([{conversationID, readSequence}]) -> Promise<void>
// and what the server pushes, the app hands to `receiveMessages`,
// `receiveReadReceipts` and `receiveReadReports`. Receipts and read reports are
// queued durably by the store; a failed transport leaves them queued for
// `flushReceipts` to retry.
//
// Message types: the store has no message-type field, so the facade keeps the
// SDK's `type` with the payload, stored as `{MsgType, MsgContent}` (the
// element encoding of Tencent's server API), and hands back `type` and the
// payload as given. Read the store directly (`chat.store`) and you see that
// encoding.

const { ReceiptDBError, reportListenerError } = require('./common');

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

/**
 * Runs a generator that yields store answers: synchronously while they are
 * values (the Node addon answers at once), as a Promise from the first one
 * that is a Promise (the browser's store answers from its worker). So a call
 * the SDK makes synchronous stays synchronous over a synchronous store, and
 * the facade is one source for both.
 */
function run(gen) {
  let input;
  let failed = false;
  let error;
  for (;;) {
    const step = failed ? gen.throw(error) : gen.next(input);
    failed = false;
    if (step.done) return step.value;
    if (isThenable(step.value)) return resume(gen, step.value);
    input = step.value;
  }
}

async function resume(gen, pending) {
  let value = pending;
  for (;;) {
    let input;
    let failed = false;
    let error;
    try { input = await value; } catch (e) { failed = true; error = e; }
    const step = failed ? gen.throw(error) : gen.next(input);
    if (step.done) return step.value;
    value = step.value;
  }
}

/** The SDK's constants of the read-state surface, with the SDK's values. */
const TYPES = Object.freeze({
  // `message.type`
  MSG_TEXT: 'TIMTextElem',
  MSG_IMAGE: 'TIMImageElem',
  MSG_SOUND: 'TIMSoundElem',
  MSG_AUDIO: 'TIMSoundElem',
  MSG_FILE: 'TIMFileElem',
  MSG_FACE: 'TIMFaceElem',
  MSG_VIDEO: 'TIMVideoFileElem',
  MSG_GEO: 'TIMLocationElem',
  MSG_LOCATION: 'TIMLocationElem',
  MSG_GRP_TIP: 'TIMGroupTipElem',
  MSG_GRP_SYS_NOTICE: 'TIMGroupSystemNoticeElem',
  MSG_CUSTOM: 'TIMCustomElem',
  MSG_MERGER: 'TIMRelayElem',
  // `conversation.type`, `message.conversationType`; the store holds C2C and GROUP only.
  CONV_C2C: 'C2C',
  CONV_GROUP: 'GROUP',
  CONV_TOPIC: 'TOPIC',
  CONV_SYSTEM: '@TIM#SYSTEM',
  // Group types as the SDK spells them. The store's `setGroup` names two of
  // them differently: GRP_WORK is its 'Work', GRP_MEETING its 'Meeting'.
  GRP_PRIVATE: 'Private',
  GRP_WORK: 'Private',
  GRP_PUBLIC: 'Public',
  GRP_CHATROOM: 'ChatRoom',
  GRP_MEETING: 'ChatRoom',
  GRP_AVCHATROOM: 'AVChatRoom',
  GRP_COMMUNITY: 'Community',
  // `setAllMessageRead({scope})`
  READ_ALL_C2C_MSG: 'readAllC2CMessage',
  READ_ALL_GROUP_MSG: 'readAllGroupMessage',
  READ_ALL_MSG: 'readAllMessage',
});

/**
 * The SDK's event names; handlers get `{name, data}`. Five are emitted (see
 * FROM_STORE and `on`); `on` accepts the others too, so SDK code that
 * registers them runs, but their handlers are never called: the store has no
 * source for them (login, network, profiles, groups, revokes, edits).
 */
const EVENT = Object.freeze({
  SDK_READY: 'sdkStateReady',
  SDK_NOT_READY: 'sdkStateNotReady',
  SDK_DESTROY: 'sdkDestroy',
  MESSAGE_RECEIVED: 'onMessageReceived',
  MESSAGE_MODIFIED: 'onMessageModified',
  MESSAGE_REVOKED: 'onMessageRevoked',
  MESSAGE_READ_BY_PEER: 'onMessageReadByPeer',
  MESSAGE_READ_RECEIPT_RECEIVED: 'onMessageReadReceiptReceived',
  MESSAGE_EXTENSIONS_UPDATED: 'onMessageExtensionsUpdated',
  MESSAGE_EXTENSIONS_DELETED: 'onMessageExtensionsDeleted',
  MESSAGE_REACTIONS_UPDATED: 'onMessageReactionsUpdated',
  CONVERSATION_LIST_UPDATED: 'onConversationListUpdated',
  TOTAL_UNREAD_MESSAGE_COUNT_UPDATED: 'onTotalUnreadMessageCountUpdated',
  CONVERSATION_GROUP_LIST_UPDATED: 'onConversationGroupListUpdated',
  CONVERSATION_IN_GROUP_UPDATED: 'onConversationInGroupUpdated',
  GROUP_LIST_UPDATED: 'onGroupListUpdated',
  GROUP_ATTRIBUTES_UPDATED: 'groupAttributesUpdated',
  GROUP_COUNTER_UPDATED: 'onGroupCounterUpdated',
  TOPIC_CREATED: 'onTopicCreated',
  TOPIC_DELETED: 'onTopicDeleted',
  TOPIC_UPDATED: 'onTopicUpdated',
  PROFILE_UPDATED: 'onProfileUpdated',
  USER_STATUS_UPDATED: 'onUserStatusUpdated',
  BLACKLIST_UPDATED: 'blacklistUpdated',
  FRIEND_LIST_UPDATED: 'onFriendListUpdated',
  FRIEND_GROUP_LIST_UPDATED: 'onFriendGroupListUpdated',
  FRIEND_APPLICATION_LIST_UPDATED: 'onFriendApplicationListUpdated',
  KICKED_OUT: 'kickedOut',
  ERROR: 'error',
  NET_STATE_CHANGE: 'netStateChange',
});

const KNOWN_EVENTS = new Set(Object.values(EVENT));

/** How many messages findMessage remembers over an asynchronous store (the newest seen). */
const CACHE_MESSAGES = 10000;

/** SDK events that are store events (docs/PROTOCOL.md "Events"), with how their data is shown. */
const FROM_STORE = {
  [EVENT.MESSAGE_READ_RECEIPT_RECEIVED]: { event: 'MESSAGE_READ_RECEIPT_RECEIVED', map: (data) => data },
  [EVENT.MESSAGE_READ_BY_PEER]: { event: 'MESSAGE_READ_BY_PEER', map: (data) => data.map(toSDKMessage) },
  [EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED]: { event: 'TOTAL_UNREAD_MESSAGE_COUNT_UPDATED', map: (data) => data },
};

// The element types the earlier facade wrote into the payload itself.
const ELEM_TYPES = new Set(Object.entries(TYPES).filter(([k]) => k.startsWith('MSG_')).map(([, v]) => v));

/** Turns anything thrown into the SDK's error shape: an Error with a numeric code. */
function sdkError(e) {
  if (e instanceof ReceiptDBError) return e;
  const err = new Error(e && e.message ? e.message : String(e));
  err.code = e && typeof e.code === 'number' ? e.code : -1;
  return err;
}

/** The store's INVALID_PARAMS error, for bad input the facade itself checks. */
function invalid(message) {
  return new ReceiptDBError({ code: -32602, message: `invalid params: ${message}`, data: { name: 'INVALID_PARAMS' } });
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function idsOf(messageList) {
  if (!Array.isArray(messageList)) throw invalid('messageList must be an array');
  return messageList.map((m) => (m && typeof m === 'object' ? m.ID : m));
}

function wrapPayload(type, payload) {
  return { MsgType: type, MsgContent: payload };
}

/** `{type, payload}` of a stored payload; `type` is '' when the message reached the store without one. */
function unwrapPayload(p) {
  if (isObject(p)) {
    if (Object.keys(p).length === 2 && typeof p.MsgType === 'string' && isObject(p.MsgContent)) {
      return { type: p.MsgType, payload: p.MsgContent };
    }
    // Stores written by the earlier facade hold `{type, ...payload}`.
    if (typeof p.type === 'string' && ELEM_TYPES.has(p.type)) {
      const { type, ...rest } = p;
      return { type, payload: rest };
    }
  }
  return { type: '', payload: p };
}

/** A store message as the SDK shows it: with `type`, and the payload as it was given. */
function toSDKMessage(m) {
  if (!isObject(m)) return m;
  const { type, payload } = unwrapPayload(m.payload);
  return { ...m, payload, type };
}

/** A transport message for the store: its `type` goes into the stored payload. */
function toStoreMessage(m) {
  // Without a payload the store keeps the held one (an update), so there is nothing to wrap.
  if (!isObject(m) || typeof m.type !== 'string' || !isObject(m.payload)) return m;
  const { type, payload, ...rest } = m;
  return { ...rest, payload: wrapPayload(type, payload) };
}

/** A store conversation with the SDK's lastMessage names (lastTime, lastSequence, fromAccount, messageForShow). */
function toSDKConversation(c) {
  if (!isObject(c)) return c;
  let lastMessage = null;
  if (isObject(c.lastMessage)) {
    const m = toSDKMessage(c.lastMessage);
    const text = m.type === TYPES.MSG_TEXT && isObject(m.payload) && typeof m.payload.text === 'string' ? m.payload.text : '';
    lastMessage = { ...m, lastTime: m.time, lastSequence: m.sequence, fromAccount: m.from, messageForShow: text };
  }
  return { ...c, lastMessage };
}

/** Brings the caller's message object up to date, as the SDK's message instances are. */
function refresh(target, latest) {
  if (!isObject(target) || !isObject(latest) || target === latest || !Object.isExtensible(target)) return;
  try { Object.assign(target, latest); } catch { /* a read-only member: the result still carries the state */ }
}

class Chat {
  /**
   * @param {{store: object, userID?: string, transport?: object}} options
   *   an open store: the Node addon's ReceiptStore (synchronous) or the
   *   browser's (every method a Promise)
   */
  constructor(options) {
    const o = options || {};
    if (!o.store || typeof o.store.createMessage !== 'function') {
      throw new TypeError('create({store}): store is an open receiptdb store');
    }
    this.userID = o.userID;
    this.store = o.store;
    this.transport = o.transport || null;
    this._handlers = new Map(); // event name -> [{handler, context}]
    this._connected = new Set(); // event names whose source is hooked up
    this._listPending = false;
    // Over a store that answers later (the browser's), the SDK's synchronous
    // findMessage and getTotalUnreadMessageCount answer from what this facade
    // has seen, as the Web SDK answers from its memory: messages it created,
    // sent, received, listed or read, kept up to date by the store's events.
    this._cache = null;
    this._total = 0;
    const total = this.store.getTotalUnreadMessageCount();
    if (isThenable(total)) {
      this._cache = new Map();
      total.then((t) => { this._total = t.totalUnreadCount; }, () => {});
      this.store.on('TOTAL_UNREAD_MESSAGE_COUNT_UPDATED', (params) => { this._total = params.data; });
      this.store.on('MESSAGE_READ_RECEIPT_RECEIVED', (params) => this._noteReceipts(params.data));
      this.store.on('MESSAGE_READ_BY_PEER', (params) => this._remember(params.data));
    }
  }

  /** Keeps the newest form of messages for findMessage (over an asynchronous store only); returns them. */
  _remember(messages) {
    if (this._cache && Array.isArray(messages)) {
      for (const m of messages) {
        if (!isObject(m) || typeof m.ID !== 'string') continue;
        const sdk = m.type === undefined ? toSDKMessage(m) : m;
        this._cache.delete(sdk.ID); // re-inserted: the newest are kept
        this._cache.set(sdk.ID, sdk);
      }
      while (this._cache.size > CACHE_MESSAGES) this._cache.delete(this._cache.keys().next().value);
    }
    return messages;
  }

  /** A receipt event's figures, into the messages held for findMessage (before any handler runs). */
  _noteReceipts(items) {
    if (!Array.isArray(items)) return;
    for (const { messageID, readCount, unreadCount, isPeerRead } of items) {
      const m = this._cache.get(messageID);
      if (!m) continue;
      this._cache.set(messageID, { ...m, readReceiptInfo: { ...m.readReceiptInfo, readCount, unreadCount, isPeerRead } });
    }
  }

  /** Reads `ids` (one conversation, at most 100) again for findMessage, over an asynchronous store. */
  async _reread(ids) {
    if (!this._cache || ids.length === 0) return;
    try {
      const { messageList } = await this.store.getMessageReadReceiptList({ messageIDs: ids });
      this._remember(messageList);
    } catch { /* the answer the caller gets does not depend on it */ }
  }

  /**
   * The SDK's createTextMessage: a new `out` message (`status: unSend`).
   * Synchronous over a synchronous store, as in the SDK; a Promise over the
   * browser's.
   */
  createTextMessage(options) {
    const { to, conversationType, payload, needReadReceipt = false } = options || {};
    const text = payload && typeof payload.text === 'string' ? payload.text : '';
    const store = this.store;
    const remember = (m) => this._remember([m])[0];
    return run((function* create() {
      return remember(toSDKMessage(yield store.createMessage({
        to, conversationType, payload: wrapPayload(TYPES.MSG_TEXT, { text }), needReadReceipt,
      })));
    })());
  }

  /**
   * Sends through the transport; the server's sequence and time are recorded.
   * Resolves `{code: 0, data: {message}}`. When sending fails the message is
   * recorded as `status: "fail"` and the promise rejects; sending it again
   * retries. The message passed in is updated in place either way, as in the SDK.
   */
  async sendMessage(given) {
    // In the browser createTextMessage answers with a Promise: the SDK's
    // `sendMessage(chat.createTextMessage(...))` still works.
    const message = isThenable(given) ? await given : given;
    if (!isObject(message) || typeof message.ID !== 'string') {
      throw invalid('sendMessage(message): message is a message object from createTextMessage');
    }
    let reply;
    try {
      if (!this.transport || typeof this.transport.sendMessage !== 'function') {
        throw sdkError({ code: -1, message: 'no transport: pass {transport} to create()' });
      }
      reply = await this.transport.sendMessage(message);
    } catch (e) {
      await this._recordFailure(message);
      throw sdkError(e);
    }
    try {
      const { sequence, time } = reply || {};
      const sent = toSDKMessage(await this.store.markMessageSent({ ID: message.ID, sequence, time }));
      this._remember([sent]);
      refresh(message, sent);
      return { code: 0, data: { message: sent } };
    } catch (e) {
      // The server's answer could not be recorded: the message is not known to be sent.
      await this._recordFailure(message);
      throw sdkError(e);
    }
  }

  /** Marks a held, unsent `out` message `fail` (a save with that status: docs/PROTOCOL.md `saveMessages`). */
  async _recordFailure(message) {
    try {
      const held = await this.store.findMessage({ messageID: message.ID });
      if (!held || held.flow !== 'out' || held.status === 'success') return;
      await this.store.saveMessages({ messages: [{
        ID: held.ID, from: held.from, to: held.to, conversationType: held.conversationType, status: 'fail',
      }] });
      const failed = toSDKMessage(await this.store.findMessage({ messageID: held.ID }));
      this._remember([failed]);
      refresh(message, failed);
    } catch {
      // Not a message the store can mark (or the store is closed): the send's own error is what the caller gets.
    }
  }

  /** Resolves `{code: 0, data: {messageList, nextReqMessageID, isCompleted}}`, answered from the store. */
  async getMessageList(options) {
    try {
      const { conversationID, nextReqMessageID, count } = options || {};
      const page = await this.store.getMessageList({ conversationID, nextReqMessageID, count });
      return { code: 0, data: { ...page, messageList: this._remember(page.messageList.map(toSDKMessage)) } };
    } catch (e) { throw sdkError(e); }
  }

  /**
   * Queues read receipts for the messages that need one (others are skipped),
   * durably, then tries to deliver them. Resolves `{code: 0, data: {queued}}`.
   */
  async sendMessageReadReceipt(messageList) {
    let queued;
    try {
      ({ queued } = await this.store.sendMessageReadReceipt({ messageIDs: idsOf(messageList) }));
    } catch (e) { throw sdkError(e); }
    // Delivery failing is not the call failing: the receipts stay in the outbox.
    const sent = await this.flushReceipts().catch(() => 0);
    // Batches delivered were read again as they were acked; what stayed queued is read here.
    if (sent === 0) await this._reread(queued);
    return { code: 0, data: { queued } };
  }

  /**
   * Sends every pending receipt batch, then the pending read reports, through
   * the transport and acks them. Resolves how many receipt batches were sent.
   */
  async flushReceipts() {
    const t = this.transport;
    const receipts = Boolean(t && typeof t.sendReceipts === 'function');
    const reports = Boolean(t && typeof t.sendReadReports === 'function');
    if (!receipts && !reports) return 0;
    const pending = await this.store.getPendingReceipts();
    let sent = 0;
    if (receipts) {
      for (const batch of pending.batches) {
        const reply = await t.sendReceipts({ conversationID: batch.conversationID, messageIDs: batch.messageIDs });
        await this.store.ackReceipts({ batchID: batch.batchID, rejected: (reply && reply.rejected) || [] });
        await this._reread(batch.messageIDs);
        sent += 1;
      }
    }
    if (reports && Array.isArray(pending.readReports) && pending.readReports.length > 0) {
      await t.sendReadReports(pending.readReports);
      await this.store.ackReadReports({ reports: pending.readReports });
    }
    return sent;
  }

  /** Resolves `{code: 0, data: {messageList}}` with each message's current readReceiptInfo. */
  async getMessageReadReceiptList(messageList) {
    try {
      const { messageList: list } = await this.store.getMessageReadReceiptList({ messageIDs: idsOf(messageList) });
      return { code: 0, data: { messageList: this._remember(list.map(toSDKMessage)) } };
    } catch (e) { throw sdkError(e); }
  }

  /**
   * The SDK's deleteMessage, on this store (PROTOCOL.md, Deleting messages):
   * up to 30 messages of one conversation, gone for good. Resolves
   * `{code: 0, data: {messageList}}`: those it deleted now.
   */
  async deleteMessage(messageList) {
    try {
      const list = Array.isArray(messageList) ? messageList : [messageList];
      const { deleted } = await this.store.deleteMessages({ messageIDs: idsOf(list) });
      const gone = new Set(deleted);
      if (this._cache) for (const id of gone) this._cache.delete(id);
      return { code: 0, data: { messageList: list.filter((m) => gone.has(m && typeof m === 'object' ? m.ID : m)) } };
    } catch (e) { throw sdkError(e); }
  }

  /** The SDK's clearHistoryMessage, on this store: every message of the conversation, gone for good. Resolves `{code: 0, data: {}}`. */
  async clearHistoryMessage(conversationID) {
    try {
      await this.store.clearHistory({ conversationID });
      if (this._cache) {
        for (const [id, m] of [...this._cache]) if (m.conversationID === conversationID) this._cache.delete(id);
      }
      return { code: 0, data: {} };
    } catch (e) { throw sdkError(e); }
  }

  /** Resolves `{code: 0, data: {isCompleted, cursor, messageID, isStale, readUserIDList | unreadUserIDList}}`. */
  async getGroupMessageReadMemberList(options) {
    try {
      const { message, filter, cursor = '', count } = options || {};
      const messageID = message && typeof message === 'object' ? message.ID : message;
      return { code: 0, data: await this.store.getGroupMessageReadMemberList({ messageID, filter, cursor: cursor === null ? '' : cursor, count }) };
    } catch (e) { throw sdkError(e); }
  }

  /**
   * The SDK's findMessage: the message or null, synchronously. Over the
   * browser's store: the messages this facade has seen (as the Web SDK finds
   * those in its memory); `chat.store.findMessage` reads any held one.
   */
  findMessage(messageID) {
    if (this._cache) return this._cache.get(messageID) || null;
    const store = this.store;
    return run((function* find() {
      return toSDKMessage(yield store.findMessage({ messageID }));
    })());
  }

  /**
   * The SDK's setMessageRead({conversationID}): the conversation's unread
   * count drops to 0 and a read report is queued for the server (sent by
   * `flushReceipts` through `transport.sendReadReports`). Sends no receipts.
   * Resolves `{code: 0, data: {readSequence}}`.
   */
  async setMessageRead(options) {
    let result;
    try {
      const { conversationID } = options || {};
      result = await this.store.setMessageRead({ conversationID });
    } catch (e) { throw sdkError(e); }
    await this.flushReceipts().catch(() => {});
    return { code: 0, data: result };
  }

  /**
   * The SDK's setAllMessageRead({scope}): every C2C conversation
   * (READ_ALL_C2C_MSG), every group one (READ_ALL_GROUP_MSG) or both
   * (READ_ALL_MSG, the default). Resolves `{code: 0, data: {conversations}}`,
   * the number of conversations that had unread messages.
   */
  async setAllMessageRead(options) {
    let result;
    try {
      const scope = options && options.scope != null ? options.scope : TYPES.READ_ALL_MSG;
      if (scope === TYPES.READ_ALL_MSG) {
        result = await this.store.setAllMessageRead();
      } else if (scope === TYPES.READ_ALL_C2C_MSG || scope === TYPES.READ_ALL_GROUP_MSG) {
        // The store's setAllMessageRead has no scope: one conversation at a time.
        const type = scope === TYPES.READ_ALL_C2C_MSG ? TYPES.CONV_C2C : TYPES.CONV_GROUP;
        const ids = (await run(this._allConversations()))
          .filter((c) => c.type === type && c.unreadCount > 0).map((c) => c.conversationID);
        for (const conversationID of ids) await this.store.setMessageRead({ conversationID });
        result = { conversations: ids.length };
      } else {
        throw invalid(`scope must be a TYPES.READ_ALL_* value, not ${String(scope).slice(0, 64)}`);
      }
    } catch (e) { throw sdkError(e); }
    await this.flushReceipts().catch(() => {});
    return { code: 0, data: result };
  }

  /**
   * The SDK's getConversationList: every conversation holding messages
   * (no options), the listed ones that do (an array of IDs), or those of one
   * `{type}`. The store keeps no conversation marks or conversation groups, so
   * a `markType` or `groupName` filter matches none. Resolves
   * `{code: 0, data: {conversationList, isSyncCompleted: true}}`, newest first.
   */
  async getConversationList(options) {
    try {
      let list;
      if (options === undefined || options === null) {
        list = await run(this._allConversations());
      } else if (Array.isArray(options)) {
        if (options.length === 0) throw invalid('the list of conversation IDs is empty');
        list = [];
        for (const conversationID of new Set(options)) {
          const c = await this.store.getConversation({ conversationID });
          if (c.lastMessage !== null) list.push(c);
        }
      } else if (typeof options === 'object') {
        const { type, markType, groupName } = options;
        list = markType != null || groupName != null ? []
          : (await run(this._allConversations())).filter((c) => type == null || c.type === type);
      } else {
        throw invalid('options must be absent, an array of conversation IDs, or {type}');
      }
      return { code: 0, data: { conversationList: list.map(toSDKConversation), isSyncCompleted: true } };
    } catch (e) { throw sdkError(e); }
  }

  /** The SDK's getConversationProfile(conversationID): resolves `{code: 0, data: {conversation}}`. */
  async getConversationProfile(conversationID) {
    try {
      return { code: 0, data: { conversation: toSDKConversation(await this.store.getConversation({ conversationID })) } };
    } catch (e) { throw sdkError(e); }
  }

  /**
   * The SDK's getTotalUnreadMessageCount(): a number, synchronously. Over the
   * browser's store: the last total the store reported (at open, then in
   * every TOTAL_UNREAD_MESSAGE_COUNT_UPDATED).
   */
  getTotalUnreadMessageCount() {
    if (this._cache) return this._total;
    const store = this.store;
    return run((function* total() {
      return (yield store.getTotalUnreadMessageCount()).totalUnreadCount;
    })());
  }

  /** Every conversation that holds messages, newest first (a generator for `run`). */
  * _allConversations() {
    const all = [];
    let cursor = '';
    for (;;) {
      const page = yield this.store.getConversationList({ cursor, count: 100 });
      all.push(...page.conversationList);
      if (page.isCompleted || page.conversationList.length === 0) return all;
      cursor = page.cursor;
    }
  }
  /**
   * Registers an SDK-style handler (called as `handler.call(context, {name, data})`).
   * Emitted: MESSAGE_READ_RECEIPT_RECEIVED, MESSAGE_READ_BY_PEER and
   * TOTAL_UNREAD_MESSAGE_COUNT_UPDATED (the store's events, as they happen);
   * MESSAGE_RECEIVED (by `receiveMessages`, for messages new to the store);
   * CONVERSATION_LIST_UPDATED (the whole list, once after each call that
   * changed any conversation, in a microtask). Any other EVENT name is
   * accepted and never called. An unknown name throws a TypeError.
   */
  on(eventName, handler, context) {
    if (!KNOWN_EVENTS.has(eventName)) {
      throw new TypeError(`unknown event ${String(eventName).slice(0, 64)}: use a TencentCloudChat.EVENT value`);
    }
    if (typeof handler !== 'function') throw new TypeError('on(eventName, handler): handler is a function');
    let list = this._handlers.get(eventName);
    if (!list) { list = []; this._handlers.set(eventName, list); }
    list.push({ handler, context });
    this._connect(eventName);
  }

  /** Removes the latest registration of `handler` (with that `context`, when one is given). */
  off(eventName, handler, context) {
    const list = this._handlers.get(eventName);
    if (!list) return;
    for (let i = list.length - 1; i >= 0; i -= 1) {
      if (list[i].handler === handler && (context === undefined || list[i].context === context)) {
        list.splice(i, 1);
        return;
      }
    }
  }

  _hasHandlers(eventName) {
    const list = this._handlers.get(eventName);
    return Boolean(list && list.length > 0);
  }

  _emit(eventName, data) {
    const list = this._handlers.get(eventName);
    if (!list || list.length === 0) return;
    const event = { name: eventName, data };
    // A copy, so `off` inside a handler does not skip the next one.
    for (const { handler, context } of [...list]) {
      try { handler.call(context, event); } catch (e) { reportListenerError(e); }
    }
  }

  /** Hooks up the source of an event once, on its first registration. */
  _connect(eventName) {
    if (this._connected.has(eventName)) return;
    const source = FROM_STORE[eventName];
    if (source) {
      this.store.on(source.event, (params) => {
        if (this._hasHandlers(eventName)) this._emit(eventName, source.map(params.data));
      });
    } else if (eventName === EVENT.CONVERSATION_LIST_UPDATED) {
      let asked;
      try {
        // Left on afterwards: the store may be shared, and someone else may have asked for it too.
        asked = this.store.subscribe({ events: ['CONVERSATION_CHANGED'] });
      } catch {
        return; // a closed store changes nothing; the next registration tries again
      }
      // The browser's store answers later; a refusal there also lets the next registration try again.
      if (isThenable(asked)) asked.catch(() => this._connected.delete(eventName));
      this.store.on('CONVERSATION_CHANGED', () => this._scheduleConversationList());
    }
    this._connected.add(eventName);
  }

  /** One CONVERSATION_LIST_UPDATED for all the conversations a call changed. */
  _scheduleConversationList() {
    if (this._listPending) return;
    this._listPending = true;
    queueMicrotask(async () => {
      this._listPending = false;
      if (!this._hasHandlers(EVENT.CONVERSATION_LIST_UPDATED)) return;
      let list;
      try {
        list = (await run(this._allConversations())).map(toSDKConversation);
      } catch {
        return; // destroyed meanwhile: nothing left to show
      }
      this._emit(EVENT.CONVERSATION_LIST_UPDATED, list);
    });
  }

  // What the server pushes. Not SDK names: the SDK does this inside.

  /**
   * Messages the server delivered (pushed or synced), each with the SDK's
   * `type` and `payload`. MESSAGE_RECEIVED handlers get those new to the store.
   * Answers as the store does: at once over a synchronous store, a Promise
   * over the browser's.
   */
  receiveMessages(messageList) {
    return run(this._receiveMessages(messageList));
  }

  * _receiveMessages(messageList) {
    const fresh = this._hasHandlers(EVENT.MESSAGE_RECEIVED) ? yield* this._notHeld(messageList) : [];
    const result = yield this.store.saveMessages({
      messages: Array.isArray(messageList) ? messageList.map(toStoreMessage) : messageList,
    });
    if (this._cache && Array.isArray(messageList)) {
      // As stored (flow, readReceiptInfo, receiptSentState), for findMessage.
      for (const m of messageList) {
        if (!isObject(m) || typeof m.ID !== 'string') continue;
        this._remember([yield this.store.findMessage({ messageID: m.ID })]);
      }
    }
    if (fresh.length > 0) {
      const data = [];
      for (const messageID of fresh) {
        // Just read into the cache when there is one.
        const m = (this._cache && this._cache.get(messageID)) || toSDKMessage(yield this.store.findMessage({ messageID }));
        if (isObject(m)) data.push(m);
      }
      if (data.length > 0) this._emit(EVENT.MESSAGE_RECEIVED, data);
    }
    return result;
  }

  /** IDs in `messageList` the store does not hold yet, each once. */
  * _notHeld(messageList) {
    if (!Array.isArray(messageList)) return [];
    const ids = new Set();
    for (const m of messageList) {
      if (!isObject(m) || typeof m.ID !== 'string' || ids.has(m.ID)) continue;
      try {
        if ((yield this.store.findMessage({ messageID: m.ID })) === null) ids.add(m.ID);
      } catch {
        // A bad ID: saveMessages refuses the whole call.
      }
    }
    return [...ids];
  }

  /** Receipts the server delivered: `[{messageID, conversationID?, groupID?, userID?, readCount?, unreadCount?, isPeerRead?}]`. */
  receiveReadReceipts(notifications) {
    return this.store.applyReceiptNotifications({ notifications });
  }

  /**
   * Read reports the server delivered: `[{conversationID, readSequence?, peerReadSequence?}]`,
   * the owner's position read on another device, or how far the C2C peer read
   * (MESSAGE_READ_BY_PEER).
   */
  receiveReadReports(reports) {
    return this.store.applyReadReports({ reports });
  }

  /** Closes the store. */
  destroy() {
    this._handlers.clear();
    return Promise.resolve(this.store.close()).then(() => undefined);
  }
}

/** As the SDK's `create`: `TencentCloudChat.create({...})`. */
function create(options) {
  return new Chat(options);
}

module.exports = { create, Chat, TYPES, EVENT };
