'use strict';
// `cd bindings/node/bench && npm install && npm run vs-better-sqlite3` (after
// `npm run build` in bindings/node): the addon against what an Electron
// developer writes by hand, a receipts table on better-sqlite3, in one Node
// process, on one workload, the sides alternating, ROUNDS times; prints the
// medians and ratios as a Markdown table for BENCHMARKS.md.
//
// The hand-written store is the 20 lines below (`Handwritten`): a
// (message_id, reader_id) WITHOUT ROWID table in WAL, `INSERT OR IGNORE` per
// receipt, keyset pages of 100, `count(*)`. The addon does more for the same
// call: the audience rule, stored counts, events, the conversation's state.
// Both sides run at the same `synchronous` (NORMAL, then FULL).

const fs = require('fs');
const os = require('os');
const path = require('path');
const Database = require('better-sqlite3');
const { ReceiptStore } = require('..');

const ROUNDS = Number(process.env.ROUNDS || 5);
const MESSAGES = 10;
const READERS = 10000;
const SINGLES = Number(process.env.SINGLES || 2000);
const COUNTS = 2000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'receiptdb-vs-bs3-'));

const readers = [];
for (let i = 0; i < READERS; i++) readers.push(`u${String(i).padStart(5, '0')}`);

class Handwritten {
  constructor(file, synchronous) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.exec('CREATE TABLE IF NOT EXISTS receipts (message_id TEXT NOT NULL, reader_id TEXT NOT NULL, PRIMARY KEY (message_id, reader_id)) WITHOUT ROWID');
    this.insert = this.db.prepare('INSERT OR IGNORE INTO receipts (message_id, reader_id) VALUES (?, ?)');
    this.page = this.db.prepare('SELECT reader_id FROM receipts WHERE message_id = ? AND reader_id > ? ORDER BY reader_id LIMIT ?').pluck();
    this.counter = this.db.prepare('SELECT count(*) FROM receipts WHERE message_id = ?').pluck();
    this.batch = this.db.transaction((notes) => {
      for (const n of notes) for (const r of n.readerIDs) this.insert.run(n.messageID, r);
    });
  }
  save(notes) { this.batch(notes); }
  saveOne(messageID, reader) { this.insert.run(messageID, reader); }
  readPage(messageID, after) { return this.page.all(messageID, after, 100); }
  count(messageID) { return this.counter.get(messageID); }
  close() { this.db.close(); }
}

/** The addon behind the same four calls. */
class Addon {
  constructor(file, durability) {
    this.store = new ReceiptStore(file, 'alice', { durability });
    const members = [{ userID: 'alice' }, ...readers.map((userID) => ({ userID }))];
    this.store.setGroup({ groupID: 'team', groupType: 'Work', members });
    const messages = [];
    for (let m = 0; m < MESSAGES + 1; m++) {
      messages.push({ ID: `m${m}`, conversationType: 'GROUP', from: 'alice', to: 'team', time: 10 + m, sequence: 1 + m, needReadReceipt: true, status: 'success' });
    }
    this.store.saveMessages({ messages });
  }
  save(notes) { this.store.applyReceiptNotifications({ notifications: notes.map((n) => ({ ...n, groupID: 'team' })) }); }
  saveOne(messageID, reader) {
    this.store.applyReceiptNotifications({ notifications: [{ messageID, groupID: 'team', readerIDs: [reader] }] });
  }
  readPage(messageID, cursor) {
    return this.store.getGroupMessageReadMemberList({ messageID, filter: 0, cursor, count: 100 });
  }
  count(messageID) { return this.store.getMessageReadReceiptList({ messageIDs: [messageID] }).messageList[0].readReceiptInfo.readCount; }
  close() { this.store.close(); }
}

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }
const now = () => process.hrtime.bigint();
const ms = (t) => Number(now() - t) / 1e6;

/** One run of the workload on a fresh store: ms for the batch and the listing, µs a count and a single save. */
function run(side, file, level) {
  const s = side === 'addon' ? new Addon(file, level === 'FULL' ? 'full' : 'normal') : new Handwritten(file, level);
  const notes = [];
  for (let m = 0; m < MESSAGES; m++) notes.push({ messageID: `m${m}`, readerIDs: readers });
  let t = now();
  s.save(notes);
  const batch = ms(t);

  let listed = 0;
  t = now();
  if (side === 'addon') {
    let cursor = '';
    for (;;) {
      const page = s.readPage('m0', cursor);
      listed += page.readUserIDList.length;
      if (page.isCompleted) break;
      cursor = page.cursor;
    }
  } else {
    let after = '';
    for (;;) {
      const page = s.readPage('m0', after);
      listed += page.length;
      if (page.length < 100) break;
      after = page[page.length - 1];
    }
  }
  const list = ms(t);
  if (listed !== READERS) throw new Error(`${side} listed ${listed} readers, not ${READERS}`);

  t = now();
  for (let i = 0; i < COUNTS; i++) if (s.count('m0') !== READERS) throw new Error(`${side}: wrong count`);
  const count = (ms(t) * 1000) / COUNTS;

  t = now();
  for (let i = 0; i < SINGLES; i++) s.saveOne('m10', readers[i % READERS]);
  const single = (ms(t) * 1000) / SINGLES;
  s.close();
  return { batch, list, count, single };
}

const rows = [['batch of 100,000 receipts (one call)', 'batch', 'ms'], ['listing 10,000 readers, pages of 100', 'list', 'ms'],
  ['read count', 'count', 'µs'], ['one receipt saved a call', 'single', 'µs']];
console.log(`${ROUNDS} rounds, sides alternating, medians; Node ${process.version}, better-sqlite3 ${require('better-sqlite3/package.json').version} (SQLite ${new Database(':memory:').prepare('select sqlite_version()').pluck().get()})`);
console.log('| call | synchronous | addon | hand-written | addon / hand-written | addon at least as fast? |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const level of ['NORMAL', 'FULL']) {
  const out = { addon: [], hand: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of r % 2 === 0 ? ['addon', 'hand'] : ['hand', 'addon']) {
      out[side].push(run(side, path.join(dir, `${side}-${level}-${r}.db`), level));
    }
  }
  for (const [label, key, unit] of rows) {
    const a = median(out.addon.map((x) => x[key]));
    const h = median(out.hand.map((x) => x[key]));
    console.log(`| ${label} | ${level} | ${a.toFixed(1)} ${unit} | ${h.toFixed(1)} ${unit} | ${(a / h).toFixed(2)}× | ${a <= h ? 'yes' : 'no'} |`);
  }
}
fs.rmSync(dir, { recursive: true, force: true });
