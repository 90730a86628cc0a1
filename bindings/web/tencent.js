// The Tencent-style facade in the browser: lib/tencent.js, generated from the
// Node package's lib/tencent.js (one source), over a store in a worker. Every
// call returns a Promise here, createTextMessage, findMessage and
// getTotalUnreadMessageCount included (a worker cannot answer at once).
import { Chat, TYPES, EVENT } from './lib/tencent.js';
import { openStore } from './index.js';

export { Chat, TYPES, EVENT };

/** As the SDK's `create`, over a store from `openStore`: `create({store, userID, transport})`. */
export function create(options) {
  return new Chat(options);
}

/**
 * Opens the store `name` for `userID` (as `openStore`) and resolves with a
 * facade over it; `destroy()` closes the store.
 */
export async function open({ name, userID, durability, transport } = {}) {
  const store = await openStore({ name, userID, durability });
  return new Chat({ store, userID, transport });
}
