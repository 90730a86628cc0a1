'use strict';
// The Tencent-style facade over the Node addon: lib/tencent.js (shared with
// the browser package) with a store opened from `path` and `userID` when none
// is given. What each call does is documented there and in tencent.d.ts.

const { ReceiptStore } = require('./index');
const core = require('./lib/tencent');

class Chat extends core.Chat {
  /**
   * @param {{store?: ReceiptStore, path?: string, userID: string, transport?: object}} options
   *   either an open `store`, or `path` and `userID` to open one
   */
  constructor(options) {
    const o = options || {};
    super({ ...o, store: o.store || new ReceiptStore(o.path, o.userID) });
  }
}

/** As the SDK's `create`: `TencentCloudChat.create({...})`. */
function create(options) {
  return new Chat(options);
}

module.exports = { create, Chat, TYPES: core.TYPES, EVENT: core.EVENT };
