'use strict';
// The holder process of test/one_file_many_stores.test.js: several stores on
// one file in one process. `node one_file_holder.js FILE`.
//
// The main thread opens a store on FILE and saves now and then; two worker
// threads then each open their own store on the same file and save in a loop,
// and now and then try to open it as another user (which must fail with
// OWNER_MISMATCH). Every save is printed as `ack ID` on stdout once the call
// has returned (stdout is a pipe, written synchronously on POSIX), so a line
// the test has read is an acknowledged write. A failure is printed as
// `fail ...` and the process exits 1. It runs until it is killed, or until
// its stdin closes (the test is gone).

const { Worker, isMainThread, workerData, parentPort } = require('worker_threads');
const path = require('path');
const { ReceiptStore } = require(path.resolve(__dirname, '..'));

const WORKERS = 2;
/** Saves per worker before it stops (the test kills the holder long before). */
const MAX_SAVES = 200000;
/** One in this many iterations, a worker tries to open the file as mallory. */
const MALLORY_EVERY = 7;

/** A C2C message from bob: the conversation every role writes to. */
function message(ID, sequence) {
  return { ID, conversationType: 'C2C', from: 'bob', to: 'alice', time: 1000 + (sequence % 1000), sequence, status: 'success' };
}

function describe(e) {
  return `${e && e.codeName ? e.codeName + ': ' : ''}${e && e.message ? e.message : e}`;
}

function workerMain() {
  const { file, k } = workerData;
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  const s = new ReceiptStore(file, 'alice');
  for (let i = 0; i < MAX_SAVES; i++) {
    if (i % MALLORY_EVERY === MALLORY_EVERY - 1) {
      let other = null;
      try {
        other = new ReceiptStore(file, 'mallory');
      } catch (e) {
        if (e.codeName !== 'OWNER_MISMATCH') {
          parentPort.postMessage({ fail: `worker ${k}: mallory's open failed with ${describe(e)}, not OWNER_MISMATCH` });
          return;
        }
      }
      if (other !== null) {
        other.close();
        parentPort.postMessage({ fail: `worker ${k}: the store opened for mallory` });
        return;
      }
      parentPort.postMessage({ refused: k });
    }
    const ID = `w${k}-${i}`;
    try {
      const r = s.saveMessages({ messages: [message(ID, (k + 1) * 1000000 + i)] });
      if (r.saved !== 1) throw new Error(`saved ${JSON.stringify(r)}`);
    } catch (e) {
      parentPort.postMessage({ fail: `worker ${k}: saving ${ID}: ${describe(e)}` });
      return;
    }
    parentPort.postMessage({ ack: ID });
    Atomics.wait(sleep, 0, 0, 2);
  }
  s.close();
}

function holderMain() {
  const file = process.argv[2];
  const out = (line) => process.stdout.write(line + '\n');
  const fail = (why) => { out(`fail ${why}`); process.exit(1); };
  // The first store holds the file (and its WAL) open before the others open.
  const s = new ReceiptStore(file, 'alice');
  let n = 0;
  const saveMain = () => {
    const ID = `m-${n}`;
    try {
      s.saveMessages({ messages: [message(ID, 3000000 + n)] });
    } catch (e) {
      fail(`main: saving ${ID}: ${describe(e)}`);
    }
    n += 1;
    out(`ack ${ID}`);
  };
  saveMain();
  for (let k = 0; k < WORKERS; k++) {
    const w = new Worker(__filename, { workerData: { file, k } });
    w.on('message', (m) => {
      if (m.ack) out(`ack ${m.ack}`);
      else if (m.refused !== undefined) out(`refused ${m.refused}`);
      else if (m.fail) fail(m.fail);
    });
    w.on('error', (e) => fail(`worker ${k} threw: ${describe(e)}`));
  }
  setInterval(saveMain, 5);
  // The test died: do not outlive it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  out('ready');
}

if (isMainThread) holderMain();
else workerMain();
