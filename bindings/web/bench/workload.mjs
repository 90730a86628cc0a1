// The browser-vs-native workload (BENCHMARKS.md): the same calls, written
// once, over any receiptdb store whose methods answer values or Promises
// (the Node addon, or receiptdb-web in a page). Standard JavaScript only.

const MEMBERS = 1000;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Median µs a call over `n` calls, timed `group` calls at a time: a page's
 * clock is coarse (100 µs in Chromium without cross-origin isolation), so
 * short calls are timed in groups.
 */
async function timeEach(n, body, group = 1) {
  const out = [];
  for (let i = 0; i + group <= n; i += group) {
    const t = performance.now();
    for (let j = i; j < i + group; j += 1) await body(j);
    out.push(((performance.now() - t) * 1000) / group);
  }
  return median(out);
}

/** Resolves `{send30, notify1000, page100}`: median µs a call. */
export async function runWorkload(store, { sends = 40, notifies = 30, pages = 400 } = {}) {
  const members = [{ userID: 'alice' }];
  for (let i = 0; i < MEMBERS; i += 1) members.push({ userID: `u${String(i).padStart(4, '0')}` });
  await store.setGroup({ groupID: 'team', groupType: 'Work', members });
  // `in` messages for the receipts (30 new ones a call), `out` ones for the notifications.
  const incoming = [];
  for (let i = 0; i < 30 * (sends + 1); i += 1) {
    incoming.push({ ID: `in${i}`, conversationType: 'GROUP', from: 'u0000', to: 'team', time: 1000 + i, sequence: 1 + i, needReadReceipt: true });
  }
  for (let i = 0; i < incoming.length; i += 1000) await store.saveMessages({ messages: incoming.slice(i, i + 1000) });
  const outgoing = [];
  for (let i = 0; i < notifies + 1; i += 1) {
    outgoing.push({ ID: `out${i}`, conversationType: 'GROUP', from: 'alice', to: 'team', time: 100000 + i, sequence: 100000 + i, needReadReceipt: true, status: 'success' });
  }
  await store.saveMessages({ messages: outgoing });
  const readers = members.slice(1).map((m) => m.userID);

  const send30 = await timeEach(sends, (i) => store.sendMessageReadReceipt({
    messageIDs: incoming.slice(30 * (i + 1), 30 * (i + 2)).map((m) => m.ID),
  }));
  const notify1000 = await timeEach(notifies, (i) => store.applyReceiptNotifications({
    notifications: [{ messageID: `out${i + 1}`, groupID: 'team', readerIDs: readers }],
  }));
  await store.applyReceiptNotifications({ notifications: [{ messageID: 'out0', groupID: 'team', readerIDs: readers }] });
  const page100 = await timeEach(pages, () => store.getGroupMessageReadMemberList({
    messageID: 'out0', filter: 0, cursor: '', count: 100,
  }), 20);
  return { send30, notify1000, page100 };
}
